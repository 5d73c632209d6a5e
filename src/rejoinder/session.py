"""One conversation: turn state, the streamed turn (STT -> LLM -> clauses -> TTS), barge-in and
the chat history of what was actually spoken.

Transports push audio in and receive Events; they never decide anything about turns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from enum import Enum

import numpy as np

from rejoinder.chunking import ClauseChunker
from rejoinder.config import Config
from rejoinder.engine import Engine
from rejoinder.events import Event, EventSink, EventType
from rejoinder.stages.llm import GenerationParams, Message
from rejoinder.timeline import Timeline, TurnReport
from rejoinder.turns import SpeechEnded, SpeechStarted, TurnDetector

log = logging.getLogger(__name__)


class TurnState(str, Enum):
    LISTENING = "listening"
    USER_SPEAKING = "user_speaking"
    THINKING = "thinking"
    SPEAKING = "speaking"


class Session:
    def __init__(self, engine: Engine, sink: EventSink, config: Config | None = None) -> None:
        self.engine = engine
        self.config = config or engine.config
        self._sink = sink
        self.state = TurnState.LISTENING
        self.history: list[Message] = []
        self.reports: list[TurnReport] = []
        self._detector: TurnDetector | None = None
        self._turn_task: asyncio.Task[None] | None = None
        self._turns = 0

    # --- audio in -------------------------------------------------------------------------
    @property
    def detector(self) -> TurnDetector:
        if self._detector is None:
            self._detector = TurnDetector(self.engine.vad.stream(), self.config.vad)
        return self._detector

    async def push_audio(self, samples: np.ndarray) -> None:
        """16 kHz mono float32 audio from the user, any block size."""
        for event in self.detector.feed(samples):
            await self._on_turn_event(event)

    async def end_audio(self) -> None:
        """The input stream ended: an utterance still open becomes a turn."""
        for event in self.detector.finish():
            await self._on_turn_event(event)

    async def _on_turn_event(self, event: SpeechStarted | SpeechEnded) -> None:
        if isinstance(event, SpeechStarted):
            if self.state in (TurnState.THINKING, TurnState.SPEAKING):
                await self.interrupt()
            await self._set_state(TurnState.USER_SPEAKING)
            await self._emit("speech_started", at_s=event.at_s)
            return
        timeline = Timeline()
        timeline.mark("speech_end")
        await self._emit("speech_stopped", at_s=event.end_s)
        report = TurnReport(
            index=self._turns,
            start_s=event.start_s,
            end_s=event.end_s,
            endpointing_ms=0.0 if event.forced else float(self.config.vad.min_silence_ms),
            timeline=timeline,
        )
        self._turns += 1
        await self._set_state(TurnState.THINKING)
        self._turn_task = asyncio.create_task(self._run_turn(report, event.audio))

    # --- the turn -------------------------------------------------------------------------
    async def respond(self, text: str) -> TurnReport:
        """Answer a typed message as if it had been heard (no STT)."""
        timeline = Timeline()
        timeline.mark("speech_end")
        report = TurnReport(index=self._turns, start_s=0.0, end_s=0.0, timeline=timeline)
        self._turns += 1
        await self.interrupt()
        await self._set_state(TurnState.THINKING)
        self._turn_task = asyncio.create_task(self._run_turn(report, None, text))
        await self.wait_idle()
        return report

    async def _run_turn(self, report: TurnReport, audio: np.ndarray | None, text: str | None = None) -> None:
        tl = report.timeline
        spoken: list[str] = []
        try:
            if text is None:
                assert audio is not None
                tl.mark("stt_start")
                transcript = await self.engine.stt.transcribe(audio)
                text = transcript.text
            tl.mark("transcript")
            report.transcript = text
            await self._emit("transcript", report.index, text=text)
            if not text.strip():
                report.status = "empty"
                return
            await self._speak_reply(report, text, spoken)
            report.status = "completed"
        except asyncio.CancelledError:
            report.status = "cancelled"
            raise
        except Exception as exc:  # one failed turn must not kill the session
            report.status, report.error = "failed", f"{type(exc).__name__}: {exc}"
            log.exception("turn failed", extra={"turn": report.index})
            await self._emit("error", report.index, message=report.error)
        finally:
            tl.mark("reply_done")
            report.reply = " ".join(spoken)
            if report.transcript.strip() and report.status in ("completed", "cancelled") and spoken:
                self.history += [
                    {"role": "user", "content": report.transcript},
                    {"role": "assistant", "content": report.reply},
                ]
            elif report.transcript.strip() and report.status == "cancelled":
                self.history.append({"role": "user", "content": report.transcript})
            self.reports.append(report)
            log.info("turn", extra={"turn": report.to_dict()})
            with contextlib.suppress(Exception):
                await self._emit("reply_done", report.index, status=report.status, text=report.reply)
                await self._emit("turn_report", report.index, **report.to_dict())
                if self._turn_task is asyncio.current_task():
                    await self._set_state(TurnState.LISTENING)

    def _messages(self, text: str) -> list[Message]:
        keep = self.config.llm.history_turns * 2
        earlier = self.history[-keep:] if keep else []
        return [
            {"role": "system", "content": self.config.llm.system_prompt},
            *earlier,
            {"role": "user", "content": text},
        ]

    async def _speak_reply(self, report: TurnReport, text: str, spoken: list[str]) -> None:
        """LLM and TTS run concurrently: each clause is synthesised while the LLM keeps writing."""
        tl = report.timeline
        cfg = self.config.llm
        params = GenerationParams(temperature=cfg.temperature, top_p=cfg.top_p, max_tokens=cfg.max_tokens)
        clauses: asyncio.Queue[str | None] = asyncio.Queue()

        async def think() -> None:
            chunker = ClauseChunker(self.config.chunker)
            tl.mark("llm_start")
            try:
                async for piece in self.engine.llm.stream(self._messages(text), params):
                    tl.mark("first_token")
                    for clause in chunker.push(piece):
                        tl.mark("first_clause")
                        clauses.put_nowait(clause)
                tl.mark("llm_done")
                for clause in chunker.flush():
                    tl.mark("first_clause")
                    clauses.put_nowait(clause)
            finally:
                clauses.put_nowait(None)

        async def speak() -> None:
            tts = self.engine.tts
            while (clause := await clauses.get()) is not None:
                await self._emit("reply_clause", report.index, text=clause)
                async for chunk in tts.stream(clause):
                    if "first_audio" not in tl.marks:
                        tl.mark("first_audio")
                        await self._set_state(TurnState.SPEAKING)
                    await self._emit("audio", report.index, audio=chunk, sample_rate=tts.sample_rate)
                spoken.append(clause)

        thinker = asyncio.create_task(think())
        try:
            await speak()
            await thinker
        finally:
            thinker.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await thinker

    @property
    def busy(self) -> bool:
        """A turn is being answered (thinking or speaking)."""
        return self._turn_task is not None and not self._turn_task.done()

    # --- control --------------------------------------------------------------------------
    async def interrupt(self) -> None:
        """Barge-in: stop thinking and speaking now; history keeps only what was spoken."""
        task = self._turn_task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def wait_idle(self) -> None:
        task = self._turn_task
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def close(self) -> None:
        await self.interrupt()

    async def _set_state(self, state: TurnState) -> None:
        if state != self.state:
            self.state = state
            await self._emit("state", state=state.value)

    async def _emit(
        self, type_: EventType, turn: int | None = None, audio: np.ndarray | None = None, **data: object
    ) -> None:
        await self._sink(Event(type_, turn, dict(data), audio))
