"""Turns answered with tools, for the responder: which turns get the tools and which tier answers
them, and the reply itself: the model's text streamed into the clause chunker, the calls run by a
ToolRunner (never while the turn is still a speculation), one filler if a tool is slow, the calls
and results reported as session events, and the history kept in order.

History: the user's message enters the history when the first tool runs (the tool messages must
follow it), then each round's assistant calls and tool results; the spoken reply is added by the
session once it knows what was heard (`Responder.remember`). A barge-in cancels the answer, not a
tool already running: its result still lands in the history where the call was made."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rejoinder.chunking import ClauseChunker
from rejoinder.config import ChunkerConfig
from rejoinder.events import SessionEvent, ToolCalled, ToolReturned
from rejoinder.stages.llm import (
    GenerationParams,
    Message,
    OpenAITool,
    ToolCall,
    ToolCallingLLM,
    ToolChoice,
    supports_tools,
)
from rejoinder.streams import drain, fill
from rejoinder.tools.client import ClientTool
from rejoinder.tools.direct import DirectPlan, plan_direct
from rejoinder.tools.intent import ToolIntent, tool_intent
from rejoinder.tools.loop import ToolEvent, apology, reply_with_tools
from rejoinder.tools.realtime_items import PendingCalls
from rejoinder.tools.runner import FILLER_TEXT, ToolRecord, ToolRound, ToolRunner
from rejoinder.tools.toolset import ToolSet

if TYPE_CHECKING:
    from rejoinder.answer import Answer
    from rejoinder.engine import Tier

Notify = Callable[[SessionEvent], Awaitable[None]]
_FILLER = object()


@dataclass
class ToolState:
    """One conversation's tools: the process's in-process tools, the client's (Realtime
    session.update), the tool choice, and client calls still waiting for their outputs."""

    tools: ToolSet = field(default_factory=ToolSet)
    client: list[ClientTool] = field(default_factory=list)
    choice: ToolChoice = "auto"
    pending: PendingCalls = field(default_factory=PendingCalls)
    direct: ToolSet = field(default_factory=ToolSet)
    """Tools for direct answers only (clock, calculator, reckoning; config `tools.direct`): never
    offered to the model, so turns the words do not decide are answered as without tools."""

    @property
    def available(self) -> bool:
        return self.choice != "none" and bool(len(self.tools) or self.client)

    def client_openai(self) -> list[OpenAITool]:
        return [t.openai() for t in self.client]

    def intent(self, text: str) -> ToolIntent | None:
        """Whether this turn is offered the tools: a forced choice always, else the cheap rule."""
        if not self.available:
            return None
        if self.choice != "auto":
            return ToolIntent(f"tool_choice:{self.choice}")
        described = [(t.name, t.description) for t in self.tools]
        return tool_intent(text, described + [(t.name, t.description) for t in self.client])


def direct_plan(state: ToolState, text: str) -> DirectPlan | None:
    """A call the request's words decide alone (tools/direct.py), when the tool choice is the
    model's to make: measured, Qwen2.5-Coder-1.5B called the clock for the first "What time is
    it?" of a conversation only, then repeated that time or made one up."""
    if state.choice != "auto":
        return None  # the client chose: "none" means no call at all, a named tool its own turn
    return plan_direct(text, frozenset([*state.tools.names, *state.direct.names]))


def tool_tier(tiers: Sequence[Tier], routed: int) -> int | None:
    """The tier for a tool turn: the routed one if it can call tools, else the strongest that can
    (measured: Qwen2.5-Coder-1.5B calls tools more precisely than the 0.5B; SmolLM2 cannot)."""
    if supports_tools(tiers[routed].llm):
        return routed
    capable = [i for i, tier in enumerate(tiers) if supports_tools(tier.llm)]
    return capable[-1] if capable else None


@dataclass
class _GatedRunner(ToolRunner):
    """Runs no tool until the turn is committed (a speculation may be dropped), and opens the user's
    message in the history just before its first tool runs."""

    gate: Callable[[], Awaitable[None]] | None = None
    on_start: Callable[[], None] | None = None

    async def run(
        self, calls: list[ToolCall], content: str = "", client: frozenset[str] = frozenset()
    ) -> ToolRound:
        if self.gate is not None:
            await self.gate()
        if self.on_start is not None:
            self.on_start()
            self.on_start = None
        return await super().run(calls, content, client)


@dataclass(frozen=True)
class ToolTurn:
    """What one turn's tool work needs besides the model: the conversation's tools, the history the
    calls and results go into (the user's message opened just before the first call), the turn's
    answer, where calls are reported, and how replies are cut into clauses."""

    state: ToolState
    history: list[Message]
    open_user: Callable[[], None]
    answer: Answer
    notify: Notify
    chunker_config: ChunkerConfig


