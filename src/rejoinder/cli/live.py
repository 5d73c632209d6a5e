"""The live agent and its load test: serve, bench."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from rejoinder import logs
from rejoinder.cli.common import (
    ConfigOpt,
    JsonOpt,
    LlmModelOpt,
    LogOpt,
    MaxTokOpt,
    PresetOpt,
    PromptOpt,
    RouteOpt,
    SilenceOpt,
    SttOpt,
    VoiceOpt,
    _check_input,
    _check_port,
    _load,
    _run,
    app,
    build_config,
    err,
    out,
)
from rejoinder.config import with_llm_parallel, with_session_slots
from rejoinder.errors import BadInputError
from rejoinder.tools.options import BuiltinToolsOpt, DirectToolsOpt, ToolsOpt, cli_tools

if TYPE_CHECKING:
    from rejoinder.engine import Engine

log = logging.getLogger(__name__)


@app.command()
def bench(
    files: Annotated[
        list[Path] | None, typer.Argument(help="Spoken questions (default: the bundled corpus).")
    ] = None,
    json_out: JsonOpt = False,
    runs: Annotated[int, typer.Option("--runs", min=1, help="Times to replay the corpus.")] = 1,
    clients: Annotated[int, typer.Option("--clients", min=1, max=64, help="Simulated users at once.")] = 1,
    baseline: Annotated[str, typer.Option("--baseline", help="'sequential' or 'none'.")] = "sequential",
    preset_name: PresetOpt = "cpu",
    silence_ms: SilenceOpt = None,
    speculate_ms: Annotated[
        int | None, typer.Option("--speculate-ms", help="0 turns speculation off.")
    ] = None,
    stt: SttOpt = None,
    stt_window: Annotated[str | None, typer.Option("--stt-window", help="auto or full.")] = None,
    stt_retry_s: Annotated[
        float | None, typer.Option("--stt-retry-s", help="Retry window if Whisper loops.")
    ] = None,
    route: RouteOpt = None,
    turns: Annotated[int, typer.Option("--turns", min=1, help="Load test: questions per client.")] = 4,
    ramp: Annotated[
        bool, typer.Option("--ramp", help="Add clients until the p95 passes --bound-ms.")
    ] = False,
    bound_ms: Annotated[
        float, typer.Option("--bound-ms", min=1, help="Ramp: voice-to-voice p95 bound.")
    ] = 1000,
    max_clients: Annotated[int, typer.Option("--max-clients", min=1, help="Ramp: stop here.")] = 32,
    seed: Annotated[int, typer.Option("--seed", help="Load test: deals questions, offsets, thinking.")] = 0,
    llm_parallel: Annotated[int | None, typer.Option("--llm-parallel", help="llama.cpp slots.")] = None,
    config_file: ConfigOpt = None,
    url: Annotated[
        str | None, typer.Option("--url", help="Load test a running server (Realtime WebSocket) instead.")
    ] = None,
    api_key: Annotated[str | None, typer.Option("--api-key", envvar="REJOINDER_API_KEY")] = None,
    tools: ToolsOpt = None,
    builtin_tools: BuiltinToolsOpt = False,
    direct_tools: DirectToolsOpt = None,
    log_level: LogOpt = "warning",
) -> None:
    """Replay spoken questions through the live pipeline at 1x speed; report median and p95 per stage.

    With --clients above 1 (or --ramp) it is a load test: every client asks its own questions."""
    logs.setup(log_level)
    if baseline not in ("sequential", "none"):
        raise BadInputError("--baseline must be 'sequential' or 'none'")
    config = build_config(
        preset_name,
        config_file,
        vad__min_silence_ms=silence_ms,
        vad__speculate_after_ms=speculate_ms,
        stt__backend=stt,
        stt__encoder_window=stt_window,
        router__enabled=route,
        tools__direct=direct_tools,
    )
    with_llm_parallel(config, llm_parallel)
    toolset = cli_tools(tools, builtin_tools)
    from rejoinder.bench import corpus, run_bench
    from rejoinder.loadtest import command as load

    is_load = clients > 1 or ramp or url is not None
    paths = load.corpus_files(files) if is_load else list(files or corpus())
    for path in paths:
        _check_input(path)
    engine = _load(config, ("vad", "stt", "llm", "tts")) if url is None else None
    if engine is not None:
        engine.tools = toolset
    if is_load:
        options = load.LoadOptions(clients, turns, seed, ramp, bound_ms, max_clients)
        return load.run_command(engine, paths, options, json_out, err, out, url, api_key)
    assert engine is not None
    with err.status(f"replaying {len(paths) * runs} question(s) x {clients} client(s) in real time"):
        result = _run(run_bench(engine, paths, runs, clients, baseline == "sequential"))
    if json_out:
        print(json.dumps(result, indent=2))
        return
    _print_bench(result)


def _print_bench(result: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(
        title=f"voice to voice (end of speech -> first audio), {result['turns']} turns, "
        f"{result['config']['clients']} client(s)"
    )
    for col in ("stage (ms)", "median", "p95", "min", "max"):
        table.add_column(col, justify="right" if col != "stage (ms)" else "left")
    for stage, s in result["stages_ms"].items():
        table.add_row(stage, *(str(s.get(k, "-")) for k in ("median", "p95", "min", "max")))
    for stage, s in result.get("baseline_sequential_ms", {}).items():
        table.add_row(
            f"[dim]sequential {stage}[/]", *(str(s.get(k, "-")) for k in ("median", "p95", "min", "max"))
        )
    out.print(table)
    for tier, s in result.get("first_audio_by_tier_ms", {}).items():
        out.print(
            f"first audio, {tier} tier: median {s.get('median', '-')} ms, "
            f"p95 {s.get('p95', '-')} ms ({s['n']} turns)"
        )
    for kind, s in result.get("voice_to_voice_by_kind_ms", {}).items():
        after = result.get("first_audio_by_kind_ms", {}).get(kind, {})
        out.print(
            f"voice to voice, {kind} turns: median {s.get('median', '-')} ms, "
            f"p95 {s.get('p95', '-')} ms ({s['n']} turns; after the end-of-turn decision: "
            f"median {after.get('median', '-')} ms)"
        )
    out.print(
        f"speed-up of median first audio vs sequential: {result.get('speedup_first_audio_median', '-')}x; "
        f"speculative turns {result['speculative_share']:.0%} "
        f"(first clause synthesis begun in the silence: {result['speculative_audio_share']:.0%}); "
        f"underruns {result['underruns']}; "
        f"peak RSS {result['peak_rss_mb']} MB; STT RTF median {result['stt_rtf'].get('median')}"
    )


def _warm_slots(engine: Engine) -> None:
    """Every llama.cpp slot starts with its tier's system prompt cached (Engine.warm_slots)."""
    if any(tier.config.parallel > 1 for tier in engine.tiers):
        err.print("rejoinder: filling the llama.cpp slots with the system prompt...")
        t0 = time.perf_counter()
        filled = asyncio.run(engine.warm_slots())
        log.info("llm slots warmed", extra={"slots": filled, "s": round(time.perf_counter() - t0, 1)})


