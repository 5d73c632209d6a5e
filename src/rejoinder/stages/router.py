"""Routing: which LLM tier should answer this turn."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from rejoinder.stages.llm import Message


@dataclass(frozen=True)
class RouteDecision:
    tier: str
    tier_index: int
    score: float
    """Probability that the turn needs the strong model, in [0, 1]."""
    strategy: str
    ms: float
    features: dict[str, float] = field(default_factory=dict)
    escalated: bool = False

    def to_dict(self) -> dict[str, object]:
        return {
            "tier": self.tier,
            "score": round(self.score, 3),
            "ms": round(self.ms, 3),
            "strategy": self.strategy,
            "escalated": self.escalated,
        }


class Scorer(Protocol):
    """A strategy: the strong-model probability for `text` given the conversation so far."""

    name: str

    def score(self, text: str, history: Sequence[Message]) -> tuple[float, dict[str, float]]: ...
