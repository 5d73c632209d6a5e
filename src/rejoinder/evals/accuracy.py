"""Accuracy of the spoken agent: the bundled question set replayed through the voice pipeline.

Each conversation gets a fresh Session; each user turn's audio goes through VAD, STT, routing,
the LLM, the chunker and TTS exactly as with `rejoinder reply`. Between turns the simulated user
"listens" to the reply (up to its audio length) before speaking again, which is when the
session caches the new history in each tier. The same loaded models serve every configuration
of one run: routed (the default), the small tier alone and the strong tier alone.
"""

from __future__ import annotations

import asyncio
import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from rejoinder.audio import SAMPLE_RATE, read_audio
from rejoinder.bench import summarise
from rejoinder.config import Config
from rejoinder.engine import Engine
from rejoinder.evals.questions import CATEGORIES, Conversation, is_correct
from rejoinder.output import DirectOutput
from rejoinder.session import Session
from rejoinder.timeline import TurnReport

CONFIGS = ("routed", "small-only", "strong-only")
"""routed: the default two tiers; small-only: routing off, the small tier's model and prompt
(SmolLM2 by default, the baseline); strong-only: routing off, the strong tier for every turn."""

Progress = Callable[[str, int, int], None]
"""Called with (configuration, turns done, turns in total)."""


@dataclass
class TurnResult:
    config: str
    conversation: str
    category: str
    split: str
    turn: int
    question: str
    transcript: str
    reply: str
    scored: bool
    correct: bool | None
    tier: str
    escalated: bool
    status: str
    first_audio_ms: float | None
    llm_first_token_ms: float | None
    stt_ms: float | None
    error: str | None = None
    pieces: int = 1
    """Turns the session made of this one spoken turn (2+: the end-of-turn decision cut it; the
    last piece's reply is scored)."""
    tool_calls: list[dict[str, object]] = field(default_factory=list)
    """The tools called for it, in every piece (the turn reports' view; the tool eval scores them)."""


@dataclass
class ConfigRun:
    name: str
    results: list[TurnResult] = field(default_factory=list)
    wall_s: float = 0.0


def engine_for(engine: Engine, name: str) -> tuple[Engine, Config]:
    """The engine and settings of one configuration, sharing the loaded models of `engine`
    (which must have been loaded with routing on)."""
    if name == "routed":
        return engine, engine.config
    if engine.router is None or len(engine.tiers) < 2:
        raise RuntimeError("the eval needs an engine loaded with routing on")
    tier = engine.tiers[0] if name == "small-only" else engine.tiers[-1]
    config = engine.config.model_copy(
        update={"llm": tier.config, "router": engine.config.router.model_copy(update={"enabled": False})}
    )
    return Engine.from_stages(config, vad=engine.vad, stt=engine.stt, llm=tier.llm, tts=engine.tts), config


async def _listen(session: Session, seconds: float) -> None:
    """The user hears the reply before speaking again: the responder's background work (caching
    the new history in each tier) gets up to the reply's length to finish, as it would live."""
    pending = [t for t in getattr(session.responder, "_background", ()) if not t.done()]
    if pending and seconds > 0:
        await asyncio.wait(pending, timeout=seconds)


MAX_SILENCE_S = 10.0
"""The most silence fed after a turn while waiting for the session to end it."""


async def _say(session: Session, audio: np.ndarray, frame: int, silence_s: float) -> None:
    """Feed one spoken turn, then silence until the session has answered it (the end-of-turn
    decision may wait longer than `silence_s` when it is unsure), as fast as the session takes it."""
    before = len(session.reports)
    padded = np.concatenate([audio, np.zeros(int(silence_s * SAMPLE_RATE), np.float32)])
    for start in range(0, padded.size, frame):
        await session.push_audio(padded[start : start + frame])
        if session.busy:
            await session.wait_idle()
    quiet = np.zeros(frame, np.float32)
    waited = 0.0
    # until it has answered, and no part of the utterance is still waiting for its end of turn
    while (len(session.reports) == before or session.state != "listening") and waited < MAX_SILENCE_S:
        await session.push_audio(quiet)
        waited += frame / SAMPLE_RATE
        if session.busy:
            await session.wait_idle()
    await session.wait_idle()


async def run_conversation(
    engine: Engine, config: Config, conv: Conversation, name: str, tier: str, text_only: bool = False
) -> list[TurnResult]:
    """`tier`: the tier that answers every turn when routing is off."""
    reply_samples: dict[int, int] = {}
    rate = engine.tts.sample_rate

    def heard(turn: int, audio: np.ndarray, _rate: int) -> None:
        reply_samples[turn] = reply_samples.get(turn, 0) + audio.size

    session = Session(engine, config=config, output=DirectOutput(heard))
    silence_s = (config.vad.min_silence_ms + 300) / 1000
    out: list[TurnResult] = []
    try:
        for i, turn in enumerate(conv.turns):
            before = len(session.reports)
            if text_only:
                await session.respond(turn.text)
            else:
                await _say(session, read_audio(turn.audio, max_s=30), engine.vad.frame_samples, silence_s)
            new = session.reports[before:]
            report = new[-1] if new else None
            result = _result(name, tier, conv, i, report)
            if len(new) > 1:  # the end-of-turn decision cut it: what was heard is every piece
                result.transcript = " ".join(r.transcript for r in new if r.transcript)
            calls = [c for r in new for c in r.tool_calls]
            out.append(replace(result, pieces=len(new), tool_calls=calls))
            if report is not None:
                await _listen(session, reply_samples.get(report.index, 0) / rate)
    finally:
        await session.close()
    return out


