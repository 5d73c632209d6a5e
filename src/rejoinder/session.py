"""One conversation's turns: listen -> (speculate) -> commit -> speak -> listen, and barge-in.

Who answers is the responder's business (responder.py); where the audio goes and what the
listener heard is the output's (output.py). Transports push audio in and receive typed events;
they never decide anything about turns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import numpy as np

from rejoinder.audio import SAMPLE_RATE
from rejoinder.config import Config
from rejoinder.endpointing import TurnTaker
from rejoinder.engine import Engine
from rejoinder.events import (
    ClauseStarted,
    ConversationEnded,
    EventSink,
    ReplyDone,
    SessionEvent,
    State,
    StateChanged,
    Transcribed,
    TurnFailed,
    TurnFinished,
    UserSpeechStarted,
    UserSpeechStopped,
    ignore,
)
from rejoinder.interruptions import BargeInGate, Decision
from rejoinder.output import AudioOutput, DirectOutput
from rejoinder.responder import Answer, Responder
from rejoinder.speculation import Speculation
from rejoinder.stages.llm import Message
from rejoinder.streams import run_ahead, settle
from rejoinder.timeline import EndOfTurnDecision, Timeline, TurnReport
from rejoinder.tool_turns import records_summary
from rejoinder.turns import SpeechPaused, SpeechResumed, SpeechStarted, TurnDetector, TurnEvent

log = logging.getLogger(__name__)


class Session:
    def __init__(
        self,
        engine: Engine,
        sink: EventSink = ignore,
        config: Config | None = None,
        output: AudioOutput | None = None,
    ) -> None:
        """`output`: a live transport's paced output; a turn then lasts until its audio has
        played, and on barge-in only the words heard enter the history."""
        self.engine = engine
        self.config = config or engine.config
        self.output: AudioOutput = output or DirectOutput()
        self.responder = Responder(engine, self.config)
        self.responder.notify = self._emit
        self._sink = sink
        self.state: State = "listening"
        self.reports: list[TurnReport] = []
        self._taker: TurnTaker | None = None
        self._gate = BargeInGate(self._transcript)
        self._turn_task: asyncio.Task[None] | None = None
        self._speculation: Speculation | None = None
        self._background: set[asyncio.Future[None]] = set()
        self._turns = 0

    @property
    def history(self) -> list[Message]:
        return self.responder.history

    # --- audio in -------------------------------------------------------------------------
    @property
    def taker(self) -> TurnTaker:
        """Turn detection: the VAD plus, in 'smart' mode, the end-of-turn model and transcript."""
        if self._taker is None:
            self._taker = TurnTaker(
                self.engine.vad.stream(), self.config.vad, self.engine.end_of_turn, self._transcript
            )
        return self._taker

    @property
    def detector(self) -> TurnDetector:
        return self.taker.detector

    @property
    def next_turn(self) -> int:
        """Index the next turn will get (the one a user is speaking now)."""
        return self._turns

    def reset_detector(self) -> None:
        """Start turn detection afresh (new settings, or the client cleared its buffer)."""
        if self._taker is not None:
            self._taker.close()
        self._taker = None
        self._gate.cancel()

    async def _transcript(self, audio: np.ndarray) -> str:
        return (await self.engine.stt.transcribe(audio)).text

    async def push_audio(self, samples: np.ndarray) -> None:
        """16 kHz mono float32 audio from the user, any block size."""
        events = await self.taker.feed(samples)
        if self._gate.active:
            await self._judge_barge_in(samples)
        for event in events:
            await self._on_turn_event(event)

    async def end_audio(self) -> None:
        """The input stream ended: an utterance still open becomes a turn."""
        for event in await self.taker.finish():
            await self._on_turn_event(event)

    async def _judge_barge_in(self, samples: np.ndarray) -> None:
        """User speech while the agent speaks: interrupt only once its words say so."""
        if not self.busy:  # the agent finished first: this is simply the user's next turn
            self._gate.cancel()
            await self._user_speaking(self.detector.position / SAMPLE_RATE)
            return
        if await self._gate.feed(samples, self.detector.silence_ms) is Decision.INTERRUPT:
            log.info("barge-in", extra={"words": self._gate.text, "after_ms": self._gate.decided_after_ms})
            await self.interrupt()
            await self._user_speaking(self.detector.position / SAMPLE_RATE)

    async def _on_turn_event(self, event: TurnEvent) -> None:
        if self._gate.active and isinstance(event, SpeechPaused | SpeechResumed):
            return  # the agent is speaking and the user has not taken the turn (yet)
        if isinstance(event, SpeechPaused):
            await self._drop_speculation()
            self._speculation = Speculation(
                self.engine, self.responder, event.audio, self.taker.pause_transcript
            )
            return
        if isinstance(event, SpeechResumed):
            await self._drop_speculation()
            return
        if isinstance(event, SpeechStarted):
            await self._drop_speculation()
            if self.config.vad.interrupt_response and self.busy:
                if self.config.vad.barge_in == "words":
                    self._gate.start(self.detector.utterance())
                    return
                await self.interrupt()
            await self._user_speaking(event.at_s)
            return
        if self._gate.active and self._gate.speech_ended() is Decision.IGNORE:
            log.info("not a barge-in", extra={"words": self._gate.text})
            return  # a backchannel or a noise: not a turn either
        report = self._new_report(event.start_s, event.end_s)
        report.endpointing_ms = round(event.endpointing_ms, 1)
        report.end_of_turn = EndOfTurnDecision(event.reason, event.probability, round(event.check_ms, 1))
        await self._emit(UserSpeechStopped(report.index, event.end_s))
        speculation, self._speculation = self._speculation, None
        report.speculative = speculation is not None
        await self._set_state("thinking")
        self._start_turn(report, self._run_turn(report, event.audio, speculation=speculation))

    async def _user_speaking(self, at_s: float) -> None:
        await self._set_state("user_speaking")
        await self._emit(UserSpeechStarted(self._turns, at_s))

    def _new_report(self, start_s: float, end_s: float) -> TurnReport:
        timeline = Timeline()
        timeline.mark("speech_end")
        report = TurnReport(index=self._turns, start_s=start_s, end_s=end_s, timeline=timeline)
        self._turns += 1
        return report

    # --- the turn -------------------------------------------------------------------------
    async def respond(self, text: str) -> TurnReport:
        """Answer a typed message as if it had been heard (no STT)."""
        report, task = self.reply_to(text)
        await task
        return report

    def reply_to(self, text: str, resume: bool = False) -> tuple[TurnReport, asyncio.Task[None]]:
        """Start answering a typed message; its turn index is taken now, before any await.
        `resume`: no new message, answer on from the history (after a client's tool outputs)."""
        report = self._new_report(0.0, 0.0)

        async def answer() -> None:
            await self.interrupt()
            await self._set_state("thinking")
            self._start_turn(report, self._run_turn(report, None, text, resume=resume))
            await self.wait_idle()

        return report, asyncio.create_task(answer())

    async def transcribe(self, audio: np.ndarray) -> str:
        """Transcribe a committed buffer (manual turn-taking) without answering it yet."""
        text = (await self.engine.stt.transcribe(audio)).text
        await self._emit(Transcribed(self._turns, text))
        return text

    def _start_turn(self, report: TurnReport, turn: Coroutine[Any, Any, None]) -> None:
        """Run a turn; if the previous one may not be interrupted, after it. A turn cancelled
        before it could start is still reported (so every response gets its end)."""
        previous = self._turn_task

        async def after_previous() -> None:
            if previous is not None and not previous.done():
                await settle(asyncio.shield(previous))
            await turn

        def reported(task: asyncio.Task[None]) -> None:
            if report in self.reports:
                return
            turn.close()
            report.status = "cancelled"
            finish = asyncio.ensure_future(self._finish(report, Answer(timeline=report.timeline)))
            self._background.add(finish)
            finish.add_done_callback(self._background.discard)

        self._turn_task = asyncio.create_task(after_previous())
        self._turn_task.add_done_callback(reported)

    async def _run_turn(
        self,
        report: TurnReport,
        audio: np.ndarray | None,
        text: str | None = None,
        speculation: Speculation | None = None,
        resume: bool = False,
    ) -> None:
        tl = report.timeline
        answer = speculation.answer if speculation is not None else Answer(timeline=tl, resumed=resume)
        answer.begin(report.index)
        try:
            if speculation is not None:
                text = await speculation.transcript()
                tl.adopt(answer.timeline)
            elif text is None:
                assert audio is not None
                tl.mark("stt_start")
                text = (await self.engine.stt.transcribe(audio)).text
            tl.mark("transcript")
            report.transcript = text
            await self._emit(Transcribed(report.index, text))
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
            if speculation is not None:
                await speculation.cancel()
            raise
        except Exception as exc:  # one failed turn must not kill the session
            report.status, report.error = "failed", f"{type(exc).__name__}: {exc}"
            log.exception("turn failed", extra={"turn": report.index})
            await self._emit(TurnFailed(report.index, report.error))
        finally:
            await self._finish(report, answer)

    async def _speak(
        self, report: TurnReport, clauses: AsyncIterator[str], speculation: Speculation | None
    ) -> None:
        """Each clause is synthesised as soon as it is written, while the LLM writes on."""
        tl, tts, turn = report.timeline, self.engine.tts, report.index
        index = 0
        async for clause in clauses:
            await self._emit(ClauseStarted(turn, index, clause))
            self.output.begin_clause(turn, index, clause)
            made = speculation.first_audio(clause) if speculation is not None and index == 0 else None
            report.speculative_audio = report.speculative_audio or made is not None
            async for chunk in made or tts.stream(clause):
                if "first_audio" not in tl.marks:
                    tl.mark("first_audio")
                    await self._set_state("speaking")
                await self.output.write(turn, index, chunk, tts.sample_rate)
            self.output.end_clause(turn, index)
            index += 1
        await self.output.wait_played(turn)  # speaking lasts until heard: a barge-in until then cuts it

    async def _finish(self, report: TurnReport, answer: Answer) -> None:
        """Record what was heard, report the turn, and go back to listening."""
        report.timeline.adopt(answer.timeline)
        report.timeline.mark("reply_done")
        report.route, report.unspoken_tail = answer.route, answer.unspoken_tail
        report.tool_calls = records_summary(answer.tool_calls)
        if report.status == "cancelled":
            self.output.clear(report.index)
        report.reply = " ".join(self.output.heard(report.index))
        heard_any = report.reply or report.status == "cancelled"  # a cut-off question still counts
        said = report.transcript.strip() or answer.resumed
        if said and report.status in ("completed", "cancelled") and heard_any:
            self.responder.remember(report.transcript, report.reply or None)
        self.reports.append(report)
        log.info("turn", extra={"turn": report.to_dict()})
        with contextlib.suppress(Exception):
            await self._emit(ReplyDone(report.index, report.status, report.reply))
            await self._emit(TurnFinished(report.index, report))
            if answer.ends_conversation and report.status == "completed":
                await self._emit(ConversationEnded(report.index))
            if self._turn_task is asyncio.current_task():
                await self._set_state("listening")

    def truncate_reply(self, turn: int, heard: str) -> str | None:
        """The listener heard only `heard` of `turn`'s reply (the client says so): shorten the
        reply in the history to it. Never lengthens what is kept. Returns the reply now kept, or
        None while the turn is unknown (not finished yet)."""
        report = next((r for r in self.reports if r.index == turn), None)
        if report is None:
            return None
        if len(heard.split()) >= len(report.reply.split()):
            return report.reply
        self.responder.truncate(report.transcript, report.reply, heard)
        report.reply = heard
        return heard

    @property
    def busy(self) -> bool:
        """A turn is being answered (thinking or speaking)."""
        return self._turn_task is not None and not self._turn_task.done()

    # --- control --------------------------------------------------------------------------
    async def interrupt(self) -> None:
        """Barge-in: stop thinking and speaking now; history keeps only what was heard."""
        task = self._turn_task
        if task is not None and not task.done():
            task.cancel()
            await settle(task)

    async def wait_idle(self) -> None:
        task = self._turn_task
        if task is not None:
            await settle(task)

    async def close(self) -> None:
        self.reset_detector()
        await self._drop_speculation()
        await self.interrupt()
        self.responder.close()

    async def _drop_speculation(self) -> None:
        if self._speculation is not None:
            speculation, self._speculation = self._speculation, None
            await speculation.cancel()

    async def _set_state(self, state: State) -> None:
        if state != self.state:
            self.state = state
            await self._emit(StateChanged(state))

    async def _emit(self, event: SessionEvent) -> None:
        await self._sink(event)
