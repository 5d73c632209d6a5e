"""One turn's work, from the user's words to the reply the listener heard.

The session decides when a turn runs and when it is cut; `TurnRunner` transcribes, has the
responder answer clause by clause, speaks each clause while the next is written, and records
what was heard in the history and the turn's report.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rejoinder.answer import Answer, ResponseOptions
from rejoinder.backends.worker import follow_priority
from rejoinder.engine import Engine
from rejoinder.errors import BadInputError
from rejoinder.events import (
    ClauseStarted,
    ConversationEnded,
    EventSink,
    ReplyDone,
    State,
    Transcribed,
    TurnFailed,
    TurnFinished,
)
from rejoinder.output import AudioOutput
from rejoinder.responder import Responder
from rejoinder.speculation import Speculation, words_of
from rejoinder.streams import run_ahead
from rejoinder.timeline import TurnReport
from rejoinder.tool_turns import records_summary

log = logging.getLogger(__name__)


@dataclass
class TurnRunner:
    engine: Engine
    responder: Responder
    output: AudioOutput
    emit: EventSink
    set_state: Callable[[State], Awaitable[None]]
    is_current: Callable[[], bool]
    """True inside the session's current turn task: only it may put the session back to listening."""
    keep_reports: int | None = None
    """Latest reports kept; None: all (a live session would otherwise grow with every turn)."""
    reports: list[TurnReport] = field(default_factory=list)
    late: set[asyncio.Task[None]] = field(default_factory=set)
    """Transcriptions of turns cut before their words were in; a later turn waits for them."""

    async def run(
        self,
        report: TurnReport,
        audio: np.ndarray | None,
        text: str | None = None,
        speculation: Speculation | None = None,
        resume: bool = False,
        options: ResponseOptions | None = None,
    ) -> None:
        tl = report.timeline
        answer = (
            speculation.answer
            if speculation is not None
            else Answer(timeline=tl, resumed=resume, options=options or ResponseOptions())
        )
        answer.begin(report.index)
        hearing: asyncio.Future[str] | None = None
        heard = text is not None
        try:
            if speculation is not None:
                text = await speculation.transcript()
                tl.adopt(answer.timeline)
            elif text is None:
                assert audio is not None
                tl.mark("stt_start")
                hearing = asyncio.ensure_future(words_of(self.engine, audio))
                text = await asyncio.shield(hearing)
            heard = True
            tl.mark("transcript")
            report.transcript = text
            await self.emit(Transcribed(report.index, text))
            if not text.strip() and not answer.resumed:
                report.status = "empty"
                return
            clauses = (
                speculation.clauses()
                if speculation is not None
                else run_ahead(self.responder.answer(text, answer))
            )
            await self._speak(report, clauses, speculation)
            report.status = "completed"
        except asyncio.CancelledError:
            report.status = "cancelled"
            if not heard:
                self.hear_late(report, hearing or (speculation.keep_words() if speculation else None))
            if speculation is not None:
                await speculation.cancel()
            raise
        except Exception as exc:  # one failed turn must not kill the session
            report.status, report.error = "failed", f"{type(exc).__name__}: {exc}"
            by_input = isinstance(exc, BadInputError)
            if by_input:  # the client's to fix: its reason, without our traceback
                log.warning("turn failed", extra={"turn": report.index, "by_input": True, "reason": str(exc)})
            else:
                log.exception("turn failed", extra={"turn": report.index, "by_input": False})
            await self.emit(
                TurnFailed(report.index, str(exc) if by_input else report.error, by_input=by_input)
            )
        finally:
            await self.finish(report, answer)

    def never_started(
        self, report: TurnReport, audio: np.ndarray | None, speculation: Speculation | None
    ) -> None:
        """A spoken turn cancelled while it waited for the turn before it: its words are
        still heard, and its speculation stops."""
        if audio is None:
            return
        if speculation is None:
            self.hear_late(report, asyncio.ensure_future(words_of(self.engine, audio)))
            return
        self.hear_late(report, speculation.keep_words())
        self._spawn(speculation.cancel())

    def hear_late(self, report: TurnReport, words: asyncio.Future[str] | None) -> None:
        """A turn cut before its transcript was in: the words are still the user's. Without
        this a client waited forever for the item's transcript, and the history lost the
        question (found by probing: 15 items committed, 8 transcribed)."""
        if words is not None:
            self._spawn(self._heard_late(report, words))

    async def _heard_late(self, report: TurnReport, words: asyncio.Future[str]) -> None:
        try:
            text = await words
        except Exception as exc:
            log.warning("a cut turn's transcript failed", extra={"turn": report.index, "reason": str(exc)})
            return
        report.transcript = text
        log.info("late transcript", extra={"turn": report.index, "transcript": text})
        await self.emit(Transcribed(report.index, text))
        self.responder.heard_unanswered(text)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(work)
        self.late.add(task)
        task.add_done_callback(self.late.discard)
        return task

    async def _speak(
        self, report: TurnReport, clauses: AsyncIterator[str], speculation: Speculation | None
    ) -> None:
        """Each clause is synthesised as soon as it is written, while the LLM writes on."""
        tl, tts, turn = report.timeline, self.engine.tts, report.index
        index = 0
        async for clause in clauses:
            await self.emit(ClauseStarted(turn, index, clause))
            self.output.begin_clause(turn, index, clause)
            made = speculation.first_audio(clause) if speculation is not None and index == 0 else None
            report.speculative_audio = report.speculative_audio or made is not None
            # once the reply plays, its next clauses let other turns' first audio go first
            with follow_priority() if "first_audio" in tl.marks else contextlib.nullcontext():
                async for chunk in made or tts.stream(clause):
                    if "first_audio" not in tl.marks:
                        tl.mark("first_audio")
                        await self.set_state("speaking")
                    await self.output.write(turn, index, chunk, tts.sample_rate)
            self.output.end_clause(turn, index)
            index += 1
        await self.output.wait_played(turn)  # speaking lasts until heard: a barge-in until then cuts it

    async def finish(self, report: TurnReport, answer: Answer) -> None:
        """Record what was heard, report the turn, and go back to listening."""
        report.timeline.adopt(answer.timeline)
        report.timeline.mark("reply_done")
        report.route, report.unspoken_tail = answer.route, answer.unspoken_tail
        report.usage = answer.usage if answer.usage.calls else None
        report.tool_calls = records_summary(answer.tool_calls)
        if report.status == "cancelled":
            self.output.clear(report.index)
        report.reply = " ".join(self.output.heard(report.index))
        heard_any = report.reply or report.status == "cancelled"  # a cut-off question still counts
        said = report.transcript.strip() or answer.resumed
        if said and report.status in ("completed", "cancelled") and heard_any:
            self.responder.remember(report.transcript, report.reply or None)
        self.reports.append(report)
        if self.keep_reports is not None and len(self.reports) > 2 * self.keep_reports:
            del self.reports[: -self.keep_reports]  # trimmed in batches: not a copy every turn
        log.info("turn", extra={"turn": report.to_dict()})
        with contextlib.suppress(Exception):
            await self.emit(ReplyDone(report.index, report.status, report.reply))
            await self.emit(TurnFinished(report.index, report))
            if answer.ends_conversation and report.status == "completed":
                await self.emit(ConversationEnded(report.index))
            if self.is_current():
                await self.set_state("listening")
