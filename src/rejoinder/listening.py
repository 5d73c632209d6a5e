"""How a listener hears a reply whose audio arrives in pieces: the gaps, for the load tools."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ListeningClock:
    """Plays each piece as it arrives, after the ones before it; a piece that comes once the audio
    before it has finished playing leaves a gap (an underrun) the listener hears."""

    ends_at: float = 0.0
    """Wall time at which what has arrived so far will have been played."""
    underruns: int = 0
    underrun_ms: float = 0.0
    started_at: float | None = None
    """When the current reply's first piece arrived (None: none since `next_reply`)."""

    def next_reply(self) -> None:
        """The next piece `hear` gets starts a new reply."""
        self.started_at = None

    def hear(self, seconds: float, now: float) -> None:
        """A piece of the current reply: the first since `next_reply` starts it, and its arrival
        is the reply's first audio."""
        new_reply = self.started_at is None
        if new_reply:
            self.started_at = now
        self.play(seconds, now, new_reply)

    def play(self, seconds: float, now: float, new_reply: bool = False) -> None:
        if new_reply:
            self.ends_at = now
        elif now > self.ends_at:
            self.underruns += 1
            self.underrun_ms += (now - self.ends_at) * 1000
            self.ends_at = now
        self.ends_at += seconds
