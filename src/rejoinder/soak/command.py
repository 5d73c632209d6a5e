"""The `rejoinder soak` command (registered in cli.py)."""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer


def soak(
    clients: Annotated[int, typer.Option("--clients", min=0, max=32, help="Talking WebSocket clients.")] = 4,
    minutes: Annotated[
        float, typer.Option("--minutes", min=0.2, max=240, help="How long the clients talk.")
    ] = 10,
    webrtc_calls: Annotated[
        int, typer.Option("--webrtc-calls", min=0, help="WebRTC calls opened and dropped over the run.")
    ] = 20,
    abuse: Annotated[
        bool, typer.Option("--abuse/--no-abuse", help="Bad events, vanishing clients, abusive HTTP requests.")
    ] = True,
    sample_s: Annotated[
        float, typer.Option("--sample-s", min=1, help="Seconds between RSS/fd samples.")
    ] = 10,
    warmup_s: Annotated[
        float, typer.Option("--warmup-s", min=0, help="RSS growth is counted after this.")
    ] = 60,
    server_log: Annotated[
        Path | None, typer.Option("--server-log", help="Where the server's log goes [a temporary file].")
    ] = None,
    server_arg: Annotated[
        list[str] | None,
        typer.Option(
            "--server-arg",
            help="One more argument for the server under test, e.g. --server-arg=--config=x.json "
            "(repeat for several).",
        ),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Start a server on loopback and hold it under load and abuse for M minutes; report what held.

    Reports turns asked/answered, first-audio p50/p95, errors by kind, each abuse check, server
    RSS and file descriptors over time, and sessions still held at the end (leaked). Exit 1 when
    a question went unanswered, a check failed, a session leaked or the server crashed.
    """
    from rejoinder.soak.report import render
    from rejoinder.soak.run import SoakConfig, run_soak

    config = SoakConfig(
        clients, minutes, webrtc_calls, abuse, sample_s, warmup_s, server_args=server_arg or []
    )
    log_path = server_log or Path(tempfile.mkdtemp(prefix="rejoinder-soak-")) / "server.log"

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    result = asyncio.run(run_soak(config, log_path, progress))
    result["server_log"] = str(log_path)
    if json_out:
        print(json.dumps(result, indent=2))
    else:
        render(result, print)
    failed = (
        result["errors"]
        or result["sessions_leaked"]
        or result["server_crashed"]
        or result["turns"]["answered"] < result["turns"]["asked"]
    )
    if failed:
        raise typer.Exit(1)
