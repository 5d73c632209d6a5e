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


class STT(Protocol):
    name: str

    async def transcribe(self, audio: np.ndarray) -> Transcript:
        """Transcribe one utterance (float32, 16 kHz mono); blocking work runs off the event loop."""
        ...
