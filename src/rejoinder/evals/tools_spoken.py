"""Tool calling, spoken: each request of the tool eval set (data/tools_eval.jsonl), said by the Piper
voice (data/tools_eval_audio, made by scripts/make_tool_audio.py), answered by a fresh Session with
the eval's tools in process, exactly as with `rejoinder reply --builtin-tools`: VAD, STT, the tool
rule, routing, the model's call, the tool, the spoken reply.

The typed eval (evals/tools.py) asks the model alone; hearing adds its own failures (a misheard
order number, a lost "plus 3") and the session its own decisions (which turns are offered tools,
the clock read without the model). Both are scored by the same code: precision and recall of
"called a tool", right tool, right arguments. Latency is first audio (the end-of-turn decision to
the first reply audio, as the accuracy eval reports it), apart for requests that need a tool and
those that do not.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from rejoinder.bench import summarise
from rejoinder.engine import Engine
from rejoinder.errors import BadInputError
from rejoinder.evals.accuracy import TurnResult, pipeline, run_conversation, word_errors
from rejoinder.evals.questions import Conversation, Turn, normalise
from rejoinder.evals.tools import CaseOutcome, ToolCase, arguments_match, score
from rejoinder.session import Session

SPLITS = ("tune", "holdout")
WARMUP = "Multiply 2 by 2."
"""Said (typed) once before the cases and not scored: the tool prompt is then cached, as in a
server that has answered before (the typed eval warms up the same way). Not a bare sum: those are
answered by the calculator without the model (tools/direct.py)."""


def audio_dir() -> Path:
    return Path(str(resources.files("rejoinder").joinpath("data", "tools_eval_audio")))


def audio_path(case: ToolCase, folder: Path | None = None) -> Path:
    """A request's clip: <id>.ogg, 16 kHz Ogg/Opus."""
    return (folder or audio_dir()) / f"{case.id}.ogg"


def check_audio(cases: Sequence[ToolCase], folder: Path | None = None) -> None:
    """Before any model loads: every clip is there."""
    missing = [p for c in cases if not (p := audio_path(c, folder)).is_file()]
    if missing:
        raise BadInputError(f"{missing[0]}: audio missing; run scripts/make_tool_audio.py")


@dataclass
class SpokenOutcome(CaseOutcome):
    """A typed outcome, so the typed eval's scoring applies, with what hearing and speaking added.
    `text` is the spoken reply; `tool_latency_ms` stays None (first audio is the measure here)."""

    request: str
    transcript: str
    first_audio_ms: float | None
    status: str
    tier: str
    pieces: int


def outcome(case: ToolCase, turn: TurnResult) -> SpokenOutcome:
    """Scored on the session's in-process calls, the first one deciding, as in the typed eval."""
    calls = [c for c in turn.tool_calls if not c.get("client")]
    names = [str(c["name"]) for c in calls]
    arguments = [str(c.get("arguments", "")) for c in calls]
    right_tool = bool(names) and names[0] == case.tool
    return SpokenOutcome(
        case.id,
        case.split,
        case.category,
        case.tool,
        names,
        arguments,
        right_tool,
        right_tool and arguments_match(case, arguments[0]),
        None,
        turn.reply,
        request=case.text,
        transcript=turn.transcript,
        first_audio_ms=turn.first_audio_ms,
        status=turn.status,
        tier=turn.tier,
        pieces=turn.pieces,
    )