@app.command()
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to bind (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="TCP port.")] = 8000,
    api_key: Annotated[
        str | None,
        typer.Option("--api-key", envvar="REJOINDER_API_KEY", help="Require this key on every API call."),
    ] = None,
    max_sessions: Annotated[int, typer.Option("--max-sessions", min=1, help="Concurrent conversations.")] = 4,
    capacity: Annotated[
        int | None, typer.Option("--capacity", min=1, help="Sessions served well; more are refused.")
    ] = None,
    capacity_from: Annotated[
        Path | None, typer.Option("--capacity-from", help="The capacity from `bench --ramp --json`.")
    ] = None,
    llm_parallel: Annotated[int | None, typer.Option("--llm-parallel", help="llama.cpp slots.")] = None,
    allow_origin: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-origin",
            help="Web origin (scheme://host[:port]) that may connect; repeatable; '*' = any.",
        ),
    ] = None,
    allow_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-host", help="Host name accepted besides loopback ones (DNS rebinding guard); repeatable."
        ),
    ] = None,
    preset_name: PresetOpt = "cpu",
    llm_model: LlmModelOpt = None,
    system_prompt: PromptOpt = None,
    max_tokens: MaxTokOpt = None,
    voice: VoiceOpt = None,
    silence_ms: SilenceOpt = None,
    route: RouteOpt = None,
    config_file: ConfigOpt = None,
    tools: ToolsOpt = None,
    builtin_tools: BuiltinToolsOpt = False,
    direct_tools: DirectToolsOpt = None,
    log_level: LogOpt = "info",
) -> None:
    """Serve the web page, the OpenAI Realtime WebSocket (/v1/realtime) and WebRTC (/v1/realtime/calls)."""
    logs.setup(log_level)
    config = build_config(
        preset_name,
        config_file,
        llm__model=llm_model,
        llm__system_prompt=system_prompt,
        llm__max_tokens=max_tokens,
        tts__voice=voice,
        vad__min_silence_ms=silence_ms,
        router__enabled=route,
        tools__direct=direct_tools,
    )
    with_llm_parallel(config, llm_parallel)
    from aiohttp import web

    from rejoinder.server import capacity as cap
    from rejoinder.server import memory
    from rejoinder.server.app import ServerSettings, create_app
    from rejoinder.server.security import checked_api_key, settings_from_options

    api_key = checked_api_key(api_key)
    admission = cap.resolve(capacity, capacity_from, max_sessions)
    if llm_parallel is None:
        with_session_slots(config, admission.sessions)
    security = settings_from_options(host, allow_origin, allow_host)
    _check_port(host, port)  # fail in a second, not after loading the models
    toolset = cli_tools(tools, builtin_tools)
    memory.limit_arenas()  # before the model threads start: RSS that follows the load
    engine = _load(config, ("vad", "stt", "llm", "tts"))
    engine.tools = toolset
    _warm_slots(engine)
    settings = ServerSettings(
        api_key=api_key, max_sessions=admission.sessions, capacity=admission, security=security
    )
    application = create_app(engine, settings)
    shown = f"http://{host if ':' not in host else f'[{host}]'}:{port}/"
    err.print(f"Rejoinder listening on {shown} (WebSocket /v1/realtime, WebRTC /v1/realtime/calls)")
    try:
        web.run_app(application, host=host, port=port, print=None, access_log=None)
    except OSError as exc:
        raise BadInputError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
