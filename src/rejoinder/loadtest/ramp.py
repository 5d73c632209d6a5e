"""Capacity: add clients until voice-to-voice p95 passes the bound (or a question goes unanswered).

Each level is a fresh load run on the same loaded models; the capacity is the most concurrent
talking clients of the last level that stayed under the bound with every question answered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from rejoinder.engine import Engine
from rejoinder.loadtest.corpus import Question
from rejoinder.loadtest.run import LoadResult, LoadSettings, run_load


@dataclass(frozen=True)
class RampSettings:
    bound_ms: float = 1000.0
    """Voice-to-voice p95 a level must stay under."""
    start: int = 1
    step: int = 1
    max_clients: int = 32


@dataclass
class RampResult:
    bound_ms: float
    capacity: int
    """Most concurrent clients that held the bound (0: not even the first level did)."""
    stopped: str
    """Why the ramp stopped."""
    levels: list[LoadResult] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "bound_ms": self.bound_ms,
            "capacity": self.capacity,
            "stopped": self.stopped,
            "levels": [level.to_dict() for level in self.levels],
        }


def verdict(result: LoadResult, bound_ms: float) -> str | None:
    """Why this level fails the bound, or None if it holds."""
    p95 = result.voice_to_voice_ms.p95
    if result.refused:
        return f"{result.refused} of {result.settings.clients} clients refused by the server"
    if result.answered < result.asked:
        return f"{result.asked - result.answered} of {result.asked} questions unanswered"
    if p95 is None or p95 > bound_ms:
        return f"voice-to-voice p95 {p95} ms > {bound_ms:g} ms"
    return None


async def run_ramp(
    engine: Engine | None,
    questions: list[Question],
    load: LoadSettings,
    ramp: RampSettings,
    on_level: Callable[[LoadResult, str | None], None] | None = None,
    url: str | None = None,
    api_key: str | None = None,
) -> RampResult:
    result = RampResult(ramp.bound_ms, 0, f"reached --max-clients {ramp.max_clients}")
    clients = ramp.start
    while clients <= ramp.max_clients:
        level = await run_load(
            engine, questions, replace(load, clients=clients, seed=load.seed + clients), url, api_key
        )
        result.levels.append(level)
        failed = verdict(level, ramp.bound_ms)
        if on_level is not None:
            on_level(level, failed)
        if failed is not None:
            result.stopped = f"{clients} clients: {failed}"
            break
        result.capacity = clients
        clients += ramp.step
    return result
