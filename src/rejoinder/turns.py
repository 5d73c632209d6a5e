"""Turn detection: VAD probabilities -> speech started / speech ended with the utterance audio.

Hysteresis (start above `threshold`, end below `threshold - 0.15`), a minimum speech duration
so a cough does not open a turn, prefix padding so the first syllable is not clipped, and a
configurable end-of-turn silence. Memory is bounded by `max_turn_s`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from rejoinder.config import VADConfig
from rejoinder.stages.vad import VADStream


@dataclass(frozen=True)
class SpeechStarted:
    at_s: float


@dataclass(frozen=True)
class SpeechEnded:
    start_s: float
    end_s: float
    """Stream position where speech stopped (before the end-of-turn silence)."""
    audio: np.ndarray
    forced: bool = False
    """True when cut at max_turn_s or at the end of the input rather than by silence."""
    decided_s: float | None = None
    """Stream position where the end was decided (end_s + the silence waited)."""
    reason: str = "silence"
    """What ended it: 'silence', 'model' (end-of-turn model), 'cap', 'max_turn', 'input_end'."""
    probability: float | None = None
    """The end-of-turn model's last probability that the turn was complete, if it was asked."""
    check_ms: float = 0.0
    """Wall time the deciding end-of-turn check took (model and transcript; 0 without one): in
    a live stream the decision comes this much after `decided_s`."""
    detail: str = ""
    """Why, in words (e.g. the transcript "ends with 'for'")."""

    @property
    def endpointing_ms(self) -> float:
        """The silence waited after speech before deciding (stream time, not wall clock)."""
        return 0.0 if self.decided_s is None else max(0.0, (self.decided_s - self.end_s) * 1000)


@dataclass(frozen=True)
class SpeechPaused:
    """Speech stopped for `speculate_after_ms`: the turn may be over, so work may start early."""

    at_s: float
    audio: np.ndarray


@dataclass(frozen=True)
class SpeechResumed:
    """The pause was not the end of the turn: discard what was started at SpeechPaused."""

    at_s: float


TurnEvent = SpeechStarted | SpeechEnded | SpeechPaused | SpeechResumed

_TRAILING_KEEP_S = 0.2


