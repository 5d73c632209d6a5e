"""End of turn: has the speaker finished, judged from how and what they said (not only silence)."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class EndOfTurn(Protocol):
    name: str
    sample_rate: int
    window_s: float
    """The model looks at the last `window_s` seconds of the audio it is given."""

    async def probability(self, audio: np.ndarray) -> float:
        """Probability in [0, 1] that the turn is complete, given the turn's audio up to now
        (float32 16 kHz mono, trailing silence included). Blocking work runs off the event loop."""
        ...


class TextEndOfTurn(Protocol):
    """The same question asked of the words: a pause after "my flight leaves from" sounds as final
    as one after a question when the voice gives no cue (synthetic speech, flat speakers)."""

    name: str

    async def probability(self, text: str, context: str = "") -> float:
        """Probability in [0, 1] that the utterance is complete as transcribed so far, said in
        answer to `context` (the agent's last words; "" at the start of a conversation)."""
        ...

    async def prepare(self, context: str) -> None:
        """Get ready to judge words said after `context` (while the user speaks: a model may
        read the context now, so the check at the pause reads only the user's words)."""
        ...
