"""A tool: a typed function with its JSON schema, argument validation before it runs, and a timed run
that always ends in a typed result (never an exception into the session)."""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

import jsonschema

from rejoinder.stages.llm import Message, OpenAITool, ToolCall
from rejoinder.tools.schema import FunctionSchema, JSONSchema, function_schema

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 5.0
MAX_OUTPUT_CHARS = 4000
"""A tool's output goes into the prompt: a longer one is cut, so one tool cannot flood the context."""

_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="rejoinder-tool")
"""Sync tools run here, not on the default executor: a tool that hangs cannot starve the event loop's."""


ToolStatus = Literal["ok", "invalid_arguments", "unknown_tool", "failed", "timed_out", "refused", "duplicate"]


class ToolError(Exception):
    """Raise from a tool for an expected failure; its message is given to the model as the error."""


@dataclass(frozen=True)
class EndConversation:
    """Return this from a tool to ask the session to end the conversation after its goodbye."""

    reason: str = ""


@dataclass(frozen=True)
class ToolResult:
    call_id: str
    name: str
    ok: bool
    output: str
    """What the model reads: the result as text, or the error as JSON {"error": ...}."""
    error: str | None = None
    status: ToolStatus = "ok"
    """"duplicate": the result of an identical earlier call of the request, not a second run."""
    elapsed_s: float = 0.0
    ends_conversation: bool = False

    def as_message(self) -> Message:
        return {"role": "tool", "tool_call_id": self.call_id, "content": self.output}

    @classmethod
    def failure(cls, call: ToolCall, status: ToolStatus, error: str, elapsed_s: float = 0.0) -> ToolResult:
        return cls(call.call_id, call.name, False, json.dumps({"error": error}), error, status, elapsed_s)


class ArgumentError(ValueError):
    pass


def _format_output(value: Any) -> str:
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            text = str(value)
    return text if len(text) <= MAX_OUTPUT_CHARS else text[:MAX_OUTPUT_CHARS] + "…"


@dataclass
class Tool:
    """A function the model may call. Build it with `Tool.from_function`."""

    name: str
    description: str
    parameters: JSONSchema
    fn: Callable[..., Any]
    is_async: bool
    timeout_s: float = DEFAULT_TIMEOUT_S
    converters: dict[str, Callable[[Any], Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._validator = jsonschema.Draft202012Validator(self.parameters)

    @classmethod
    def from_function(
        cls, fn: Callable[..., Any], name: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S
    ) -> Tool:
        schema: FunctionSchema = function_schema(fn, name)
        return cls(
            schema.name,
            schema.description,
            schema.parameters,
            fn,
            inspect.iscoroutinefunction(fn),
            timeout_s,
            schema.converters,
        )

    def openai(self) -> OpenAITool:
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }

    def validate(self, arguments: str) -> dict[str, Any]:
        """The call's arguments as keyword arguments; ArgumentError says what is wrong, in one line."""
        try:
            value = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError as exc:
            raise ArgumentError(f"arguments are not valid JSON ({exc.msg} at character {exc.pos})") from None
        if not isinstance(value, dict):
            raise ArgumentError("arguments must be a JSON object")
        if self.parameters.get("additionalProperties") is not False:
            known = self.parameters.get("properties", {})
            value = {k: v for k, v in value.items() if k in known}  # e.g. a schema keyword the model copied
        error = jsonschema.exceptions.best_match(self._validator.iter_errors(value))
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path)
            raise ArgumentError(f"{where + ': ' if where else ''}{error.message}")
        return {
            k: self.converters[k](v) if k in self.converters and v is not None else v
            for k, v in value.items()
        }

    async def run(self, call: ToolCall) -> ToolResult:
        """Validate, run with the timeout, and report; exceptions become failed results."""
        start = time.perf_counter()
        try:
            kwargs = self.validate(call.arguments)
        except ArgumentError as exc:
            return ToolResult.failure(call, "invalid_arguments", f"{self.name}: {exc}")
        try:
            if self.is_async:
                value = await asyncio.wait_for(self.fn(**kwargs), self.timeout_s)
            else:
                loop = asyncio.get_running_loop()
                job = loop.run_in_executor(_POOL, functools.partial(self.fn, **kwargs))
                value = await asyncio.wait_for(
                    job, self.timeout_s
                )  # the thread runs on; its result is dropped
        except asyncio.TimeoutError:
            elapsed = time.perf_counter() - start
            return ToolResult.failure(
                call, "timed_out", f"{self.name} took longer than {self.timeout_s:g} s", elapsed
            )
        except ToolError as exc:
            return ToolResult.failure(call, "failed", f"{self.name}: {exc}", time.perf_counter() - start)
        except Exception as exc:
            log.warning("tool %s raised", self.name, exc_info=True)
            detail = f"{type(exc).__name__}: {exc}"
            return ToolResult.failure(
                call, "failed", f"{self.name} failed ({detail})", time.perf_counter() - start
            )
        elapsed = time.perf_counter() - start
        if isinstance(value, EndConversation):
            output = json.dumps({"ended": True, **({"reason": value.reason} if value.reason else {})})
            return ToolResult(
                call.call_id, call.name, True, output, None, "ok", elapsed, ends_conversation=True
            )
        return ToolResult(call.call_id, call.name, True, _format_output(value), None, "ok", elapsed)
