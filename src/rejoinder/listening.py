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

    def play(self, seconds: float, now: float, new_reply: bool = False) -> None:
        if new_reply:
            self.ends_at = now
        elif now > self.ends_at:
            self.underruns += 1
            self.underrun_ms += (now - self.ends_at) * 1000
            self.ends_at = now
        self.ends_at += seconds
