"""Semantic endpointing: when a pause is the end of the user's turn.

`TurnTaker` wraps the VAD `TurnDetector` and emits the same events (SpeechStarted, SpeechPaused,
SpeechResumed, SpeechEnded). In 'smart' mode a short silence after speech asks the judges:
the end-of-turn model (Smart Turn: how it sounded) and, when a transcriber is given, the
speculative transcript (turn_text.py's rules, then a small language model's probability that the
sentence ends there: how it reads). A turn that sounds complete and does not read as unfinished
ends there; otherwise the taker waits until a cap, where the turn ends anyway
(a policy may ask the model again on the way, with its own bar). A transcript that reads as
unfinished ("my flight leaves from", "uh, and then", "eggs, milk, bread") holds the turn open
until the cap.
In 'silence' mode a fixed silence ends every turn, as before.

Every decision is taken at a stream position (after so many 32 ms frames), never from the wall
clock, so a file read faster than real time gets the same turns as a live stream; `feed` awaits
the model (its own worker thread) and the transcript at that position.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np

from rejoinder.config import VADConfig
from rejoinder.stages.turn import EndOfTurn, TextEndOfTurn
from rejoinder.stages.vad import VADStream
from rejoinder.turn_text import unfinished_reason
from rejoinder.turns import SpeechEnded, SpeechPaused, SpeechResumed, SpeechStarted, TurnDetector, TurnEvent

log = logging.getLogger(__name__)

Transcriber = Callable[[np.ndarray], Awaitable[str]]
"""The utterance so far -> its text (the speculative STT)."""


@dataclass(frozen=True)
class EndpointPolicy:
    """When to ask the judges and how sure the model must be (times are silence after speech).

    Smart Turn is trained to be asked once, about 200 ms into a pause; asked again as the
    silence grows its probability creeps up for any pause, so re-checks keep the same bar.
    """

    first_check_ms: float
    """First question to the model (and to the transcript)."""
    recheck_ms: float | None
    """Ask the model again after this much more silence while it says 'not yet' (None: never;
    the turn then ends at the cap)."""
    threshold: float
    """Probability that ends a turn whose transcript is a statement or a command (or unknown)."""
    question_threshold: float
    """...and one whose transcript is a question: a question is a strong sign of a finished turn."""
    cap_ms: float
    """The turn ends here whatever the judges say."""
    recheck_threshold: float | None = None
    """The bar at a re-check (None: `threshold`); Smart Turn's probability creeps up as any
    silence grows, so a re-check needs a higher one."""
    text_threshold: float | None = None
    """Words the language model gives a lower probability of ending here read as unfinished
    (None: the model is not asked)."""


TEXT_MIN_WORDS = 2
"""The language model judges two words or more: a one-word turn ("Yes", "Berlin") is nearly
always an answer to the agent, which the model, reading the words alone, cannot know."""
_WORD = re.compile(r"[\w']+")


def _once(check_ms: float, statement: float, question: float, cap_ms: float, text: float) -> EndpointPolicy:
    return EndpointPolicy(check_ms, None, statement, question, cap_ms, text_threshold=text)


EAGERNESS: dict[str, EndpointPolicy] = {
    "high": _once(160, statement=0.85, question=0.4, cap_ms=1200, text=0.02),
    "medium": _once(192, statement=0.95, question=0.5, cap_ms=1600, text=0.05),
    "low": _once(256, statement=0.97, question=0.6, cap_ms=2000, text=0.1),
}
"""One question to the model per pause: asked again later, Smart Turn's probability creeps up
for any pause, and on the tune split re-checks (every 480 ms at the same bar) caused 17 of
medium's 57 false cut-offs while ending few complete turns sooner (docs/turn-taking.md)."""
EAGERNESS["auto"] = EAGERNESS["medium"]


def policy_for(config: VADConfig) -> EndpointPolicy:
    return EAGERNESS[config.eagerness]


