"""A reply's later words may wait while another turn writes its first clause (opt-in).

llama.cpp decodes every busy slot in one batch, so with four talking sessions a new turn's first
clause shares two cores with the later sentences of replies that are already playing. A voice
stream is a *head* until its first clause is written (as the default clause chunker cuts it);
after that it is a *tail*. With `llm.tail_pause_s` set, a tail stops at its next token while any
head is writing, on any llama.cpp model of the process (the cores are shared), and goes on from
what it wrote once the heads are done or its pause budget is spent. Measured in five interleaved
pairs of soaks (docs/soak.md): first-audio p95 2.86 -> 2.51 s on average, but the replies that
paused had gaps: 27 against 18, 26.5 s against 9.5 s in all. It is off by default; pausing only
while the listener has enough of the reply queued is the next step.
"""

from __future__ import annotations

import asyncio
import time

from rejoinder.backends.worker import PendingCount
from rejoinder.chunking import ClauseChunker


class Head:
    """One voice stream's place in the gate; counts as a head until its first clause is out."""

    def __init__(self, gate: HeadGate) -> None:
        self._gate = gate
        self._chunker: ClauseChunker | None = ClauseChunker()
        gate.enter()

    @property
    def writing_first_clause(self) -> bool:
        return self._chunker is not None

    def wrote(self, piece: str) -> None:
        """Called with each piece of text; the stream becomes a tail once a clause is complete."""
        if self._chunker is not None and self._chunker.push(piece):
            self.close()

    def close(self) -> None:
        """The stream's first clause is out, or the stream ended: it no longer holds tails back."""
        if self._chunker is not None:
            self._chunker = None
            self._gate.leave()


class HeadGate(PendingCount):
    """Streams writing their first clause now (`count`)."""

    def open(self) -> Head:
        return Head(self)

    async def until_clear(self, timeout_s: float) -> float:
        """Wait until no head is writing, at most `timeout_s`; the seconds waited."""
        start = time.monotonic()
        if timeout_s > 0 and self.busy:
            await asyncio.to_thread(self.wait_clear, timeout_s)
        return time.monotonic() - start


HEADS = HeadGate()
"""One gate per process: all llama.cpp models share the cores."""
