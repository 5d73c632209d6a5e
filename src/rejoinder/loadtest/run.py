"""One load level: N clients, each with its own questions, random start offsets and think times."""

from __future__ import annotations

import asyncio
import logging
import math
import random
from dataclasses import asdict, dataclass, field
from typing import Any

from rejoinder.engine import Engine
from rejoinder.loadtest.client import ClientSettings, LoadClient, TurnResult
from rejoinder.loadtest.corpus import Question, deal, distinct_share
from rejoinder.loadtest.remote import RemoteClient, run_remote
from rejoinder.loadtest.resources import ResourceSampler, ResourceUse

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Percentiles:
    n: int
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    max: float | None = None

    @classmethod
    def of(cls, values: list[float | None]) -> Percentiles:
        """Nearest-rank percentiles (p95 of 20 values is the 19th smallest)."""
        ordered = sorted(v for v in values if v is not None)
        if not ordered:
            return cls(0)

        def rank(q: float) -> float:
            return round(ordered[max(0, math.ceil(q * len(ordered)) - 1)], 1)

        return cls(len(ordered), rank(0.5), rank(0.95), rank(0.99), round(ordered[-1], 1))


@dataclass(frozen=True)
class LoadSettings:
    clients: int = 4
    turns: int = 4
    """Questions each client asks."""
    seed: int = 0
    spread_s: float = 3.0
    """Clients start at uniformly random offsets in [0, spread_s]."""
    think_s: tuple[float, float] = (1.0, 4.0)
    """Silence between hearing a reply and asking the next question, uniformly random."""
    answer_timeout_s: float = 20.0


@dataclass
class LoadResult:
    settings: LoadSettings
    asked: int
    answered: int
    distinct_share: float
    """Distinct questions over questions asked (1.0: nobody asked the same question twice)."""
    voice_to_voice_ms: Percentiles
    first_audio_ms: Percentiles
    endpointing_ms: Percentiles
    stt_ms: Percentiles
    llm_first_token_ms: Percentiles
    tts_first_audio_ms: Percentiles
    underruns: int
    underrun_ms: float
    resources: ResourceUse
    """With `url`, this process is only the load generator: the server's CPU is in 'other'."""
    refused: int = 0
    """Clients the server refused at connection (remote runs only)."""
    url: str | None = None
    turns: list[TurnResult] = field(default_factory=list)

    def to_dict(self, with_turns: bool = False) -> dict[str, Any]:
        data = asdict(self)
        if not with_turns:
            data.pop("turns")
        return data


async def run_load(
    engine: Engine | None,
    questions: list[Question],
    settings: LoadSettings,
    url: str | None = None,
    api_key: str | None = None,
) -> LoadResult:
    """In this process on `engine`, or against the server at `url` over its Realtime WebSocket."""
    hands = deal(questions, settings.clients, settings.turns, settings.seed)
    rng = random.Random(settings.seed)
    client_settings = [
        ClientSettings(
            start_delay_s=rng.uniform(0, settings.spread_s),
            think_s=settings.think_s,
            answer_timeout_s=settings.answer_timeout_s,
            seed=rng.randrange(1 << 30),
        )
        for _ in hands
    ]
    log.info("load started", extra={"clients": settings.clients, "turns": settings.turns, "url": url})
    clients: list[LoadClient] | list[RemoteClient]
    with ResourceSampler() as sampler:
        if url is not None:
            clients = await run_remote(url, hands, client_settings, api_key)
        else:
            assert engine is not None
            clients = [LoadClient(engine, hand, s) for hand, s in zip(hands, client_settings, strict=True)]
            await asyncio.gather(*(c.run() for c in clients))
    turns = [t for c in clients for t in c.results]
    result = LoadResult(
        settings=settings,
        asked=len(turns),
        answered=sum(t.answered for t in turns),
        distinct_share=distinct_share(hands),
        voice_to_voice_ms=Percentiles.of([t.voice_to_voice_ms for t in turns]),
        first_audio_ms=Percentiles.of([t.first_audio_ms for t in turns]),
        endpointing_ms=Percentiles.of([t.endpointing_ms for t in turns]),
        stt_ms=Percentiles.of([t.stt_ms for t in turns]),
        llm_first_token_ms=Percentiles.of([t.llm_first_token_ms for t in turns]),
        tts_first_audio_ms=Percentiles.of([t.tts_first_audio_ms for t in turns]),
        underruns=sum(c.clock.underruns for c in clients),
        underrun_ms=round(sum(c.clock.underrun_ms for c in clients), 1),
        resources=sampler.use,
        refused=sum(isinstance(c, RemoteClient) and c.refused is not None for c in clients),
        url=url,
        turns=turns,
    )
    log.info(
        "load finished",
        extra={
            "clients": settings.clients,
            "answered": result.answered,
            "asked": result.asked,
            "v2v_p95_ms": result.voice_to_voice_ms.p95,
        },
    )
    return result
