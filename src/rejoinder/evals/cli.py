"""`rejoinder eval`: answer accuracy per category and tier, and each tier's latency, for routing on,
the small tier alone and the strong tier alone, in one run."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from rejoinder import logs
from rejoinder.errors import BadInputError

err = Console(stderr=True)
out = Console(highlight=False)


def eval_command(
    json_out: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
    configs: Annotated[
        str, typer.Option("--configs", help="Comma-separated: routed, small-only, strong-only.")
    ] = "routed,small-only,strong-only",
    split: Annotated[str, typer.Option("--split", help="all, tune or holdout.")] = "all",
    only: Annotated[
        str | None,
        typer.Option("--only", help="Only conversations (or requests) whose id or category contains this."),
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="At most this many conversations (or requests).")
    ] = None,
    text: Annotated[
        bool, typer.Option("--text", help="Send the question text instead of the audio (no STT).")
    ] = False,
    small_model: Annotated[
        str | None, typer.Option("--small-model", help="Model of the small tier [smollm2].")
    ] = None,
    strong_model: Annotated[
        str | None, typer.Option("--strong-model", help="Model of the strong tier [qwen1.5b].")
    ] = None,
    questions: Annotated[
        Path | None, typer.Option("--questions", help="Another question set (same JSON layout).")
    ] = None,
    turns: Annotated[
        bool, typer.Option("--turns", help="Evaluate turn-taking instead (rejoinder.evals.turns).")
    ] = False,
    tools: Annotated[
        bool,
        typer.Option(
            "--tools", help="Evaluate tool calling instead (rejoinder.evals.tools): the strong model's."
        ),
    ] = False,
    spoken: Annotated[
        bool,
        typer.Option(
            "--spoken",
            help="With --tools: speak each request through a whole session (STT, routing, tools, TTS).",
        ),
    ] = False,
    config_file: Annotated[Path | None, typer.Option("--config", help="JSON file with any settings.")] = None,
    log_level: Annotated[str, typer.Option("--log-level", help="debug, info, warning or error.")] = "warning",
) -> None:
    """Replay the bundled spoken question set through the pipeline; report accuracy per category and
    tier, and first-audio latency per tier, with routing on beside the small and strong tiers alone."""
    logs.setup(log_level)
    if turns:
        _run_turns(json_out, split, limit, config_file)
        return
    if tools and spoken:
        _run_spoken_tools(json_out, split, only, limit, small_model, strong_model, config_file)
        return
    if tools:
        _run_tools(json_out, split, [m for m in (small_model, strong_model or "qwen1.5b") if m])
        return
    if spoken:
        raise BadInputError("--spoken goes with --tools (the accuracy eval is spoken unless --text)")
    from rejoinder.cli.common import _load, build_config
    from rejoinder.evals.accuracy import CONFIGS, report, run_eval
    from rejoinder.evals.questions import load

    names = [c.strip() for c in configs.split(",") if c.strip()]
    if not names or any(n not in CONFIGS for n in names):
        raise BadInputError(f"--configs takes a comma-separated list of: {', '.join(CONFIGS)}")
    if split not in ("all", "tune", "holdout"):
        raise BadInputError("--split must be all, tune or holdout")
    conversations = [
        c
        for c in load(questions)
        if (split == "all" or c.split == split) and (only is None or only in c.id or only == c.category)
    ][:limit]
    if not conversations:
        raise BadInputError("no conversation matches the filters")
    if not text:
        missing = [t.audio for c in conversations for t in c.turns if not t.audio.is_file()]
        if missing:
            raise BadInputError(f"{missing[0]}: audio missing; run scripts/make_eval_audio.py")
    config = build_config("cpu", config_file, router__enabled=True, llm__model=small_model)
    if strong_model is not None:
        config.router.strong.model = strong_model
    engine = _load(config, ("vad", "stt", "llm", "tts"))
    total = sum(len(c.turns) for c in conversations)
    t0 = time.perf_counter()
    with Progress(
        TextColumn("eval {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("turns"),
        TimeElapsedColumn(),
        console=err,
        disable=not err.is_terminal,
    ) as bar:
        tasks = {n: bar.add_task(n, total=total, start=False) for n in names}

        def progress(name: str, done: int, _total: int) -> None:
            bar.start_task(tasks[name])
            bar.update(tasks[name], completed=done)
            if not err.is_terminal:  # a log file gets a line per conversation instead of a bar
                err.print(
                    f"eval {name}: {done}/{total} turns, {time.perf_counter() - t0:.0f} s", soft_wrap=True
                )

        runs = asyncio.run(run_eval(engine, conversations, names, progress, text_only=text))
    result = report(engine, runs, text, time.perf_counter() - t0)
    if json_out:
        print(json.dumps(result, indent=2))
    else:
        print_report(result)


def _run_tools(json_out: bool, split: str, models: list[str]) -> None:
    """Tool-call precision and recall per model, with and without the session's tool rule."""
    from rejoinder.evals.tools import format_report, run

    if split not in ("all", "tune", "holdout"):
        raise BadInputError(f"--split must be all, tune or holdout, not {split!r}")
    with err.status("evaluating tool calls") as status:
        report = run(models, split, progress=lambda m: status.update(m))  # type: ignore[arg-type]
    print(json.dumps(report, indent=1) if json_out else format_report(report))