def _result(name: str, tier: str, conv: Conversation, i: int, report: TurnReport | None) -> TurnResult:
    turn = conv.turns[i]
    if report is None:  # the VAD heard no turn at all
        reply, transcript, status, timings, escalated, error = "", "", "missed", {}, False, None
        tier = "-"
    else:
        reply, transcript, status = report.reply, report.transcript, report.status
        timings = report.timeline.timings_ms()
        if report.route is not None:
            tier, escalated = report.route.tier, report.route.escalated
        else:
            escalated = False
        error = report.error
    return TurnResult(
        config=name,
        conversation=conv.id,
        category=conv.category,
        split=conv.split,
        turn=i,
        question=turn.text,
        transcript=transcript,
        reply=reply,
        scored=turn.scored,
        correct=is_correct(turn, reply) if turn.scored else None,
        tier=tier,
        escalated=escalated,
        status=status,
        first_audio_ms=timings.get("first_audio"),
        llm_first_token_ms=timings.get("llm_first_token"),
        stt_ms=timings.get("stt"),
        error=error,
    )


async def run_eval(
    engine: Engine,
    conversations: Sequence[Conversation],
    configs: Sequence[str] = CONFIGS,
    progress: Progress | None = None,
    text_only: bool = False,
) -> list[ConfigRun]:
    total = sum(len(c.turns) for c in conversations)
    runs = []
    for name in configs:
        single, config = engine_for(engine, name)
        tier = engine.tiers[0].name if name == "small-only" else engine.tiers[-1].name
        run = ConfigRun(name)
        t0 = time.perf_counter()
        if progress:
            progress(name, 0, total)
        for conv in conversations:
            run.results += await run_conversation(single, config, conv, name, tier, text_only)
            if progress:
                progress(name, len(run.results), total)
        run.wall_s = round(time.perf_counter() - t0, 1)
        runs.append(run)
    return runs


def _accuracy(results: Sequence[TurnResult]) -> dict[str, Any]:
    scored = [r for r in results if r.scored]
    right = sum(bool(r.correct) for r in scored)
    return {
        "correct": right,
        "scored": len(scored),
        "accuracy": round(right / len(scored), 3) if scored else None,
    }


def _latency(results: Sequence[TurnResult]) -> dict[str, Any]:
    return {
        "first_audio_ms": summarise([r.first_audio_ms for r in results if r.first_audio_ms is not None]),
        "llm_first_token_ms": summarise(
            [r.llm_first_token_ms for r in results if r.llm_first_token_ms is not None]
        ),
    }


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    """Word-level Levenshtein distance (substitutions, insertions, deletions)."""
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """Word-level edit distance and reference length, on lower-case words without punctuation."""
    import re

    ref = re.findall(r"[a-z0-9']+", reference.lower())
    return edit_distance(ref, re.findall(r"[a-z0-9']+", hypothesis.lower())), len(ref)


def summarise_run(run: ConfigRun) -> dict[str, Any]:
    results = run.results
    tiers = sorted({r.tier for r in results})
    errors = [word_errors(r.question, r.transcript) for r in results if r.status != "missed"]
    return {
        "config": run.name,
        "wall_s": run.wall_s,
        "overall": _accuracy(results),
        "per_category": {c: _accuracy([r for r in results if r.category == c]) for c in CATEGORIES},
        "per_split": {s: _accuracy([r for r in results if r.split == s]) for s in ("tune", "holdout")},
        "per_tier": {
            t: {
                **_accuracy([r for r in results if r.tier == t]),
                "turns": sum(r.tier == t for r in results),
                **_latency([r for r in results if r.tier == t]),
            }
            for t in tiers
        },
        "latency": _latency(results),
        "escalated": sum(r.escalated for r in results),
        "failed": sum(r.status not in ("completed", "empty") for r in results),
        "cut_turns": sum(r.pieces > 1 for r in results),
        "stt_wer": round(sum(e for e, _ in errors) / max(1, sum(n for _, n in errors)), 3),
    }


def pipeline(engine: Engine) -> dict[str, Any]:
    """What answered, for a report: the STT, the tiers and the router."""
    cfg = engine.config
    return {
        "stt": f"{cfg.stt.backend} ({cfg.stt.model})",
        "tiers": [
            {"name": t.name, "model": t.llm.model, "max_tokens": t.llm.max_tokens, "backend": t.llm.backend}
            for t in cfg.tier_configs()
        ],
        "router": {
            "strategy": cfg.router.strategy,
            "thresholds": list(getattr(engine.router, "thresholds", [])),
        },
    }


def report(engine: Engine, runs: Sequence[ConfigRun], text_only: bool, wall_s: float) -> dict[str, Any]:
    return {
        "mode": "text" if text_only else "audio (file mode: no real-time pacing)",
        **pipeline(engine),
        "wall_s": round(wall_s, 1),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        "configs": [summarise_run(r) for r in runs],
        "turns": [asdict(r) for run in runs for r in run.results],
    }
