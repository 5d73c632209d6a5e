"""Text to speech with audio streamed in chunks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

import numpy as np


class TTS(Protocol):
    name: str
    sample_rate: int

    def stream(self, text: str) -> AsyncIterator[np.ndarray]:
        """Float32 mono chunks at sample_rate, the first as soon as it is ready."""
        ...