class TurnDetector:
    def __init__(
        self, vad: VADStream, config: VADConfig, sample_rate: int = 16_000, frame: int = 512
    ) -> None:
        self.vad, self.config = vad, config
        self.sample_rate, self.frame = sample_rate, frame
        self.position = 0
        """Samples consumed so far."""
        self._rest = np.zeros(0, np.float32)
        self._prefix: deque[np.ndarray] = deque(
            maxlen=max(1, round(config.prefix_padding_ms / 1000 * sample_rate / frame))
        )
        self._candidate: list[np.ndarray] = []
        self._speech: list[np.ndarray] = []
        self._start_s = 0.0
        self._silent_frames = 0
        self._speaking = False
        self._paused = False
        self.last_probability = 0.0

    @property
    def speaking(self) -> bool:
        return self._speaking

    def _frames(self, ms: float) -> int:
        return max(1, round(ms / 1000 * self.sample_rate / self.frame))

    @property
    def utterance_s(self) -> float:
        """Length of the open turn so far, pauses included (0 while not speaking)."""
        return len(self._speech) * self.frame / self.sample_rate if self._speaking else 0.0

    @property
    def silence_ms(self) -> float:
        """Silence so far inside an open turn (0 while not speaking)."""
        return self._silent_frames * self.frame / self.sample_rate * 1000 if self._speaking else 0.0

    def turn_audio(self, max_s: float) -> np.ndarray:
        """The open turn's last `max_s` seconds, trailing silence included (an end-of-turn
        model's input)."""
        keep = max(1, round(max_s * self.sample_rate / self.frame))
        frames = self._speech[-keep:]
        return np.concatenate(frames) if frames else np.zeros(0, np.float32)

    def end_turn(self) -> SpeechEnded | None:
        """End the open turn here (an end-of-turn model decided it is over); None if none is open."""
        return self._end(forced=False) if self._speaking else None

    def feed(self, samples: np.ndarray) -> list[TurnEvent]:
        return [event for event in self.steps(samples) if event is not None]

    def steps(self, samples: np.ndarray) -> Iterator[TurnEvent | None]:
        """Like feed, one item per 32 ms frame (None when nothing happened), so a caller can act
        between frames (end the turn) at an exact stream position."""
        data = (
            np.concatenate([self._rest, samples.astype(np.float32, copy=False)])
            if self._rest.size
            else samples
        )
        n = data.size // self.frame
        self._rest = data[n * self.frame :].copy()
        if n == 0:
            return
        frames = data[: n * self.frame].reshape(n, self.frame)
        probs = self.vad.probabilities(frames.reshape(-1))
        for frame, p in zip(frames, probs, strict=True):
            self.position += self.frame
            self.last_probability = float(p)
            yield self._step(frame, float(p))

    def finish(self) -> list[TurnEvent]:
        """End of input: a turn still open ends here."""
        if self._speaking:
            return [self._end(forced=True, reason="input_end")]
        return []

    def _step(self, frame: np.ndarray, p: float) -> TurnEvent | None:
        cfg = self.config
        if not self._speaking:
            if p >= cfg.threshold:
                self._candidate.append(frame)
                if len(self._candidate) >= self._frames(cfg.min_speech_ms):
                    return self._start()
            elif p < cfg.threshold - 0.15:
                for f in self._candidate:
                    self._prefix.append(f)
                self._candidate.clear()
                self._prefix.append(frame)
            else:
                self._candidate.append(frame)
            return None
        self._speech.append(frame)
        paused = self._paused
        self._silent_frames = self._silent_frames + 1 if p < cfg.threshold - 0.15 else 0
        if self._silent_frames >= self._frames(cfg.min_silence_ms):
            return self._end(forced=False)
        if paused and self._silent_frames == 0:
            self._paused = False
            return SpeechResumed(self.position / self.sample_rate)
        if (
            cfg.speculate_after_ms
            and not paused
            and self._silent_frames >= self._frames(cfg.speculate_after_ms)
        ):
            self._paused = True
            return SpeechPaused(self.position / self.sample_rate, self._utterance())
        if len(self._speech) * self.frame >= cfg.max_turn_s * self.sample_rate:
            return self._end(forced=True, reason="max_turn")
        return None

    def _start(self) -> SpeechStarted:
        self._speaking = True
        start = self.position - len(self._candidate) * self.frame
        self._start_s = start / self.sample_rate
        self._speech = [*self._prefix, *self._candidate]
        self._prefix.clear()
        self._candidate = []
        self._silent_frames = 0
        return SpeechStarted(self._start_s)

    def utterance(self) -> np.ndarray:
        """The open turn's speech so far (what SpeechPaused carries)."""
        return self._utterance()

    def _utterance(self) -> np.ndarray:
        """The speech so far with a short tail of silence, as the STT likes it: longer silence is
        cut; a shorter tail (a pause heard for only 96 ms) is filled with zeros up to it
        (measured: from a 96 ms tail Moonshine wrote "Can you remind me to" as "... to you?";
        padded, as said; docs/turn-taking.md)."""
        tail = self._frames(_TRAILING_KEEP_S * 1000)
        keep = len(self._speech) - max(0, self._silent_frames - tail)
        if keep <= 0:
            return np.zeros(0, np.float32)
        pad = max(0, tail - self._silent_frames) if self._silent_frames else 0
        return np.concatenate([*self._speech[:keep], np.zeros(pad * self.frame, np.float32)])

    def _end(self, forced: bool, reason: str = "silence") -> SpeechEnded:
        audio = self._utterance()
        end_s = (self.position - self._silent_frames * self.frame) / self.sample_rate
        self._speaking = False
        self._paused = False
        self._speech = []
        self._silent_frames = 0
        return SpeechEnded(self._start_s, end_s, audio, forced, self.position / self.sample_rate, reason)
