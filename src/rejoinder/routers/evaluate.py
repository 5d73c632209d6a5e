"""Routing evaluation on the held-out split: accuracy, share per tier, decision time."""

from __future__ import annotations

import statistics
from typing import Any

from rejoinder.config import RouterConfig
from rejoinder.routers.learned import _history, load_rows
from rejoinder.routers.router import Router


def evaluate(config: RouterConfig, split: str = "test", repeats: int = 20) -> dict[str, Any]:
    router = Router(config)
    rows = load_rows(split)
    correct = 0
    tiers: dict[str, int] = {t: 0 for t in router.tiers}
    times: list[float] = []
    for row in rows:
        decision = router.route(row["text"], _history(row))
        for _ in range(repeats - 1):
            times.append(router.route(row["text"], _history(row)).ms)
        times.append(decision.ms)
        tiers[decision.tier] += 1
        strong = decision.tier_index == len(router.tiers) - 1
        correct += int(strong == bool(row["label"]))
    times.sort()
    return {
        "strategy": router.scorer.name,
        "split": split,
        "queries": len(rows),
        "accuracy": round(correct / max(1, len(rows)), 3),
        "thresholds": [round(t, 3) for t in router.thresholds],
        "share_per_tier": {t: round(n / max(1, len(rows)), 3) for t, n in tiers.items()},
        "labelled_strong_share": round(sum(r["label"] for r in rows) / max(1, len(rows)), 3),
        "decision_ms": {
            "median": round(statistics.median(times), 3),
            "p95": round(times[int(0.95 * len(times)) - 1], 3),
            "max": round(times[-1], 3),
        },
    }
