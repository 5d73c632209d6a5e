"""Assembles tool calls from OpenAI-style streamed deltas (llama.cpp in-process, or a remote server),
shared by the backends: argument pieces are joined per call index, and each call is handed on whole,
with its id; calls written as plain text are recovered (tools/recover.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rejoinder.stages.llm import OpenAITool, ToolCall, ToolChoice
from rejoinder.tools.recover import TextToolCalls, new_call_id


def tools_request(tools: Sequence[OpenAITool], tool_choice: ToolChoice) -> dict[str, Any]:
    """The request fields for `tools` and `tool_choice`; a named choice offers only that function."""
    if not tools or tool_choice == "none":
        return {}
    if tool_choice in ("auto", "required"):
        return {"tools": list(tools), "tool_choice": tool_choice, "parallel_tool_calls": True}
    named = [t for t in tools if t.get("function", {}).get("name") == tool_choice]
    if not named:
        raise ValueError(f"tool_choice names {tool_choice!r}, which is not among the tools")
    return {"tools": named, "tool_choice": "required", "parallel_tool_calls": False}


@dataclass
class _Partial:
    call_id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class ToolCallAssembler:
    """Feed each choice's `delta` (a dict); get text pieces and complete ToolCalls, in order."""

    def __init__(self) -> None:
        self._partials: dict[int, _Partial] = {}
        self._emitted: set[int] = set()
        self._text = TextToolCalls()
        """Calls a model wrote as text are recovered, whether tools were offered or not: a call is
        never spoken."""

    def feed_delta(self, delta: dict[str, Any]) -> list[str | ToolCall]:
        out: list[str | ToolCall] = []
        content = delta.get("content")
        if content:
            out.extend(self._text.feed(content))
        for raw in delta.get("tool_calls") or []:
            index = int(raw.get("index") or 0)
            if index in self._emitted:
                continue
            if index not in self._partials:
                out.extend(self._complete(below=index))  # a new index: the earlier calls are whole
                self._partials[index] = _Partial()
            partial = self._partials[index]
            function = raw.get("function") or {}
            partial.call_id = partial.call_id or str(raw.get("id") or "")
            partial.name += str(function.get("name") or "")
            partial.arguments.append(str(function.get("arguments") or ""))
        return out

    def _complete(self, below: int | None = None) -> list[str | ToolCall]:
        out: list[str | ToolCall] = []
        for i in sorted(self._partials):
            if below is not None and i >= below:
                continue
            p = self._partials.pop(i)
            self._emitted.add(i)
            if p.name:
                out.append(ToolCall(p.call_id or new_call_id(), p.name, "".join(p.arguments)))
        return out

    def finish(self) -> list[str | ToolCall]:
        out: list[str | ToolCall] = [*self._text.finish()]
        out.extend(self._complete())
        return out
