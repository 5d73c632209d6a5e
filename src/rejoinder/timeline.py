"""Per-turn timestamps. Every turn records them; reports give milliseconds after speech end."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

MARKS = (
    "speech_start",
    "speech_end",
    "stt_start",
    "transcript",
    "llm_start",
    "first_token",
    "first_clause",
    "first_audio",
    "llm_done",
    "reply_done",
)


@dataclass
class Timeline:
    marks: dict[str, float] = field(default_factory=dict)

    def mark(self, name: str, at: float | None = None) -> None:
        """Record the first time `name` happens; later calls keep the first."""
        self.marks.setdefault(name, time.perf_counter() if at is None else at)

    def span_ms(self, start: str, end: str) -> float | None:
        if start in self.marks and end in self.marks:
            return round((self.marks[end] - self.marks[start]) * 1000, 1)
        return None

    def offsets_ms(self, origin: str = "speech_end") -> dict[str, float]:
        """Each mark relative to `origin` (the VAD's end-of-speech decision)."""
        if origin not in self.marks:
            return {}
        t0 = self.marks[origin]
        return {k: round((v - t0) * 1000, 1) for k, v in sorted(self.marks.items(), key=lambda kv: kv[1])}

    def timings_ms(self) -> dict[str, float | None]:
        return {
            "stt": self.span_ms("stt_start", "transcript"),
            "llm_first_token": self.span_ms("llm_start", "first_token"),
            "llm_total": self.span_ms("llm_start", "llm_done"),
            "tts_first_audio": self.span_ms("first_clause", "first_audio"),
            "first_audio": self.span_ms("speech_end", "first_audio"),
        }


@dataclass
class TurnReport:
    index: int
    start_s: float
    end_s: float
    transcript: str = ""
    reply: str = ""
    status: str = "completed"
    """completed, cancelled (barge-in), empty (nothing understood) or failed."""
    error: str | None = None
    endpointing_ms: float = 0.0
    timeline: Timeline = field(default_factory=Timeline)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "index": self.index,
            "start_s": round(self.start_s, 3),
            "end_s": round(self.end_s, 3),
            "transcript": self.transcript,
            "reply": self.reply,
            "status": self.status,
            "timings_ms": self.timeline.timings_ms(),
            "timeline_ms": self.timeline.offsets_ms(),
            "endpointing_ms": self.endpointing_ms,
        }
        if self.error:
            out["error"] = self.error
        out.update(self.extra)
        return out
