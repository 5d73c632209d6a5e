"""`rejoinder bench --clients N` and `--ramp`: the CLI's entry into the load test."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import aiohttp
from rich.console import Console

from rejoinder.engine import Engine
from rejoinder.errors import BadInputError
from rejoinder.loadtest.corpus import default_files, load_questions
from rejoinder.loadtest.ramp import RampSettings, run_ramp
from rejoinder.loadtest.report import level_line, print_load, print_ramp
from rejoinder.loadtest.run import LoadResult, LoadSettings, run_load


@dataclass(frozen=True)
class LoadOptions:
    clients: int
    turns: int
    seed: int
    ramp: bool
    bound_ms: float
    max_clients: int


def corpus_files(files: list[Path] | None) -> list[Path]:
    return list(files) if files else default_files()


def run_command(
    engine: Engine | None,
    files: list[Path],
    options: LoadOptions,
    json_out: bool,
    err: Console,
    out: Console,
    url: str | None = None,
    api_key: str | None = None,
) -> None:
    if options.ramp and options.max_clients < options.clients:
        raise BadInputError("--max-clients must be at least --clients")
    if url is not None and not url.startswith(("http://", "https://", "ws://", "wss://")):
        raise BadInputError(f"--url {url!r}: give http://HOST:PORT (or ws://) of a running server")
    questions = load_questions(files)
    groups = len({q.group for q in questions})
    err.print(
        f"load test: {len(questions)} spoken question(s) in {groups} conversation(s), "
        f"{options.turns} per client"
    )
    load = LoadSettings(clients=options.clients, turns=options.turns, seed=options.seed)
    if not options.ramp:
        with err.status(f"{options.clients} client(s) talking in real time"):
            result = _unreachable_is_bad_input(
                url, lambda: asyncio.run(run_load(engine, questions, load, url, api_key))
            )
        if json_out:
            print(json.dumps(result.to_dict(with_turns=True), indent=2))
        else:
            print_load(out, result)
        return
    ramp = RampSettings(bound_ms=options.bound_ms, start=options.clients, max_clients=options.max_clients)
    with err.status("ramping up clients") as status:

        def progress(level: LoadResult, failed: str | None) -> None:
            err.print(level_line(level, failed))
            status.update(f"ramping up clients (next: {level.settings.clients + 1})")

        result_ramp = _unreachable_is_bad_input(
            url, lambda: asyncio.run(run_ramp(engine, questions, load, ramp, progress, url, api_key))
        )
    if json_out:
        print(json.dumps(result_ramp.to_dict(), indent=2))
    else:
        print_ramp(out, result_ramp)


T = TypeVar("T")


def _unreachable_is_bad_input(url: str | None, run: Callable[[], T]) -> T:
    try:
        return run()
    except (aiohttp.ClientError, OSError) as exc:
        if url is None:
            raise
        raise BadInputError(f"cannot talk to {url}: {exc}") from None
