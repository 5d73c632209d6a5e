"""Where a session's reply audio goes, and what the listener has heard of it.

The session writes each clause's audio to an `AudioOutput` and, on barge-in, clears it and asks
what was heard: that, not what was generated, enters the history. `PacedOutput` serves every
live transport (WebSocket deltas, a WebRTC track): it sends audio a short lead ahead of real
time, so a barge-in simply drops the unsent rest, and its `PlaybackLog` knows when each piece
plays. `DirectOutput` serves file mode and benchmarks, where everything written counts as heard.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from rejoinder.playback import KEEP_TURNS, PlaybackLog

LEAD_S = 0.25
"""How far reply audio is sent ahead of real time."""
PIECE_S = 0.1
"""Audio per delivered piece (one Realtime delta, a few WebRTC frames)."""


class AudioOutput(Protocol):
    def begin_clause(self, turn: int, clause: int, text: str) -> None:
        """A clause is about to be spoken (its text goes out just before its audio)."""

    async def write(self, turn: int, clause: int, audio: np.ndarray, sample_rate: int) -> None:
        """More audio of a clause, float32 mono."""

    def end_clause(self, turn: int, clause: int) -> None:
        """All audio of the clause has been written."""

    async def wait_played(self, turn: int) -> None:
        """Until everything written for `turn` has played to the listener."""

    def clear(self, turn: int) -> None:
        """Barge-in: audio of `turn` not yet delivered is never delivered."""

    def heard(self, turn: int) -> list[str]:
        """The reply of `turn` as heard until now: whole clauses, then the words of a partial one."""

    def queued_s(self) -> float:
        """Seconds of reply audio written and not yet heard: how long the listener is covered if
        no more comes (an LLM may pause its reply that long, llm_heads). Read on any thread."""


class DirectOutput:
    """No listener clock: audio is handed on as written and counts as heard once written."""

    def __init__(self, on_audio: Callable[[int, np.ndarray, int], None] | None = None) -> None:
        self._on_audio = on_audio
        self._clauses: dict[int, dict[int, tuple[str, bool]]] = {}

    def begin_clause(self, turn: int, clause: int, text: str) -> None:
        self._clauses.setdefault(turn, {})[clause] = (text, False)
        for old in sorted(self._clauses)[:-KEEP_TURNS]:
            del self._clauses[old]

    async def write(self, turn: int, clause: int, audio: np.ndarray, sample_rate: int) -> None:
        if self._on_audio is not None:
            self._on_audio(turn, audio, sample_rate)

    def end_clause(self, turn: int, clause: int) -> None:
        text, _ = self._clauses.get(turn, {}).get(clause, ("", False))
        self._clauses.setdefault(turn, {})[clause] = (text, True)

    async def wait_played(self, turn: int) -> None:
        return

    def clear(self, turn: int) -> None:
        return

    def heard(self, turn: int) -> list[str]:
        return [text for _, (text, done) in sorted(self._clauses.get(turn, {}).items()) if done]

    def queued_s(self) -> float:
        return 0.0  # no listener clock: nothing is known to be covered


class PlaybackTarget(Protocol):
    """The transport end of a PacedOutput: moves text and audio, decides nothing."""

    async def text(self, turn: int, text: str) -> None:
        """The transcript of the clause whose audio follows."""

    async def audio(self, turn: int, samples: np.ndarray, sample_rate: int) -> None:
        """A piece of audio that starts playing now (within the lead)."""

    def clear(self) -> None:
        """Drop audio the target itself still buffers (a media track's queue)."""


@dataclass
class _Item:
    kind: str
    turn: int
    clause: int = 0
    text: str = ""
    audio: np.ndarray | None = None
    sample_rate: int = 0
    played: asyncio.Future[None] | None = None


class PacedOutput:
    """Sends audio no more than LEAD_S ahead of real time, in order, and logs when it plays."""

    def __init__(self, target: PlaybackTarget) -> None:
        self.target = target
        self.log = PlaybackLog()
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._dropped: set[int] = set()
        self._wake: asyncio.Future[None] | None = None
        """Set by a barge-in to cut short the pacing wait."""
        self._started: float | None = None
        self._sent_s = 0.0
        self._unsent_s = 0.0
        """Audio written and not yet sent, in seconds."""
        self._task = asyncio.create_task(self._pace())

    def begin_clause(self, turn: int, clause: int, text: str) -> None:
        self.log.clause(turn, clause, text)
        self._queue.put_nowait(_Item("text", turn, clause, text=text))

    async def write(self, turn: int, clause: int, audio: np.ndarray, sample_rate: int) -> None:
        self.log.produced(turn, clause, audio.size / sample_rate)
        self._unsent_s += audio.size / sample_rate
        self._queue.put_nowait(_Item("audio", turn, clause, audio=audio, sample_rate=sample_rate))

    def end_clause(self, turn: int, clause: int) -> None:
        self._queue.put_nowait(_Item("delivered", turn, clause))

    async def wait_played(self, turn: int) -> None:
        played = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Item("mark", turn, played=played))
        await played
        # a loop's timers may fire early (uvloop's millisecond clock, cached per iteration, as in
        # Ray Serve and uvicorn): sleep again until the last piece has really played, or the
        # reply would be recorded as cut off a word before its end
        while (wait := self.log.ends_at(turn) - time.perf_counter()) > 0:
            await asyncio.sleep(wait)

    def clear(self, turn: int) -> None:
        self._dropped.add(turn)
        for old in sorted(self._dropped)[:-KEEP_TURNS]:
            self._dropped.discard(old)
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)
        self.target.clear()

    def heard(self, turn: int) -> list[str]:
        return self.log.heard(turn)

    def queued_s(self) -> float:
        started, sent_s = self._started, self._sent_s
        playing = 0.0 if started is None else max(0.0, started + sent_s - time.perf_counter())
        return playing + max(0.0, self._unsent_s)

    async def aclose(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _pace(self) -> None:
        while True:
            item = await self._queue.get()
            if item.kind == "mark":
                assert item.played is not None
                if not item.played.done():
                    item.played.set_result(None)
            elif item.turn in self._dropped:
                if item.audio is not None:
                    self._unsent_s -= item.audio.size / item.sample_rate
                continue
            elif item.kind == "text":
                await self.target.text(item.turn, item.text)
            elif item.kind == "audio":
                assert item.audio is not None
                await self._send(item.turn, item.clause, item.audio, item.sample_rate)
            elif item.kind == "delivered":
                self.log.delivered(item.turn, item.clause)

    async def _send(self, turn: int, clause: int, audio: np.ndarray, rate: int) -> None:
        step = max(1, int(PIECE_S * rate))
        for i in range(0, audio.size, step):
            now = time.perf_counter()
            if self._started is None or now > self._started + self._sent_s:  # ran dry: restart the clock
                self._started, self._sent_s = now, 0.0
            ahead = self._started + self._sent_s - now
            if ahead > LEAD_S:  # wait, unless a barge-in cuts the wait short
                self._wake = asyncio.get_running_loop().create_future()
                await asyncio.wait([self._wake], timeout=ahead - LEAD_S)
                self._wake = None
            if turn in self._dropped:
                self._unsent_s -= (audio.size - i) / rate
                return
            piece = audio[i : i + step]
            self._unsent_s -= piece.size / rate
            await self.target.audio(turn, piece, rate)
            self.log.sent(turn, clause, piece.size / rate, self._started + self._sent_s)
            self._sent_s += piece.size / rate