def _run_spoken_tools(
    json_out: bool,
    split: str,
    only: str | None,
    limit: int | None,
    small_model: str | None,
    strong_model: str | None,
    config_file: Path | None,
) -> None:
    """Tool calls of the spoken requests, each through a whole session (rejoinder.evals.tools_spoken)."""
    from rejoinder.cli.common import _load, build_config
    from rejoinder.evals import tools_spoken
    from rejoinder.evals.tools import eval_toolset, load_cases

    if split not in ("all", "tune", "holdout"):
        raise BadInputError(f"--split must be all, tune or holdout, not {split!r}")
    cases = [
        c
        for c in load_cases()
        if (split == "all" or c.split == split) and (only is None or only in c.id or only == c.category)
    ][:limit]
    if not cases:
        raise BadInputError("no request matches the filters")
    tools_spoken.check_audio(cases)  # before the models load
    config = build_config("cpu", config_file, llm__model=small_model)
    if strong_model is not None:
        config.router.strong.model = strong_model
    engine = _load(config, ("vad", "stt", "llm", "tts"))
    engine.tools = eval_toolset()
    report = tools_spoken.run(
        engine, cases, progress=lambda m: err.print(m, markup=False, highlight=False, soft_wrap=True)
    )
    print(json.dumps(report, indent=1) if json_out else tools_spoken.format_report(report))


def _run_turns(json_out: bool, split: str, limit: int | None, config_file: Path | None) -> None:
    """End of turn (the configured eagerness, beside the fixed silence and without the text model)
    and barge-in, on the bundled turn-taking set (rejoinder.evals.turns)."""
    from rejoinder import registry
    from rejoinder.cli.common import build_config
    from rejoinder.evals import turns

    splits = {"all": None, "tune": "tune", "holdout": "held-out"}
    if split not in splits:
        raise BadInputError(f"--split {split!r}: use all, tune or holdout")
    config = build_config("cpu", config_file)
    stt = registry.create("stt", config.stt.backend, config.stt)
    report = turns.run(
        eagerness=[config.vad.eagerness],
        baseline_ms=config.vad.min_silence_ms,
        interruptions=True,
        stt=stt,
        sound_only=False,
        limit=limit,
        split=splits[split],
        text_model=config.vad.turn_text_backend != "none",
        progress=lambda msg: err.print(f"eval --turns: {msg}", soft_wrap=True, highlight=False),
    )
    print(json.dumps(report, indent=1) if json_out else turns.format_report(report))


def _pct(acc: dict[str, Any]) -> str:
    if acc.get("accuracy") is None:
        return "-"
    return f"{acc['accuracy']:.0%} ({acc['correct']}/{acc['scored']})"


def print_report(result: dict[str, Any]) -> None:
    configs = result["configs"]
    table = Table(title=f"accuracy ({result['mode']}; STT {result['stt']})")
    table.add_column("")
    for c in configs:
        table.add_column(c["config"], justify="right")
    table.add_row("[bold]overall[/]", *(_pct(c["overall"]) for c in configs))
    for cat in configs[0]["per_category"]:
        table.add_row(cat, *(_pct(c["per_category"][cat]) for c in configs))
    for split in ("tune", "holdout"):
        table.add_row(f"[dim]{split} split[/]", *(_pct(c["per_split"][split]) for c in configs))
    table.add_row("[dim]STT word error rate[/]", *(f"{c['stt_wer']:.1%}" for c in configs))
    out.print(table)
    lat = Table(title="per tier: accuracy and latency after end of speech (ms)")
    for col in (
        "config",
        "tier",
        "turns",
        "accuracy",
        "first audio p50",
        "p95",
        "LLM first token p50",
        "p95",
    ):
        lat.add_column(col, justify="left" if col in ("config", "tier") else "right")
    for c in configs:
        for tier, t in c["per_tier"].items():
            fa, ft = t["first_audio_ms"], t["llm_first_token_ms"]
            lat.add_row(
                c["config"],
                tier,
                str(t["turns"]),
                _pct(t),
                *(str(x.get(k, "-")) for x in (fa,) for k in ("median", "p95")),
                *(str(x.get(k, "-")) for x in (ft,) for k in ("median", "p95")),
            )
    out.print(lat)
    out.print(f"wall {result['wall_s']} s; peak RSS {result['peak_rss_mb']} MB")
