"""Speech to text."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class Transcript:
    text: str
    language: str | None = None
    audio_s: float = 0.0
    confidence: float | None = None
    """How sure the decoder was of the words, 0-1 (Moonshine: the geometric mean of the chosen
    tokens' probabilities); None where the backend does not say. The barge-in gate lets an
    unsure reading of a hum ("Mm-hm" as "a member") wait for the next read."""


class STT(Protocol):
    name: str

    async def transcribe(self, audio: np.ndarray) -> Transcript:
        """Transcribe one utterance (float32, 16 kHz mono); blocking work runs off the event loop."""
        ...