class TurnTaker:
    """Turn events for one audio stream; `await feed(samples)` replaces `detector.feed(samples)`.

    Smart when `config.end_of_turn == "smart"` and a model is given, else fixed silence
    (`config.min_silence_ms`). SpeechEnded carries `decided_s`, `reason`, `endpointing_ms`.
    `pause_transcript` is the transcription started at the current SpeechPaused, for the
    speculation to reuse instead of transcribing the same audio again.
    """

    def __init__(
        self,
        vad: VADStream,
        config: VADConfig,
        model: EndOfTurn | None = None,
        transcribe: Transcriber | None = None,
        policy: EndpointPolicy | None = None,
        text_model: TextEndOfTurn | None = None,
        context: Callable[[], str] | None = None,
    ) -> None:
        """`context`: the agent's last words, which the user answers (for the text model)."""
        self.config = config
        self.model = model if config.end_of_turn == "smart" else None
        self.transcribe = transcribe if self.model is not None else None
        reads = self.transcribe is not None and config.turn_text_backend != "none"
        self.text_model = text_model if reads else None
        self.context = context or (lambda: "")
        self._preparing: asyncio.Task[None] | None = None
        self.policy = policy or policy_for(config)
        detector_config = config
        if self.model is not None:  # the detector's own silence rule becomes the cap
            detector_config = config.model_copy(update={"min_silence_ms": round(self.policy.cap_ms)})
        self.detector = TurnDetector(vad, detector_config)
        self.pause_transcript: asyncio.Task[str] | None = None
        self._reading: asyncio.Task[tuple[str, str]] | None = None
        """The pause's transcript and its verdict (`_read`), started with the transcript so the
        text model has answered by the check."""
        self._early: asyncio.Task[float | None] | None = None
        """The model's reading of the pause's sound, started with the transcript so that the first
        check finds it (nearly) done instead of adding the model's time to the silence waited."""
        self.check_ms: list[float] = []
        """Wall time of each check so far (model and transcript, queueing included)."""
        self._next_check_ms = self.policy.first_check_ms
        self._probability: float | None = None
        self._unfinished: str | None = None
        """None: not judged yet; '': reads as possibly complete; else why it reads unfinished."""
        self._question = False
        self._check_ms = 0.0
        self._checks = 0
        """Checks that asked the model in this pause."""

    @property
    def mode(self) -> str:
        return "smart" if self.model is not None else "silence"

    @property
    def speaking(self) -> bool:
        return self.detector.speaking

    async def feed(self, samples: np.ndarray) -> list[TurnEvent]:
        """16 kHz mono float32 audio, any block size; the events it completes, in order."""
        events: list[TurnEvent] = []
        for event in self.detector.steps(samples):
            if event is not None:
                events.append(self._on_event(event))
            if self.model is None or not self.detector.speaking:
                continue
            silence = self.detector.silence_ms
            if silence >= self._next_check_ms:
                ended = await self._check(silence)
                if ended is not None:
                    events.append(ended)
        return events

    async def finish(self) -> list[TurnEvent]:
        """End of input: a turn still open ends here."""
        return [self._on_event(event) for event in self.detector.finish()]

    def close(self) -> None:
        self._drop_transcript()
        if self._preparing is not None:
            self._preparing.cancel()

    # --- decisions ------------------------------------------------------------------------
    async def _check(self, silence_ms: float) -> SpeechEnded | None:
        assert self.model is not None
        recheck = self.policy.recheck_ms
        self._next_check_ms = silence_ms + recheck if recheck is not None else float("inf")
        if self._unfinished:
            return None  # the words hold the turn open until the cap: no need to ask the model
        t0 = time.perf_counter()
        if self._unfinished is None and self.transcribe is not None:
            if self.pause_transcript is None:  # no SpeechPaused before this check
                self._start_transcript(self.detector.utterance())
            assert self._reading is not None
            probability, (text, self._unfinished) = await asyncio.gather(
                self._first_probability(), asyncio.shield(self._reading)
            )
            self._question = text.strip().endswith("?")
        else:
            probability = await self._first_probability()
        self._check_ms = (time.perf_counter() - t0) * 1000
        self.check_ms.append(self._check_ms)
        if probability is None:  # the model failed: the fixed silence decides this pause
            if silence_ms >= self.config.min_silence_ms:
                return self._end("silence", "end-of-turn model failed: fixed silence")
            self._next_check_ms = min(self._next_check_ms, self.config.min_silence_ms)
            return None
        self._probability = probability
        threshold = self.policy.question_threshold if self._question else self.policy.threshold
        self._checks += 1
        if self._checks > 1 and self.policy.recheck_threshold is not None:
            threshold = max(threshold, self.policy.recheck_threshold)
        if self._unfinished or probability < threshold:
            return None
        return self._end("model", f"p={probability:.2f}" + (" (question)" if self._question else ""))

    async def _first_probability(self) -> float | None:
        """The pause's early reading (`_start_early`) if there is one, else the model now."""
        early, self._early = self._early, None
        return await early if early is not None else await self._probability_now()

    def _start_early(self) -> None:
        """Reads the pause as it will sound at the first check: the silence heard so far is
        repeated up to `first_check_ms` (measured: read with only the 96 ms heard, Smart Turn's
        probability fell for complete turns: 7 of the 107 in the eval set fewer ended at once)."""
        assert self.model is not None
        self._drop_early()
        audio = self.detector.turn_audio(self.model.window_s)
        missing = round(
            (self.policy.first_check_ms - self.detector.silence_ms) * self.model.sample_rate / 1000
        )
        heard = round(self.detector.silence_ms * self.model.sample_rate / 1000)
        if missing > 0 and heard > 0:
            tail = audio[-heard:]
            audio = np.concatenate([audio, np.resize(tail, missing)])[
                -round(self.model.window_s * self.model.sample_rate) :
            ]
        task = asyncio.ensure_future(self._probability_now(audio))
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        self._early = task

    async def _probability_now(self, audio: np.ndarray | None = None) -> float | None:
        """The model's probability that the turn is over, on `audio` or the turn's sound now."""
        assert self.model is not None
        if audio is None:
            audio = self.detector.turn_audio(self.model.window_s)
        try:
            return float(await self.model.probability(audio))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("end-of-turn model failed; falling back to fixed silence")
            return None

    async def _read(self, transcript: asyncio.Task[str]) -> tuple[str, str]:
        """The pause's transcript, and why it reads unfinished ('': it may be complete)."""
        text = await self._transcript(transcript)
        reason = unfinished_reason(text) or ""
        bar = self.policy.text_threshold
        if reason or self.text_model is None or bar is None or len(_WORD.findall(text)) < TEXT_MIN_WORDS:
            return text, reason
        try:
            p = await self.text_model.probability(text, self.context())
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("end-of-turn text model failed; judging the turn without it")
            return text, ""
        return text, f"ends there with p={p:.3f} (text model)" if p < bar else ""

    @staticmethod
    async def _transcript(transcript: asyncio.Task[str]) -> str:
        try:
            return await asyncio.shield(transcript)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("speculative transcript failed; judging the turn by sound alone")
            return ""

    def _end(self, reason: str, detail: str) -> SpeechEnded | None:
        ended = self.detector.end_turn()
        if ended is None:
            return None
        annotated = self._on_event(ended, reason, detail)
        assert isinstance(annotated, SpeechEnded)
        return annotated

    # --- events ---------------------------------------------------------------------------
    def _on_event(self, event: TurnEvent, reason: str | None = None, detail: str = "") -> TurnEvent:
        if isinstance(event, SpeechPaused):
            self._drop_transcript()
            if self.transcribe is not None:
                self._start_transcript(event.audio)
            if self.model is not None and self.config.early_check:
                self._start_early()
            return event
        if isinstance(event, SpeechStarted | SpeechResumed):
            self._drop_transcript()
            self._reset()
            if isinstance(event, SpeechStarted) and self.text_model is not None:
                self._prepare(self.text_model)
            return event
        assert isinstance(event, SpeechEnded)
        if reason is None:
            reason = "cap" if self.model is not None and event.reason == "silence" else event.reason
            if reason == "cap" and self._unfinished:
                detail = f"transcript {self._unfinished}"
        ended = dataclasses.replace(
            event, reason=reason, probability=self._probability, check_ms=self._check_ms, detail=detail
        )
        self.pause_transcript = None  # the turn owns it now (the speculation may be awaiting it)
        self._drop_reading()
        self._drop_early()
        self._reset()
        return ended

    def _reset(self) -> None:
        self._checks = 0
        self._next_check_ms = self.policy.first_check_ms
        self._probability = None
        self._unfinished = None
        self._question = False
        self._check_ms = 0.0

    def _start_transcript(self, audio: np.ndarray) -> None:
        assert self.transcribe is not None
        task = asyncio.ensure_future(self.transcribe(audio))
        # A failure is logged where it is awaited; nobody may await a turn's leftover task.
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        self.pause_transcript = task
        self._drop_reading()
        self._reading = asyncio.ensure_future(self._read(task))

    def _prepare(self, text_model: TextEndOfTurn) -> None:
        """The text model reads the agent's last words while the user speaks."""
        if self._preparing is not None and not self._preparing.done():
            return
        task = asyncio.ensure_future(text_model.prepare(self.context()))
        task.add_done_callback(_log_failure)
        self._preparing = task

    def _drop_transcript(self) -> None:
        task, self.pause_transcript = self.pause_transcript, None
        if task is not None and not task.done():
            task.cancel()
        self._drop_reading()
        self._drop_early()

    def _drop_early(self) -> None:
        early, self._early = self._early, None
        if early is not None and not early.done():
            early.cancel()

    def _drop_reading(self) -> None:
        reading, self._reading = self._reading, None
        if reading is not None and not reading.done():
            reading.cancel()


def for_language(text_model: TextEndOfTurn | None, language: str | None) -> TextEndOfTurn | None:
    """The text model for speech in `language` (the STT's setting): the packaged one reads English,
    and another language, or one left to detect, would read as unfinished and wait for the cap."""
    return text_model if language == "en" else None


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("end-of-turn text model could not read the context: %s", task.exception())


def load_text_model(config: VADConfig) -> TextEndOfTurn | None:
    """The judge of the words the config asks for (None for 'silence' or 'none'); once per process."""
    if config.end_of_turn != "smart" or config.turn_text_backend == "none":
        return None
    from rejoinder import registry

    model: TextEndOfTurn = registry.create("turn_text", config.turn_text_backend, config)
    return model


def load_end_of_turn(config: VADConfig) -> EndOfTurn | None:
    """The end-of-turn model the config asks for (None for 'silence'); load once per process."""
    if config.end_of_turn != "smart":
        return None
    from rejoinder import registry

    model: EndOfTurn = registry.create("turn", config.turn_backend, config)
    return model
