"""The tools one session offers: lookup by name, the OpenAI `tools` list, and running one call."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from rejoinder.errors import BadInputError
from rejoinder.stages.llm import OpenAITool, ToolCall
from rejoinder.tools.tool import DEFAULT_TIMEOUT_S, Tool, ToolResult


class ToolSet:
    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for tool in tools:
            self.add(tool)

    @classmethod
    def from_functions(cls, *functions: Callable[..., Any], timeout_s: float = DEFAULT_TIMEOUT_S) -> ToolSet:
        return cls(Tool.from_function(fn, timeout_s=timeout_s) for fn in functions)

    @classmethod
    def builtins(cls, timeout_s: float = DEFAULT_TIMEOUT_S) -> ToolSet:
        from rejoinder.tools.builtins import BUILTINS

        return cls.from_functions(*BUILTINS.values(), timeout_s=timeout_s)

    @classmethod
    def direct_builtins(cls) -> ToolSet:
        """The built-ins that answer requests directly (tools/direct.py): the clock, the calculator
        and the reckoning tools (weekdays, clock times, comparisons)."""
        from rejoinder.tools.builtins import calculate, current_datetime
        from rejoinder.tools.reckoning import clock_after, compare_amounts, weekday_after

        return cls.from_functions(current_datetime, calculate, weekday_after, clock_after, compare_amounts)

    def add(self, tool: Tool) -> None:
        if tool.name in self._tools:
            raise BadInputError(f"two tools are named {tool.name!r}")
        self._tools[tool.name] = tool

    def merged(self, other: ToolSet) -> ToolSet:
        """Both sets; a name in both is an error rather than a silent override."""
        return ToolSet([*self, *other])

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    @property
    def names(self) -> list[str]:
        return list(self._tools)

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def openai_tools(self) -> list[OpenAITool]:
        return [tool.openai() for tool in self]

    async def run(self, call: ToolCall) -> ToolResult:
        tool = self._tools.get(call.name)
        if tool is None:
            known = ", ".join(self._tools) or "none"
            return ToolResult.failure(
                call, "unknown_tool", f"there is no tool named {call.name!r} (tools: {known})"
            )
        return await tool.run(call)
