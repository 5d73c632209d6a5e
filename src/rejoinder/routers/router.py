"""Tiers and thresholds: a scorer's strong-model probability -> the tier that answers."""

from __future__ import annotations

import copy
import re
import time
from collections.abc import Sequence

import numpy as np

from rejoinder.config import RouterConfig
from rejoinder.errors import BadInputError
from rejoinder.routers.features import FeatureScorer
from rejoinder.routers.learned import LearnedScorer, _history, load_rows
from rejoinder.stages.llm import Message
from rejoinder.stages.router import RouteDecision, Scorer

REFUSAL = re.compile(
    r"\b(i don'?t know|i'?m not sure|i am not sure|i can(?:no|')t (?:answer|help|say)|i'?m unable|"
    r"i am unable|as an ai|i have no (?:idea|information))\b",
    re.IGNORECASE,
)


def is_refusal(text: str) -> bool:
    return bool(REFUSAL.search(text))


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def is_echo(clause: str, question: str) -> bool:
    """The reply's first clause only repeats the user's words: a small model's way of failing
    ("Hello?" -> "Hello?"), and it teaches the model to go on echoing through the history.
    A short clause counts only when it is the whole question."""
    said, asked = _words(clause), _words(question)
    if not said:
        return False
    return said == asked or (len(said) >= 3 and asked[: len(said)] == said)


def make_scorer(strategy: str) -> Scorer:
    if strategy == "features":
        return FeatureScorer()
    if strategy == "learned":
        return LearnedScorer()
    raise BadInputError(f"unknown routing strategy {strategy!r}; use 'features' or 'learned'")


def calibrate(scores: Sequence[float], shares: Sequence[float]) -> list[float]:
    """Thresholds so that a fraction shares[i] of queries scores at or above boundary i (RouteLLM-style).

    shares run from the lowest boundary up, e.g. [0.5, 0.2]: half reach medium or large, a fifth large.
    """
    if not scores:
        raise ValueError("no calibration scores")
    ordered = np.sort(np.asarray(scores))
    out = []
    for share in shares:
        if not 0.0 <= share <= 1.0:
            raise BadInputError(f"share {share} is not in [0, 1]")
        index = int(np.clip(round((1.0 - share) * len(ordered)), 0, len(ordered)))
        out.append(float(ordered[index]) if index < len(ordered) else 1.0 + 1e-9)
    return out


class Router:
    def __init__(self, config: RouterConfig, scorer: Scorer | None = None) -> None:
        self.config = config
        self.tiers = [t.name for t in config.tiers] or ["small", "strong"]
        self.scorer = scorer or make_scorer(config.strategy)
        if config.thresholds is not None:
            if len(config.thresholds) != len(self.tiers) - 1:
                raise BadInputError(f"{len(self.tiers)} tiers need {len(self.tiers) - 1} threshold(s)")
            self.thresholds = list(config.thresholds)
        elif config.strong_share is not None:
            self.thresholds = self._calibrated(config.strong_share)
        else:  # the scores are probabilities: split [0, 1] evenly (0.5 for two tiers)
            n = len(self.tiers)
            self.thresholds = [i / n for i in range(1, n)]

    def _calibrated(self, top: float) -> list[float]:
        """Thresholds from the calibration split: `top` share to the top tier, the rest spread evenly."""
        rows = load_rows("calib")
        scores = [self.scorer.score(r["text"], _history(r))[0] for r in rows]
        boundaries = len(self.tiers) - 1
        shares = [top + (1.0 - top) * (boundaries - 1 - i) / boundaries for i in range(boundaries)]
        return calibrate(scores, shares)

    def keeping(self, names: Sequence[str]) -> Router:
        """This router over some of its tiers (the others failed to load): a query that would
        have gone to a missing tier goes to the next kept tier up, or down when the top is gone."""
        tiers, thresholds = list(self.tiers), list(self.thresholds)
        for i in reversed(range(len(tiers))):
            if tiers[i] not in names:
                del tiers[i]
                if thresholds:
                    del thresholds[min(i, len(thresholds) - 1)]
        kept = copy.copy(self)
        kept.tiers, kept.thresholds = tiers, thresholds
        return kept

    def route(self, text: str, history: Sequence[Message] = ()) -> RouteDecision:
        t0 = time.perf_counter()
        score, features = self.scorer.score(text, history)
        index = sum(score >= t for t in self.thresholds)
        ms = (time.perf_counter() - t0) * 1000
        return RouteDecision(self.tiers[index], index, score, self.scorer.name, ms, features)

    def escalate(self, decision: RouteDecision) -> RouteDecision:
        top = len(self.tiers) - 1
        return RouteDecision(
            self.tiers[top],
            top,
            decision.score,
            decision.strategy,
            decision.ms,
            decision.features,
            escalated=True,
        )


def build_router(config: RouterConfig) -> Router:
    return Router(config)
