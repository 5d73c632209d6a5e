"""Which llama.cpp slot a conversation's requests go to.

Each slot keeps the KV cache of the last prompt it processed, so a conversation that comes back to
its own slot only processes its new words. llama.cpp's own choice does not keep a conversation on
its slot: four conversations taking turns on four slots of the 1.5B strong tier waited 3.6 s
(median) for their first token, re-reading their histories each time; pinned to their own slots,
0.47 s (2 cores, benchmarks/slot_affinity.py, docs/scaling.md). A conversation keeps its slot
while it lasts; a new one (or a request from no conversation, an HTTP call) takes an idle slot:
one whose conversation has ended, else the least recently used.
"""

from __future__ import annotations

import itertools
import threading


class SlotAffinity:
    def __init__(self, slots: int) -> None:
        self._owner: list[str | None] = [None] * slots
        self._busy = [0] * slots
        self._used = [0] * slots
        self._clock = itertools.count(1)
        self._lock = threading.Lock()

    def acquire(self, conversation: str | None, slot: int | None = None) -> int:
        """The slot for a request of `conversation` (None: of no conversation), or `slot` itself;
        release it after."""
        with self._lock:
            if slot is not None:
                pass
            elif conversation is not None and conversation in self._owner:
                slot = self._owner.index(conversation)
            else:
                slot = min(range(len(self._owner)), key=lambda s: (self._busy[s] > 0, self._used[s]))
                self._owner[slot] = conversation
            self._busy[slot] += 1
            self._used[slot] = next(self._clock)
            return slot

    def release(self, slot: int) -> None:
        with self._lock:
            self._busy[slot] -= 1

    def forget(self, conversation: str) -> None:
        """The conversation ended: its slot is the first a new one takes, before any live one's."""
        with self._lock:
            if conversation in self._owner:
                slot = self._owner.index(conversation)
                self._owner[slot], self._used[slot] = None, 0

    def __len__(self) -> int:
        return len(self._owner)

    def owner(self, slot: int) -> str | None:
        with self._lock:
            return self._owner[slot]
