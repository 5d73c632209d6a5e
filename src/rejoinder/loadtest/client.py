"""One simulated user: speaks its questions into a Session on a real-time clock, 'plays' the
replies, thinks for a while, and measures voice-to-voice latency.

Voice-to-voice runs from the true end of speech in the replayed stream (where the clip's speech
really ends, not where the VAD decided) to the moment the first reply audio reaches the client,
so it includes the end-of-turn silence the VAD waits, queueing behind other clients, STT, the
LLM's first clause and its speech.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field

import numpy as np

from rejoinder.audio import SAMPLE_RATE
from rejoinder.engine import Engine
from rejoinder.events import SessionEvent, TurnFinished
from rejoinder.listening import ListeningClock
from rejoinder.loadtest.corpus import Question
from rejoinder.output import DirectOutput
from rejoinder.session import Session
from rejoinder.timeline import TurnReport

FRAME = int(0.02 * SAMPLE_RATE)
"""20 ms microphone frames."""
END_TOLERANCE_S = 0.3
"""The VAD may place the end of speech this much before the clip's true end (a trailing fricative)."""


@dataclass
class TurnResult:
    question: str
    answered: bool
    voice_to_voice_ms: float | None = None
    """True end of speech -> first reply audio at the client."""
    first_audio_ms: float | None = None
    """The VAD's end-of-turn decision -> first reply audio (the pipeline's own figure)."""
    endpointing_ms: float | None = None
    """True end of speech -> the VAD's decision."""
    stt_ms: float | None = None
    llm_first_token_ms: float | None = None
    tts_first_audio_ms: float | None = None
    transcript: str = ""
    reply: str = ""


@dataclass
class ClientSettings:
    start_delay_s: float = 0.0
    think_s: tuple[float, float] = (1.0, 4.0)
    answer_timeout_s: float = 20.0
    """A question with no reply audio this long after its end counts as unanswered."""
    seed: int = 0


@dataclass
class LoadClient:
    engine: Engine
    questions: list[Question]
    settings: ClientSettings = field(default_factory=ClientSettings)
    results: list[TurnResult] = field(default_factory=list)
    clock: ListeningClock = field(default_factory=ListeningClock)
    _started: float = 0.0
    _position: int = 0
    _end_mark: int | None = None
    """Stream position of the current question's true end of speech."""
    _end_wall: float | None = None
    _first_audio_wall: float | None = None
    _reply_turn: int | None = None
    _reports: list[TurnReport] = field(default_factory=list)

    async def run(self) -> list[TurnResult]:
        rng = random.Random(self.settings.seed)
        await asyncio.sleep(self.settings.start_delay_s)
        session = Session(self.engine, self._on_event, output=DirectOutput(self._on_audio))
        self._started = time.perf_counter()
        try:
            for question in self.questions:
                self.results.append(await self._ask(session, question))
                await self._stream(session, np.zeros(int(rng.uniform(*self.settings.think_s) * SAMPLE_RATE)))
        finally:
            await session.close()
        return self.results

    async def _ask(self, session: Session, question: Question) -> TurnResult:
        start = self._position
        self._end_mark = start + int(question.speech_end_s * SAMPLE_RATE)
        self._end_wall = self._first_audio_wall = self._reply_turn = None
        self._reports.clear()
        await self._stream(session, question.audio)
        deadline = time.perf_counter() + self.settings.answer_timeout_s
        # keep the microphone open (silence) until a turn covering this question has finished
        while not self._answered(start) and time.perf_counter() < deadline:
            await self._stream(session, np.zeros(FRAME, np.float32))
        while time.perf_counter() < self.clock.ends_at + 0.3:  # and until the reply has been heard
            await self._stream(session, np.zeros(FRAME, np.float32))
        return self._result(question, start)

    def _final(self, start: int) -> list[TurnReport]:
        """Turns that reach the question's end (a pause mid-question may make an earlier turn,
        cut off by the rest of the question, that does not count as the answer)."""
        assert self._end_mark is not None
        end = max(start, self._end_mark - int(END_TOLERANCE_S * SAMPLE_RATE))
        return [r for r in self._reports if r.end_s * SAMPLE_RATE >= end]

    def _answered(self, start: int) -> bool:
        return bool(self._final(start))

    def _result(self, question: Question, start: int) -> TurnResult:
        reports = self._final(start)
        report = reports[-1] if reports else None
        heard = self._first_audio_wall is not None and self._end_wall is not None
        result = TurnResult(question.name, heard and report is not None and report.status == "completed")
        if heard:
            assert self._first_audio_wall is not None and self._end_wall is not None
            result.voice_to_voice_ms = round((self._first_audio_wall - self._end_wall) * 1000, 1)
        if report is not None:
            timings = report.timeline.timings_ms()
            result.first_audio_ms = timings["first_audio"]
            result.stt_ms, result.llm_first_token_ms = timings["stt"], timings["llm_first_token"]
            result.tts_first_audio_ms = timings["tts_first_audio"]
            decided = report.timeline.marks.get("speech_end")
            if decided is not None and self._end_wall is not None:
                result.endpointing_ms = round((decided - self._end_wall) * 1000, 1)
            result.transcript, result.reply = report.transcript, report.reply
        return result

    async def _on_event(self, event: SessionEvent) -> None:
        if isinstance(event, TurnFinished):
            self._reports.append(event.report)

    def _on_audio(self, turn: int, audio: np.ndarray, sample_rate: int) -> None:
        """'Plays' reply audio as it arrives, counting the gaps a listener would hear."""
        now = time.perf_counter()
        if self._end_wall is not None and self._first_audio_wall is None:
            self._first_audio_wall = now
        new_reply, self._reply_turn = turn != self._reply_turn, turn
        self.clock.play(audio.size / sample_rate, now, new_reply)

    async def _stream(self, session: Session, audio: np.ndarray) -> None:
        """Push `audio` in 20 ms frames, each when a microphone would have delivered it."""
        audio = audio.astype(np.float32, copy=False)
        for i in range(0, audio.size, FRAME):
            block = audio[i : i + FRAME]
            due = self._started + (self._position + block.size) / SAMPLE_RATE
            if (delay := due - time.perf_counter()) > 0:
                await asyncio.sleep(delay)
            end = self._position + block.size
            if self._end_mark is not None and self._end_wall is None and end >= self._end_mark:
                # the true end sample was recorded (end - mark) samples before this frame was due
                self._end_wall = due - (end - self._end_mark) / SAMPLE_RATE
            await session.push_audio(block)
            self._position = end
