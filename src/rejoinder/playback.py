"""What the listener has actually heard of each reply, so that a barge-in leaves in the chat
history only the words that were played (the server-side twin of the OpenAI Realtime
`conversation.item.truncate`, which does the same from a client's `audio_end_ms`).

The paced output (output.py) reports each clause's text, the audio produced for it and
when each piece it delivers will play; the session asks, when a turn is cut short, what was heard
by then: whole clauses, then the words of the clause in progress in proportion to its audio.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

KEEP_TURNS = 16
"""Turns remembered for a late `conversation.item.truncate` from the client."""


def words_heard(text: str, played_s: float, total_s: float) -> str:
    """The words of `text` heard after `played_s` of its `total_s` of audio (a word counts once
    its end has played, so round down)."""
    if total_s <= 0 or played_s <= 0:
        return ""
    words = text.split()
    return " ".join(words[: int(len(words) * min(played_s / total_s, 1.0))])


@dataclass
class _Clause:
    text: str
    produced_s: float = 0.0
    pieces: list[tuple[float, float]] = field(default_factory=list)
    """(plays_at on the perf_counter clock, duration in s) of each delivered piece."""
    delivered: bool = False

    def heard_s(self, now: float) -> float:
        return sum(min(max(now - at, 0.0), length) for at, length in self.pieces)

    @property
    def ends_at(self) -> float:
        return max((at + length for at, length in self.pieces), default=0.0)


class PlaybackLog:
    """Per turn and clause: text, audio produced, audio delivered and when it plays."""

    def __init__(self) -> None:
        self._turns: dict[int, dict[int, _Clause]] = {}

    def clause(self, turn: int, index: int, text: str) -> None:
        """A clause is about to be synthesised."""
        self._turns.setdefault(turn, {})[index] = _Clause(text)
        for old in sorted(self._turns)[:-KEEP_TURNS]:
            del self._turns[old]

    def produced(self, turn: int, index: int, seconds: float) -> None:
        """The TTS produced `seconds` more audio for this clause."""
        clause = self._turns.get(turn, {}).get(index)
        if clause is not None:
            clause.produced_s += seconds

    def sent(self, turn: int, index: int, seconds: float, plays_at: float) -> None:
        """A piece of this clause went to the listener and starts playing at `plays_at`."""
        clause = self._turns.get(turn, {}).get(index)
        if clause is not None:
            clause.pieces.append((plays_at, seconds))

    def delivered(self, turn: int, index: int) -> None:
        """All audio of this clause went to the listener."""
        clause = self._turns.get(turn, {}).get(index)
        if clause is not None:
            clause.delivered = True

    def heard(self, turn: int, now: float | None = None) -> list[str]:
        """The reply as heard until `now`: whole clauses, then the words heard of the next one."""
        now = time.perf_counter() if now is None else now
        heard: list[str] = []
        for _, clause in sorted(self._turns.get(turn, {}).items()):
            if clause.delivered and now >= clause.ends_at:
                heard.append(clause.text)
                continue
            if partial := words_heard(clause.text, clause.heard_s(now), clause.produced_s):
                heard.append(partial)
            break
        return heard

    def heard_until(self, turn: int, audio_s: float) -> list[str] | None:
        """The reply as heard by a listener who stopped `audio_s` into its audio (None: turn
        unknown or forgotten)."""
        if turn not in self._turns:
            return None
        heard: list[str] = []
        for _, clause in sorted(self._turns[turn].items()):
            if audio_s >= clause.produced_s:
                heard.append(clause.text)
                audio_s -= clause.produced_s
                continue
            if partial := words_heard(clause.text, audio_s, clause.produced_s):
                heard.append(partial)
            break
        return heard

    def audio_s(self, turn: int) -> float | None:
        """Seconds of audio produced for `turn` so far (None: turn unknown or forgotten)."""
        clauses = self._turns.get(turn)
        return None if clauses is None else sum(c.produced_s for c in clauses.values())

    def ends_at(self, turn: int) -> float:
        """When the last audio delivered for `turn` stops playing (perf_counter clock)."""
        return max((c.ends_at for c in self._turns.get(turn, {}).values()), default=0.0)
