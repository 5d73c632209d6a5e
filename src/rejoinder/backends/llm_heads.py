"""A reply's later words wait while another turn writes its first clause, as long as the
listener has enough of the reply queued not to hear the wait.

llama.cpp decodes every busy slot in one batch, so with four talking sessions a new turn's first
clause shares two cores with the later sentences of replies that are already playing. A voice
stream is a *head* until its first clause is written (as the default clause chunker cuts it);
after that it is a *tail*. With `llm.tail_pause_s` set, a tail stops at its next token while any
head is writing, on any llama.cpp model of the process (the cores are shared), but only while its
listener has at least `llm.tail_pause_queued_s` of the reply's audio made and not yet heard
(`listener_ahead`, from the session's output); it goes on from what it wrote once the heads are
done, the listener's queue runs down to that, or its pause budget is spent. Pausing without
looking at the listener (the last stop) gave 27 gaps against 18 in three soaks each (docs/soak.md).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from rejoinder.backends.worker import PendingCount
from rejoinder.chunking import ClauseChunker

POLL_S = 0.02
"""How often a paused tail looks at the heads and its listener's queue."""

ListenerAhead = Callable[[], float]
"""Seconds of the reply's audio made and not yet heard by its listener; read on any thread."""

_AHEAD: ContextVar[ListenerAhead | None] = ContextVar("rejoinder_listener_ahead", default=None)


@contextmanager
def listener_ahead(ahead: ListenerAhead | None) -> Iterator[None]:
    """LLM streams opened inside know how far their listener is covered (None: not known, and
    then they never pause)."""
    token = _AHEAD.set(ahead)
    try:
        yield
    finally:
        _AHEAD.reset(token)


def current_listener_ahead() -> ListenerAhead | None:
    return _AHEAD.get()


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

    async def until_clear(self, timeout_s: float, give_up: Callable[[], bool] | None = None) -> float:
        """Wait until no head is writing, at most `timeout_s`, and no longer than `give_up()`
        stays false; the seconds waited."""
        start = time.monotonic()
        deadline = start + timeout_s
        while self.busy and not (give_up is not None and give_up()):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            await asyncio.sleep(min(POLL_S, left))
        return time.monotonic() - start


HEADS = HeadGate()
"""One gate per process: all llama.cpp models share the cores."""