async def tool_clauses(
    llm: ToolCallingLLM, prompt: list[Message], params: GenerationParams, turn: ToolTurn
) -> AsyncGenerator[str, None]:
    """Speakable clauses of a tool turn; `answer.tool_calls` and `answer.ends_conversation` are
    filled in as the calls run."""
    state, answer, notify = turn.state, turn.answer, turn.notify
    tl = answer.timeline
    queue: asyncio.Queue[object] = asyncio.Queue()
    runner = _GatedRunner(
        state.tools,
        turn.history,
        on_filler=lambda: queue.put_nowait(_FILLER),
        gate=answer.committed,
        on_start=turn.open_user,
    )
    answer.tool_calls = runner.records
    client = state.client_openai()
    client_names = frozenset(t.name for t in state.client)
    tl.mark("llm_start")
    source = reply_with_tools(llm, prompt, params, runner, state.choice, client_tools=client)
    producer = asyncio.create_task(fill(source, queue))
    chunker = ClauseChunker(turn.chunker_config)
    shown: set[str] = set()
    item: object
    try:
        async for item in drain(queue):
            if item is _FILLER:
                for clause in chunker.flush():
                    yield clause
                yield FILLER_TEXT
            elif isinstance(item, ToolEvent):
                await answer.committed()  # events name the turn, known once it is committed
                await _report(item, answer, client_names, shown, notify)
            elif isinstance(item, str):
                tl.mark("first_token")
                for clause in chunker.push(item):
                    yield clause
    finally:
        producer.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await producer
        answer.ends_conversation = runner.end_requested
    tl.mark("llm_done")
    for clause in chunker.flush():
        yield clause


async def direct_clauses(plan: DirectPlan, turn: ToolTurn) -> AsyncGenerator[str, None]:
    """The reply to a request answered from one tool's result without the model: the call runs
    once the turn is committed, is reported and kept in the history like a model's call, and the
    plan's sentence is the whole reply."""
    state, answer, notify = turn.state, turn.answer, turn.notify
    tool = state.tools.get(plan.call.name) or state.direct.get(plan.call.name)
    runner = _GatedRunner(ToolSet([tool] if tool else []), turn.history, on_start=turn.open_user)
    answer.tool_calls = runner.records
    answer.timeline.mark("llm_start")
    shown: set[str] = set()
    await answer.committed()  # no tool runs for a speculation; events name the committed turn
    await _report(ToolEvent("calls", calls=(plan.call,)), answer, frozenset(), shown, notify)
    try:
        done = await runner.run([plan.call])
    except asyncio.CancelledError:  # barge-in: the result stays in the history, marked
        runner.mark_interrupted()
        raise
    await _report(ToolEvent("results", round=done), answer, frozenset(), shown, notify)
    said = plan.say(done.results[0]) if done.results else None
    answer.timeline.mark("first_token")
    answer.timeline.mark("llm_done")
    answer.ends_conversation = runner.end_requested
    chunker = ClauseChunker(turn.chunker_config)  # spoken like a model's reply: "-2" as "minus 2"
    for clause in [*chunker.push(said if said is not None else apology(done)), *chunker.flush()]:
        yield clause


async def _report(
    event: ToolEvent, answer: Answer, client: frozenset[str], shown: set[str], notify: Notify
) -> None:
    """Calls as the model makes them (in-process ones at once, client ones once known to be new),
    then each in-process result."""
    turn = answer.turn if answer.turn is not None else -1
    if event.kind == "calls":
        for call in event.calls:
            if call.name not in client and call.call_id not in shown:
                shown.add(call.call_id)
                await notify(ToolCalled(turn, call, client=False))
    elif event.kind == "results" and event.round is not None:
        for call in event.round.for_client:
            if call.call_id not in shown:
                shown.add(call.call_id)
                await notify(ToolCalled(turn, call, client=True))
        for result in event.round.results:
            await notify(ToolReturned(turn, result))


def records_summary(records: Sequence[ToolRecord]) -> list[dict[str, object]]:
    """The turn report's view of its tool calls."""
    out: list[dict[str, object]] = []
    for r in records:
        entry: dict[str, object] = {"name": r.call.name, "arguments": r.call.arguments, "client": r.client}
        if r.result is not None:
            entry.update(
                status=r.result.status, output=r.result.output, ms=round(r.result.elapsed_s * 1000, 1)
            )
        if r.interrupted:
            entry["interrupted"] = True
        out.append(entry)
    return out
