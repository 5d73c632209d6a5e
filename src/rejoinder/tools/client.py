"""Tool definitions sent by a client (Realtime `session.update`, chat `tools`), checked before use so
a bad one gets an error naming the field instead of failing later inside the model."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import jsonschema
from referencing import Registry
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from rejoinder.errors import BadInputError
from rejoinder.stages.llm import OpenAITool, ToolChoice

NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_TOOLS = 128
MAX_DESCRIPTION_CHARS = 1024


class FieldError(BadInputError):
    """A bad field in a client's tool definitions; `param` is its path (for protocol error events)."""

    def __init__(self, param: str, problem: str) -> None:
        super().__init__(f"{param}: {problem}")
        self.param = param


@dataclass(frozen=True)
class ClientTool:
    """A function the client runs itself: the model may call it; its result comes back from the client."""

    name: str
    description: str
    parameters: dict[str, Any]

    def openai(self) -> OpenAITool:
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }


def _check_parameters(parameters: Any, where: str) -> dict[str, Any]:
    if not isinstance(parameters, dict):
        raise FieldError(where, "must be a JSON schema object")
    _check_for_grammar(parameters, where)  # first: it names the field of a pattern re cannot take
    try:
        jsonschema.Draft202012Validator.check_schema(parameters)
    except jsonschema.SchemaError as exc:
        path = "/".join(str(p) for p in exc.absolute_path)
        raise FieldError(
            where + ("/" + path if path else ""), f"not a valid JSON schema: {exc.message}"
        ) from None
    except (ValueError, OverflowError, RecursionError):  # Python's re compiling a pattern
        raise FieldError(where, "not a valid JSON schema: a pattern Python cannot compile") from None
    if parameters.get("type", "object") != "object":
        raise FieldError(f"{where}.type", "must be 'object' (a function takes named arguments)")
    return parameters


MAX_REPEAT = 1000
"""Largest count a schema may ask for: llama.cpp turns minLength 100000 into a grammar rule it
refuses to parse (found by probing: every later tool turn failed)."""
_COUNTS = ("minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties")
_PATTERN_COUNT = re.compile(r"\{(\d*)(?:,(\d*))?\}")


def _check_for_grammar(schema: dict[str, Any], where: str) -> None:
    """What a valid schema may still hold that llama.cpp cannot compile into a grammar: a `$ref`
    that points nowhere in the schema, or a count too large to spell out."""
    resolver = Registry().with_resource("urn:tool", DRAFT202012.create_resource(schema)).resolver("urn:tool")
    stack: list[tuple[Any, str]] = [(schema, where)]
    while stack:
        node, path = stack.pop()
        if isinstance(node, list):
            stack += [(item, f"{path}/{i}") for i, item in enumerate(node)]
            continue
        if not isinstance(node, dict):
            continue
        ref = node.get("$ref")
        if isinstance(ref, str):
            try:
                resolver.lookup(ref)
            except Unresolvable:
                raise FieldError(f"{path}/$ref", f"{ref!r} points to nothing in this schema") from None
        for key in _COUNTS:
            if isinstance(node.get(key), int) and node[key] > MAX_REPEAT:
                raise FieldError(f"{path}/{key}", f"at most {MAX_REPEAT}")
        pattern = node.get("pattern")
        if isinstance(pattern, str) and any(
            len(n) > 6 or int(n) > MAX_REPEAT  # int() of 5,000 digits would raise
            for m in _PATTERN_COUNT.finditer(pattern)
            for n in m.groups()
            if n
        ):
            raise FieldError(f"{path}/pattern", f"repetition counts of at most {MAX_REPEAT}")
        stack += [(value, f"{path}/{key}") for key, value in node.items() if isinstance(value, dict | list)]


def parse_tool(raw: Any, where: str) -> ClientTool:
    """One definition, in the Realtime shape {type, name, description, parameters} or the chat shape
    {type, function: {name, description, parameters}}."""
    if not isinstance(raw, dict):
        raise FieldError(where, "must be an object")
    if raw.get("type") != "function":
        raise FieldError(f"{where}.type", "must be 'function'")
    body, prefix = (
        (raw["function"], f"{where}.function") if isinstance(raw.get("function"), dict) else (raw, where)
    )
    name = body.get("name")
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise FieldError(f"{prefix}.name", "must be 1-64 letters, digits, '_' or '-'")
    description = body.get("description", "")
    if not isinstance(description, str) or len(description) > MAX_DESCRIPTION_CHARS:
        raise FieldError(
            f"{prefix}.description", f"must be a string of at most {MAX_DESCRIPTION_CHARS} characters"
        )
    parameters = body.get("parameters", {"type": "object", "properties": {}})
    return ClientTool(name, description, _check_parameters(parameters, f"{prefix}.parameters"))


def parse_tools(raw: Any, where: str = "tools") -> list[ClientTool]:
    if not isinstance(raw, list):
        raise FieldError(where, "must be an array")
    if len(raw) > MAX_TOOLS:
        raise FieldError(where, f"at most {MAX_TOOLS} tools")
    tools = [parse_tool(item, f"{where}[{i}]") for i, item in enumerate(raw)]
    seen: set[str] = set()
    for i, tool in enumerate(tools):
        if tool.name in seen:
            raise FieldError(f"{where}[{i}].name", f"{tool.name!r} is defined twice")
        seen.add(tool.name)
    return tools


def parse_tool_choice(raw: Any, names: list[str], where: str = "tool_choice") -> ToolChoice:
    """ "auto" | "none" | "required" | a function name, from a string or {"type": "function", "name"}
    (Realtime) or {"type": "function", "function": {"name"}} (chat)."""
    if raw is None:
        return "auto"
    if isinstance(raw, str):
        if raw in ("auto", "none", "required"):
            return raw
        raise FieldError(where, "must be 'auto', 'none', 'required' or a function")
    if isinstance(raw, dict) and raw.get("type") == "function":
        inner = raw.get("function")
        name = inner.get("name") if isinstance(inner, dict) else raw.get("name")
        if not isinstance(name, str) or name not in names:
            raise FieldError(
                f"{where}.name", f"{name!r} is not one of the tools ({', '.join(names) or 'none'})"
            )
        return name
    raise FieldError(where, "must be 'auto', 'none', 'required' or {'type': 'function', 'name': ...}")
