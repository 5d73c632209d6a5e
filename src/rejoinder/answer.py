"""One reply being written, and one response's own settings: what a turn hands the responder."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from rejoinder.stages.llm import TokenUsage
from rejoinder.stages.router import RouteDecision
from rejoinder.timeline import Timeline


@dataclass(frozen=True)
class ResponseOptions:
    """One response's own settings over the conversation's (a Realtime response.create's)."""

    instructions: str | None = None
    max_tokens: int | None = None


@dataclass
class Answer:
    """One reply being written: when its steps happened, who wrote it, how its text ended."""

    timeline: Timeline = field(default_factory=Timeline)
    route: RouteDecision | None = None
    unspoken_tail: str | None = None
    """An unfinished phrase cut off by the token limit: not spoken."""
    turn: int | None = None
    speculative: bool = False
    """Written in the end-of-turn silence: no tool may run before the turn is committed."""
    resumed: bool = False
    """No new user message: the answer goes on from the history (after a client's tool outputs)."""
    options: ResponseOptions = field(default_factory=ResponseOptions)
    tool_calls: list[Any] = field(default_factory=list)
    """The ToolRecords of a tool turn."""
    ends_conversation: bool = False
    usage: TokenUsage = field(default_factory=TokenUsage)
    """What its model calls read and wrote (the backends that count add to it)."""
    _go: asyncio.Event = field(default_factory=asyncio.Event)

    def begin(self, turn: int) -> None:
        """The turn `turn` takes this answer: tools may run now."""
        self.turn = turn
        self._go.set()

    async def committed(self) -> None:
        if self.speculative:
            await self._go.wait()
