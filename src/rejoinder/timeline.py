"""Per-turn timestamps and the turn report. Every turn records them; reports give milliseconds
after the end of speech."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

from rejoinder.events import TurnStatus
from rejoinder.stages.llm import TokenUsage
from rejoinder.stages.router import RouteDecision

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

    def adopt(self, other: Timeline) -> None:
        """Take the marks of work done ahead of this turn (speculation), keeping ours."""
        for name, at in other.marks.items():
            self.mark(name, at)

    def span_ms(self, start: str, end: str) -> float | None:
        if start in self.marks and end in self.marks:
            return round((self.marks[end] - self.marks[start]) * 1000, 1)
        return None

    def offsets_ms(self, origin: str = "speech_end") -> dict[str, float]:
        """Each mark relative to `origin` (the end-of-turn decision)."""
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


@dataclass(frozen=True)
class EndOfTurnDecision:
    """What ended the user's turn: 'silence' (fixed), 'model' (end-of-turn model), 'cap' (waited
    as long as allowed), 'max_turn' or 'input_end'."""

    reason: str
    probability: float | None = None
    """The end-of-turn model's last probability that the turn was complete, if asked."""
    check_ms: float = 0.0
    """Wall time of the deciding check (model and transcript); live, the decision comes this
    much after the silence waited."""
    detail: str = ""
    """Why, in words: what held a turn to the cap ("transcript dictating digits", the text
    model's probability), or the model's verdict."""


@dataclass
class TurnReport:
    index: int
    start_s: float
    end_s: float
    transcript: str = ""
    reply: str = ""
    status: TurnStatus = "completed"
    """completed, cancelled (barge-in), empty (nothing understood) or failed."""
    error: str | None = None
    endpointing_ms: float = 0.0
    """Silence waited before the end of the turn was decided (not part of first_audio)."""
    end_of_turn: EndOfTurnDecision | None = None
    timeline: Timeline = field(default_factory=Timeline)
    route: RouteDecision | None = None
    speculative: bool = False
    """STT and the LLM started during the end-of-turn silence and were adopted."""
    speculative_audio: bool = False
    """The first clause's speech was made during that silence too."""
    unspoken_tail: str | None = None
    """An unfinished phrase cut by the token limit, not spoken."""
    tool_calls: list[dict[str, object]] = field(default_factory=list)
    """The tools called for this turn: name, arguments, status, output, ms, interrupted."""
    usage: TokenUsage | None = None
    """The model's tokens read and written, where the backend counts them."""

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
            "speculative": self.speculative,
        }
        if self.end_of_turn is not None:
            out["end_of_turn"] = {
                "reason": self.end_of_turn.reason,
                "probability": None
                if self.end_of_turn.probability is None
                else round(self.end_of_turn.probability, 3),
                "check_ms": self.end_of_turn.check_ms,
                **({"detail": self.end_of_turn.detail} if self.end_of_turn.detail else {}),
            }
        if self.error:
            out["error"] = self.error
        if self.usage is not None:
            out["usage"] = dataclasses.asdict(self.usage)
        if self.route is not None:
            out["route"] = self.route.to_dict()
        if self.speculative_audio:
            out["speculative_audio"] = True
        if self.unspoken_tail:
            out["unspoken_tail"] = self.unspoken_tail
        if self.tool_calls:
            out["tool_calls"] = self.tool_calls
        return out
