"""Hears the user: when a turn starts and ends, work speculated in a pause, and barge-in.

The session owns turns and state; this module only decides, from the audio, what the user is
doing and tells the session (`ListenerHost`). Keeping it apart means a new kind of turn-taking
(another end-of-turn model, a push-to-talk transport) changes one file.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

import numpy as np

from rejoinder.audio import SAMPLE_RATE
from rejoinder.backends.worker import voice_work_pending
from rejoinder.config import Config
from rejoinder.endpointing import TurnTaker, for_language
from rejoinder.engine import Engine
from rejoinder.interruptions import BargeInGate, Decision
from rejoinder.responder import Responder
from rejoinder.speculation import Speculation
from rejoinder.stages.stt import Transcript
from rejoinder.turns import SpeechEnded, SpeechPaused, SpeechResumed, SpeechStarted, TurnDetector, TurnEvent

log = logging.getLogger(__name__)


class ListenerHost(Protocol):
    """What the listener needs from the session that owns the turns."""

    @property
    def busy(self) -> bool: ...

    async def interrupt(self) -> None: ...

    async def user_speaking(self, at_s: float) -> None: ...

    async def user_finished(self, ended: SpeechEnded, speculation: Speculation | None) -> None: ...


class Listener:
    def __init__(self, engine: Engine, config: Config, responder: Responder, host: ListenerHost) -> None:
        self.engine, self.config, self.responder, self.host = engine, config, responder, host
        self._taker: TurnTaker | None = None
        self._gate = BargeInGate(self._heard)
        self._speculation: Speculation | None = None
        self._early: asyncio.Task[None] | None = None
        self._early_at_s = 0.0
        """How much of the open turn the last early prefill had heard."""
        self._early_text = ""
        """What the running early prefill transcribed ("" while it still transcribes)."""

    @property
    def taker(self) -> TurnTaker:
        """The VAD plus, in 'smart' mode, the end-of-turn model and the pause's transcript."""
        if self._taker is None:
            self._taker = TurnTaker(
                self.engine.vad.stream(),
                self.config.vad,
                self.engine.end_of_turn,
                self._transcript,
                text_model=for_language(self.engine.turn_text, self.config.stt.language),
                context=self.responder.last_reply,
            )
        return self._taker

    @property
    def detector(self) -> TurnDetector:
        return self.taker.detector

    def reset(self) -> None:
        """Start turn detection afresh (new settings, or the client cleared its buffer)."""
        if self._taker is not None:
            self._taker.close()
        self._taker = None
        self._gate.cancel()

    async def close(self) -> None:
        self.reset()
        await self.drop_speculation()
        self._drop_early()

    async def _transcript(self, audio: np.ndarray) -> str:
        return (await self.engine.stt.transcribe(audio)).text

    async def _heard(self, audio: np.ndarray) -> Transcript:
        """The user's sound over the agent's reply, with how sure the STT is of it."""
        return await self.engine.stt.transcribe(audio)

    async def push(self, samples: np.ndarray) -> None:
        events = await self.taker.feed(samples)
        if self._gate.active:
            await self._judge_barge_in(samples)
        for event in events:
            await self._on_event(event)
        self._prefill_early()

    async def end(self) -> None:
        for event in await self.taker.finish():
            await self._on_event(event)

    async def _judge_barge_in(self, samples: np.ndarray) -> None:
        """User speech while the agent speaks: interrupt only once its words say so."""
        if not self.host.busy:  # the agent finished first: this is simply the user's next turn
            self._gate.cancel()
            await self.host.user_speaking(self.detector.position / SAMPLE_RATE)
            return
        if await self._gate.feed(samples, self.detector.silence_ms) is Decision.INTERRUPT:
            gate = self._gate
            log.info(
                "barge-in",
                extra={"words": gate.text, "confidence": gate.confidence, "after_ms": gate.decided_after_ms},
            )
            await self.host.interrupt()
            await self.host.user_speaking(self.detector.position / SAMPLE_RATE)

    # --- early prefill ---------------------------------------------------------------------
    def _prefill_early(self) -> None:
        """While the user speaks (and nothing else is going on), transcribe their words so far
        and put them in the cache of the tier they would go to: when the turn ends, the model
        reads only the last words (measured: first token 145 vs 220 ms, Qwen2.5-Coder-1.5B on 2
        cores, docs/benchmarks.md). One at a time, only while no model works for any session,
        and dropped unless it has reached the model when the user pauses (the speculation then
        needs the STT)."""
        every = self.config.vad.early_prefill_ms / 1000
        detector = self.detector
        if not every or not detector.speaking or detector.silence_ms or self.host.busy or self._gate.active:
            return
        if self._early is not None and not self._early.done():
            return
        if detector.utterance_s - self._early_at_s < every or not self.responder.prefills():
            return
        if voice_work_pending():  # another session's turn needs the cores more
            return
        self._early_at_s = detector.utterance_s
        self._early = asyncio.create_task(self._early_job(detector.utterance()))
        self._early.add_done_callback(lambda task: task.cancelled() or task.exception())

    async def _early_job(self, audio: np.ndarray) -> None:
        text = await self._transcript(audio)
        self._early_text = text
        await self.responder.prefill_partial(text)

    def _drop_early(self, unless_prefilling: bool = False) -> None:
        task = self._early
        if task is not None and not task.done() and not (unless_prefilling and self._early_text):
            task.cancel()
        self._early, self._early_text = None, ""

    async def _on_event(self, event: TurnEvent) -> None:
        if isinstance(event, SpeechStarted):
            self._early_at_s = 0.0
        if isinstance(event, SpeechPaused):
            self._drop_early(unless_prefilling=True)  # its prefill is the speculation's head start
        if self._gate.active and isinstance(event, SpeechPaused | SpeechResumed):
            return  # the agent is speaking and the user has not taken the turn (yet)
        if isinstance(event, SpeechPaused):
            await self.drop_speculation()
            self._speculation = Speculation(
                self.engine, self.responder, event.audio, self.taker.pause_transcript
            )
        elif isinstance(event, SpeechResumed):
            await self.drop_speculation()
        elif isinstance(event, SpeechStarted):
            await self._on_speech_started(event)
        elif self._gate.active and self._gate.speech_ended() is Decision.IGNORE:
            # a backchannel, a noise, or words too unsure to count (a hum)
            log.info("not a barge-in", extra={"words": self._gate.text, "confidence": self._gate.confidence})
        else:
            speculation, self._speculation = self._speculation, None
            await self.host.user_finished(event, speculation)

    async def _on_speech_started(self, event: SpeechStarted) -> None:
        await self.drop_speculation()
        if self.config.vad.interrupt_response and self.host.busy:
            if self.config.vad.barge_in == "words":
                self._gate.start(self.detector.utterance())
                return
            await self.host.interrupt()
        await self.host.user_speaking(event.at_s)

    async def drop_speculation(self) -> None:
        if self._speculation is not None:
            speculation, self._speculation = self._speculation, None
            await speculation.cancel()
