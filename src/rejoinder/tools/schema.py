"""JSON schemas from plain typed Python functions: the signature gives the parameters, the type hints
their types, the docstring the descriptions. Only types a small model can fill reliably are allowed."""

from __future__ import annotations

import enum
import inspect
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Union

import docstring_parser

from rejoinder.errors import BadInputError

JSONSchema = dict[str, Any]
SUPPORTED = "str, int, float, bool, Literal[...], an Enum, Optional[...] or list[...] of these"
_SIMPLE: dict[type, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}


class ToolDefinitionError(BadInputError):
    """A function cannot become a tool (unsupported annotation, *args, ...)."""


@dataclass(frozen=True)
class FunctionSchema:
    name: str
    description: str
    parameters: JSONSchema
    converters: dict[str, Callable[[Any], Any]]
    """Per parameter, turns the validated JSON value into what the function expects (Enum members)."""


def _literal_schema(values: tuple[Any, ...]) -> JSONSchema:
    kinds = {type(v) for v in values}
    schema: JSONSchema = {"enum": [*values]}
    if len(kinds) == 1 and next(iter(kinds)) in _SIMPLE:
        schema = {"type": _SIMPLE[next(iter(kinds))], **schema}
    return schema


def type_schema(hint: Any, where: str) -> tuple[JSONSchema, Callable[[Any], Any] | None, bool]:
    """(schema, converter, nullable) for one annotation; raises ToolDefinitionError naming `where`."""
    origin = typing.get_origin(hint)
    if origin is typing.Annotated:
        return type_schema(typing.get_args(hint)[0], where)
    if hint in _SIMPLE:
        return {"type": _SIMPLE[hint]}, None, False
    if origin is Literal:
        return _literal_schema(typing.get_args(hint)), None, False
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        values = tuple(m.value for m in hint)
        if not all(type(v) in _SIMPLE for v in values):
            raise ToolDefinitionError(f"{where}: Enum {hint.__name__} values must be str, int, float or bool")
        return _literal_schema(values), hint, False
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(hint)) == 2:
            schema, convert, _ = type_schema(args[0], where)
            return schema, convert, True
        raise ToolDefinitionError(
            f"{where}: unions other than Optional[X] are not supported; use {SUPPORTED}"
        )
    if hint is list or origin is list:
        item_hints = typing.get_args(hint)
        if not item_hints:
            return {"type": "array"}, None, False
        item, convert, nullable = type_schema(item_hints[0], where)
        if nullable:
            raise ToolDefinitionError(f"{where}: list items cannot be Optional")
        if convert is None:
            return {"type": "array", "items": item}, None, False
        item_convert = convert
        return {"type": "array", "items": item}, (lambda v: [item_convert(x) for x in v]), False
    shown = getattr(hint, "__name__", None) or repr(hint)
    raise ToolDefinitionError(f"{where}: unsupported annotation {shown}; use {SUPPORTED}")


def function_schema(fn: Callable[..., Any], name: str | None = None) -> FunctionSchema:
    """The tool schema of `fn`; every parameter needs a supported annotation."""
    tool_name = name or getattr(fn, "__name__", "")
    if not tool_name or tool_name == "<lambda>":
        raise ToolDefinitionError("a tool needs a name: use a def function, not a lambda")
    try:
        signature = inspect.signature(fn)
        hints = typing.get_type_hints(fn, include_extras=True)
    except (TypeError, ValueError, NameError) as exc:
        raise ToolDefinitionError(f"tool {tool_name!r}: cannot read its signature ({exc})") from None
    doc = docstring_parser.parse(inspect.getdoc(fn) or "")
    param_docs = {p.arg_name: (p.description or "").strip() for p in doc.params}
    description = " ".join(
        part.strip() for part in (doc.short_description, doc.long_description) if part and part.strip()
    )
    properties: dict[str, JSONSchema] = {}
    required: list[str] = []
    converters: dict[str, Callable[[Any], Any]] = {}
    for pname, param in signature.parameters.items():
        where = f"tool {tool_name!r}, parameter {pname!r}"
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise ToolDefinitionError(f"{where}: *args and **kwargs cannot be described to a model")
        if param.kind is param.POSITIONAL_ONLY:
            raise ToolDefinitionError(f"{where}: positional-only parameters are not supported")
        if pname not in hints:
            raise ToolDefinitionError(f"{where}: needs a type annotation ({SUPPORTED})")
        schema, convert, nullable = type_schema(hints[pname], where)
        if nullable and "type" in schema:
            schema = {**schema, "type": [schema["type"], "null"]}
            if "enum" in schema:
                schema["enum"] = [*schema["enum"], None]
        if param_docs.get(pname):
            schema = {**schema, "description": param_docs[pname]}
        if param.default is param.empty:
            required.append(pname)
        else:
            default = param.default.value if isinstance(param.default, enum.Enum) else param.default
            if default is not None or nullable:
                schema = {**schema, "default": default}
        properties[pname] = schema
        if convert is not None:
            converters[pname] = convert
    # Kept minimal: small models copy schema keywords ("required": [], "additionalProperties") into
    # their arguments, so empty `required` is left out and unknown arguments are dropped at validation.
    parameters: JSONSchema = {"type": "object", "properties": properties}
    if required:
        parameters["required"] = required
    return FunctionSchema(tool_name, description, parameters, converters)