async def evaluate(
    engine: Engine,
    cases: Sequence[ToolCase],
    folder: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[SpokenOutcome]:
    """Each request in a fresh Session on `engine` (whose `tools` are the eval's)."""
    warm = Session(engine)
    try:
        await warm.respond(WARMUP)
    finally:
        await warm.close()
    tier = engine.tiers[-1].name
    outcomes = []
    for i, case in enumerate(cases):
        conv = Conversation(case.id, case.category, case.split, (Turn(case.text, audio_path(case, folder)),))
        [turn] = await run_conversation(engine, engine.config, conv, "spoken", tier)
        result = outcome(case, turn)
        outcomes.append(result)
        if progress:
            progress(
                f"{i + 1}/{len(cases)} {case.id}: heard {turn.transcript!r}; called "
                f"{', '.join(result.called) or '-'}; first audio {turn.first_audio_ms} ms"
            )
    return outcomes


def _first_audio(outcomes: Sequence[SpokenOutcome]) -> dict[str, float | int]:
    return summarise([o.first_audio_ms for o in outcomes if o.first_audio_ms is not None])


def summarise_split(split: str, outcomes: Sequence[SpokenOutcome]) -> dict[str, Any]:
    """The typed eval's score (less its tool-call latency, not measured here), first audio for
    requests that need a tool and those that do not, and the STT's word error rate."""
    entry = asdict(score("spoken", split, outcomes))
    for key in ("model", "tool_latency_p50_ms", "tool_latency_p95_ms"):
        del entry[key]
    errors = [word_errors(normalise(o.request), normalise(o.transcript)) for o in outcomes]
    entry["first_audio_ms"] = {
        "tool": _first_audio([o for o in outcomes if o.expected]),
        "no_tool": _first_audio([o for o in outcomes if not o.expected]),
    }
    entry["stt_wer"] = round(sum(e for e, _ in errors) / max(1, sum(n for _, n in errors)), 3)
    return entry


def wrong(outcomes: Sequence[SpokenOutcome]) -> list[dict[str, Any]]:
    """Every request scored wrong (a needed call missing, another tool or other arguments, a call
    not needed), with what was heard, called and said."""
    return [
        {
            "id": o.id,
            "request": o.request,
            "transcript": o.transcript,
            "expected": o.expected,
            "called": o.called,
            "arguments": o.arguments,
            "reply": o.text,
        }
        for o in outcomes
        if (o.expected and not o.right_args) or (not o.expected and o.called)
    ]


def build_report(engine: Engine, outcomes: Sequence[SpokenOutcome], wall_s: float) -> dict[str, Any]:
    splits = [s for s in SPLITS if any(o.split == s for o in outcomes)]
    return {
        "mode": "spoken (file mode: no real-time pacing)",
        **pipeline(engine),
        "routing": engine.router is not None,
        "tools": [t.name for t in engine.tools or ()],
        "cases": len(outcomes),
        "wall_s": round(wall_s, 1),
        "scores": [summarise_split(s, [o for o in outcomes if o.split == s]) for s in splits]
        + [summarise_split("all", outcomes)],
        "wrong": wrong(outcomes),
        "silent": [o.id for o in outcomes if o.first_audio_ms is None],
        "outcomes": [asdict(o) for o in outcomes],
    }


def run(
    engine: Engine,
    cases: Sequence[ToolCase],
    folder: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    check_audio(cases, folder)
    t0 = time.perf_counter()
    outcomes = asyncio.run(evaluate(engine, cases, folder, progress))
    return build_report(engine, outcomes, time.perf_counter() - t0)


def _ms(summary: dict[str, float | int]) -> str:
    return f"{summary['median']:.0f}/{summary['p95']:.0f}" if summary.get("n") else "-"


def format_report(report: dict[str, Any]) -> str:
    lines = [
        f"{'split':<8} {'n':>3} {'precision':>9} {'recall':>7} {'tool':>6} {'args':>6} "
        f"{'first audio p50/p95 ms: tool':>29} {'no tool':>11} {'STT WER':>8}"
    ]
    for s in report["scores"]:
        precision = "-" if s["precision"] is None else f"{s['precision']:.2f}"
        fa = s["first_audio_ms"]
        lines.append(
            f"{s['split']:<8} {s['requests']:>3} {precision:>9} {s['recall']:>7.2f} "
            f"{s['right_tool_rate']:>6.2f} {s['right_args_rate']:>6.2f} {_ms(fa['tool']):>29} "
            f"{_ms(fa['no_tool']):>11} {s['stt_wer']:>8.1%}"
        )
    for w in report["wrong"]:
        called = "; ".join(f"{n} {a}" for n, a in zip(w["called"], w["arguments"], strict=True)) or "nothing"
        lines.append(
            f"{w['id']}: expected {w['expected'] or 'no call'}, called {called}; "
            f"said {w['request']!r}, heard {w['transcript']!r}"
        )
    if report["silent"]:
        lines.append(f"no reply audio: {', '.join(report['silent'])}")
    return "\n".join(lines)
