"""Runs the tool calls of one user request for the session, without the failures voice agents are
known for: a call is never run twice (same call id, or same name and arguments, within the request);
parallel calls run together or are refused clearly; a slow tool triggers one filler; and a barge-in
cancels the answer, not a tool already running: its result still lands in the history, marked."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from rejoinder.stages.llm import Message, ToolCall
from rejoinder.tools.tool import ToolResult
from rejoinder.tools.toolset import ToolSet

log = logging.getLogger(__name__)

FILLER_AFTER_S = 0.7
FILLER_TEXT = "One moment."
"""What the responder says when `on_filler` fires (a slow tool); said once per request."""
MAX_CALLS_PER_REQUEST = 8


@dataclass
class ToolRecord:
    """One call the model made in this request, and what came of it."""

    call: ToolCall
    result: ToolResult | None = None
    interrupted: bool = False
    """A barge-in cancelled the answer this call was for: the user never heard its result spoken."""
    client: bool = False
    """A client tool: the client runs it and sends the output (Realtime function_call_output)."""


@dataclass
class ToolRound:
    """The calls of one model response and their results, as the history needs them."""

    content: str
    calls: list[ToolCall]
    """The in-process calls of the response (each with one result below)."""
    results: list[ToolResult]
    for_client: list[ToolCall] = field(default_factory=list)
    """Calls the client runs: their outputs come later, as tool messages the transport adds."""

    def messages(self) -> list[Message]:
        assistant: Message = {
            "role": "assistant",
            "content": self.content,
            "tool_calls": [c.as_item() for c in (*self.calls, *self.for_client)],
        }
        return [assistant, *(r.as_message() for r in self.results)]

    @property
    def all_failed(self) -> bool:
        return bool(self.results) and not any(r.ok for r in self.results)


def _canonical(call: ToolCall) -> tuple[str, str]:
    try:
        return call.name, json.dumps(json.loads(call.arguments or "{}"), sort_keys=True)
    except json.JSONDecodeError:
        return call.name, call.arguments.strip()


@dataclass
class ToolRunner:
    """One per user request. `history`, when given, gets each round's messages as one block (the
    assistant's calls, then the results), also when the request is cancelled while tools run."""

    tools: ToolSet
    history: list[Message] | None = None
    on_filler: Callable[[], object] | None = None
    """Called once, if a tool is still running FILLER_AFTER_S after the calls started."""
    parallel: bool = True
    filler_after_s: float = FILLER_AFTER_S
    max_calls: int = MAX_CALLS_PER_REQUEST
    records: list[ToolRecord] = field(default_factory=list)
    filler_sent: bool = False
    end_requested: bool = False
    _by_id: dict[str, ToolRecord] = field(default_factory=dict)
    _by_args: dict[tuple[str, str], ToolRecord] = field(default_factory=dict)

    def _plan(
        self, calls: list[ToolCall], client: frozenset[str]
    ) -> tuple[list[ToolCall], list[ToolResult | int | None], list[ToolCall]]:
        """The calls that go into the history (repeats of a call id dropped) and, per call, a result
        known without running (refused, or a repeat of an earlier round), the index of the call in
        this round it repeats, or None (to run); and the new calls for the client to run."""
        kept: list[ToolCall] = []
        known: list[ToolResult | int | None] = []
        for_client: list[ToolCall] = []
        running = 0
        in_round: dict[tuple[str, str], int] = {}
        for call in calls:
            if call.call_id in self._by_id:
                continue  # the same call delivered twice: one entry
            key = _canonical(call)
            earlier = self._by_args.get(key)
            if call.name in client:
                if earlier is None and key not in in_round:  # a repeat is never sent to the client
                    record = ToolRecord(call, client=True)
                    self._by_id[call.call_id] = self._by_args[key] = record
                    self.records.append(record)
                    in_round[key] = -1
                    for_client.append(call)
                continue
            record = ToolRecord(call)
            self._by_id[call.call_id] = record
            self.records.append(record)
            kept.append(call)
            if key in in_round:
                known.append(in_round[key])
            elif earlier is not None:
                known.append(self._duplicate(call, earlier.result))
            elif len(self._by_args) >= self.max_calls:
                known.append(
                    ToolResult.failure(call, "refused", f"at most {self.max_calls} tool calls per request")
                )
            elif running and not self.parallel:
                known.append(
                    ToolResult.failure(
                        call, "refused", "one tool call at a time: call it again after this result"
                    )
                )
            else:
                self._by_args[key] = record
                in_round[key] = len(kept) - 1
                known.append(None)
                running += 1
        return kept, known, for_client

    @staticmethod
    def _duplicate(call: ToolCall, result: ToolResult | None) -> ToolResult:
        """The earlier result under the new call id (never a second run)."""
        if result is None:
            return ToolResult.failure(
                call, "duplicate", f"{call.name} is already running with these arguments"
            )
        return ToolResult(call.call_id, call.name, result.ok, result.output, result.error, "duplicate", 0.0)

    async def run(
        self, calls: list[ToolCall], content: str = "", client: frozenset[str] = frozenset()
    ) -> ToolRound:
        """Run one response's calls; results in call order. Calls to `client` tools are not run:
        they come back in `for_client` (new ones only), and their outputs arrive later from the
        client. Cancelling this (barge-in) leaves the started tools running to completion; their
        results then go into the history."""
        kept, known, for_client = self._plan(calls, client)
        at = len(self.history) if self.history is not None else 0
        tasks: dict[int, asyncio.Task[ToolResult]] = {
            i: asyncio.ensure_future(self.tools.run(call)) for i, call in enumerate(kept) if known[i] is None
        }
        for i, result in enumerate(known):
            if isinstance(result, ToolResult):
                self._by_id[kept[i].call_id].result = result
        filler = asyncio.ensure_future(self._filler_timer()) if tasks else None
        try:
            if tasks:
                await asyncio.shield(asyncio.gather(*tasks.values()))
        except asyncio.CancelledError:
            self._finish_later(kept, known, tasks, content, at, for_client)
            raise
        finally:
            if filler is not None:
                filler.cancel()
        done = self._complete(kept, known, tasks, content, at, interrupted=False, for_client=for_client)
        return done

    def _complete(
        self,
        kept: list[ToolCall],
        known: list[ToolResult | int | None],
        tasks: dict[int, asyncio.Task[ToolResult]],
        content: str,
        at: int,
        interrupted: bool,
        for_client: list[ToolCall] | None = None,
    ) -> ToolRound:
        results: list[ToolResult] = []
        for i, call in enumerate(kept):
            plan = known[i]
            if isinstance(plan, ToolResult):
                results.append(plan)
            elif isinstance(plan, int):
                original = known[plan]
                results.append(
                    self._duplicate(
                        call, original if isinstance(original, ToolResult) else tasks[plan].result()
                    )
                )
            else:
                results.append(tasks[i].result())
        for call, result in zip(kept, results, strict=True):
            record = self._by_id[call.call_id]
            record.result, record.interrupted = result, interrupted
            self.end_requested = self.end_requested or result.ends_conversation
            log.info(
                "tool call",
                extra={
                    "tool": call.name,
                    "call_id": call.call_id,
                    "status": result.status,
                    "elapsed_ms": round(result.elapsed_s * 1000),
                    "interrupted": interrupted,
                },
            )
        done = ToolRound(content, kept, results, for_client or [])
        if self.history is not None and (done.calls or done.for_client):
            self.history[min(at, len(self.history)) : min(at, len(self.history))] = done.messages()
        return done

    def _finish_later(
        self,
        kept: list[ToolCall],
        known: list[ToolResult | int | None],
        tasks: dict[int, asyncio.Task[ToolResult]],
        content: str,
        at: int,
        for_client: list[ToolCall],
    ) -> None:
        def record(_: object) -> None:
            with contextlib.suppress(Exception):
                self._complete(kept, known, tasks, content, at, interrupted=True, for_client=for_client)

        if tasks:
            asyncio.gather(*tasks.values(), return_exceptions=True).add_done_callback(record)
        else:
            record(None)

    def mark_interrupted(self) -> None:
        """The answer after these tools was cancelled (barge-in): mark their records."""
        for record in self.records:
            record.interrupted = True

    async def _filler_timer(self) -> None:
        await asyncio.sleep(self.filler_after_s)
        if not self.filler_sent and self.on_filler is not None:
            self.filler_sent = True
            outcome = self.on_filler()
            if asyncio.iscoroutine(outcome):
                await outcome
