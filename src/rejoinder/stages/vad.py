"""Voice activity: per-frame speech probabilities for one audio stream."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class VADStream(Protocol):
    """State for one audio stream (one session); cheap to create."""

    def probabilities(self, frames: np.ndarray) -> np.ndarray:
        """Speech probability per frame for float32 16 kHz audio, a multiple of frame_samples long."""
        ...


class VAD(Protocol):
    name: str
    sample_rate: int
    frame_samples: int

    def stream(self) -> VADStream: ...
