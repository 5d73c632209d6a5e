"""Fakes for turn-taking tests: an energy VAD, a scripted end-of-turn model and transcriber."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import numpy as np

RATE = 16_000


class EnergyVAD:
    """Speech wherever a 32 ms frame is louder than -40 dBFS (test audio is tones and zeros)."""

    name = "energy"
    sample_rate = RATE
    frame_samples = 512

    def stream(self) -> EnergyVAD:
        return self

    def probabilities(self, frames: np.ndarray) -> np.ndarray:
        rows = frames[: frames.size // 512 * 512].reshape(-1, 512)
        return (np.sqrt((rows.astype(np.float64) ** 2).mean(axis=1)) > 0.01).astype(np.float32) * 0.95


class ScriptedEndOfTurn:
    """Answers `probability(audio)` from a function of the audio; records every call."""

    name = "scripted"
    sample_rate = RATE
    window_s = 8.0

    def __init__(
        self, answer: Callable[[np.ndarray], float] | float, delay_s: float = 0.0, fail: bool = False
    ):
        self.answer, self.delay_s, self.fail = answer, delay_s, fail
        self.calls: list[np.ndarray] = []

    async def probability(self, audio: np.ndarray) -> float:
        self.calls.append(audio)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.fail:
            raise RuntimeError("model crashed")
        return self.answer(audio) if callable(self.answer) else self.answer


class ScriptedTextModel:
    """Answers `probability(text)` from a table of texts (`default` for others); records calls."""

    name = "scripted-text"

    def __init__(self, answers: dict[str, float] | None = None, default: float = 0.9, fail: bool = False):
        self.answers, self.default, self.fail = answers or {}, default, fail
        self.calls: list[str] = []
        self.contexts: list[str] = []
        self.prepared: list[str] = []

    async def probability(self, text: str, context: str = "") -> float:
        self.calls.append(text)
        self.contexts.append(context)
        if self.fail:
            raise RuntimeError("text model crashed")
        return self.answers.get(text, self.default)

    async def prepare(self, context: str) -> None:
        self.prepared.append(context)


class ScriptedTranscriber:
    def __init__(self, text: str, delay_s: float = 0.0, fail: bool = False) -> None:
        self.text, self.delay_s, self.fail = text, delay_s, fail
        self.calls: list[np.ndarray] = []

    async def __call__(self, audio: np.ndarray) -> str:
        self.calls.append(audio)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.fail:
            raise RuntimeError("stt crashed")
        return self.text


def tone(seconds: float, level: float = 0.1) -> np.ndarray:
    t = np.arange(round(seconds * RATE)) / RATE
    return (level * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * RATE), np.float32)
