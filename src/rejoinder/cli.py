"""Command line: reply, transcribe, say, serve, bench, route, eval, backends, models."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from rejoinder import logs
from rejoinder.config import PRESETS, Config, preset, with_llm_parallel
from rejoinder.errors import BadInputError, RejoinderError
from rejoinder.registry import Stage

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Rejoinder: an offline speech-to-speech voice agent. Speak a question, get a spoken answer.",
)
models_app = typer.Typer(no_args_is_help=True, help="Packaged model files.")
app.add_typer(models_app, name="models")
err = Console(stderr=True)
out = Console(highlight=False)

# ---- options shared by commands --------------------------------------------------------------
PresetOpt = Annotated[str, typer.Option("--preset", help=f"Model set: {', '.join(PRESETS)}.")]
SttOpt = Annotated[str | None, typer.Option("--stt", help="STT backend (see `rejoinder backends`).")]
SttModelOpt = Annotated[
    str | None, typer.Option("--stt-model", help="'base' (packaged) or a model directory.")
]
LangOpt = Annotated[str | None, typer.Option("--language", help="Spoken language code, or 'auto'.")]
LlmOpt = Annotated[str | None, typer.Option("--llm", help="LLM backend.")]
LlmModelOpt = Annotated[str | None, typer.Option("--llm-model", help="'smollm2' (packaged) or a GGUF path.")]
PromptOpt = Annotated[str | None, typer.Option("--system-prompt", help="Instructions for the LLM.")]
TempOpt = Annotated[float | None, typer.Option("--temperature", help="Sampling temperature [default 0.1].")]
TopPOpt = Annotated[float | None, typer.Option("--top-p", help="Nucleus sampling [default 0.9].")]
MaxTokOpt = Annotated[int | None, typer.Option("--max-tokens", help="Longest reply in tokens [default 64].")]
TtsOpt = Annotated[str | None, typer.Option("--tts", help="TTS backend.")]
VoiceOpt = Annotated[str | None, typer.Option("--voice", help="'joe' (packaged) or a Piper .onnx path.")]
SpeedOpt = Annotated[float | None, typer.Option("--speed", help="Speaking rate, 1.0 = normal.")]
SilenceOpt = Annotated[int | None, typer.Option("--silence-ms", help="End-of-turn silence [default 500].")]
ThresholdOpt = Annotated[float | None, typer.Option("--vad-threshold", help="Speech probability [0.5].")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
BaseUrlOpt = Annotated[
    str | None,
    typer.Option("--base-url", help="OpenAI-compatible server for 'openai' backends (preset remote)."),
]
StageUrlOpt = Annotated[str | None, typer.Option(help="Per-stage server, overriding --base-url.")]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="JSON file with any settings (see docs).")]
RouteOpt = Annotated[
    bool | None,
    typer.Option(
        "--route/--no-route",
        help="Route each turn to the small or the strong LLM tier (default: on with preset cpu).",
        show_default=False,
    ),
]
StrategyOpt = Annotated[str | None, typer.Option("--route-strategy", help="features or learned [learned].")]
ShareOpt = Annotated[
    float | None, typer.Option("--strong-share", help="Calibrate: share of turns for the top tier.")
]
EscalateOpt = Annotated[
    bool, typer.Option("--escalate", help="Re-ask the top tier when a lower tier refuses.")
]
LogOpt = Annotated[str, typer.Option("--log-level", help="debug, info, warning or error (JSON to stderr).")]
InputArg = Annotated[
    Path,
    typer.Argument(help="Audio file: wav, flac, ogg, mp3, ...; any rate; stereo is mixed; '-' reads stdin."),
]


def build_config(preset_name: str = "cpu", config_file: Path | None = None, **overrides: Any) -> Config:
    """The preset, then a JSON config file, then `section__field` overrides (None = keep)."""
    config = preset(preset_name)
    if config_file is not None:
        try:
            data = json.loads(config_file.read_text())
            config = Config.model_validate(_merged(config.model_dump(), data))
        except OSError as exc:
            raise BadInputError(f"{config_file}: cannot read config ({exc.strerror or exc})") from None
        except json.JSONDecodeError as exc:
            raise BadInputError(f"{config_file}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(x) for x in first["loc"])
            raise BadInputError(f"{config_file}: {where}: {first['msg']}") from None
    base_url = overrides.pop("base_url", None)
    if base_url is not None:
        for section in ("stt", "llm", "tts"):
            overrides.setdefault(f"{section}__base_url", None)
            if overrides[f"{section}__base_url"] is None:
                overrides[f"{section}__base_url"] = base_url
    try:
        for key, value in overrides.items():
            if value is None:
                continue
            section, field = key.split("__")
            if field == "language" and value == "auto":
                value = None
            setattr(getattr(config, section), field, value)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise BadInputError(f"invalid option {where or key}: {first['msg']}") from None
    return config


def _merged(base: dict[str, Any], update: Any) -> Any:
    """`update` over `base`, section by section: {"router": {"strong": {"threads": 1}}} changes
    one field and keeps the preset's other settings."""
    if not isinstance(base, dict) or not isinstance(update, dict):
        return update
    return {**base, **{k: _merged(base[k], v) if k in base else v for k, v in update.items()}}


@contextmanager
def _loading() -> Iterator[Callable[[str], None]]:
    with err.status("loading models") as status:
        yield lambda msg: status.update(msg)


def _load(config: Config, stages: tuple[Stage, ...]) -> Any:
    from rejoinder.engine import Engine

    with _loading() as status:
        return Engine.load(config, stages, status=status)


@contextmanager
def _file_progress(path: Path, label: str) -> Iterator[Callable[[float], None] | None]:
    """A progress bar for inputs over a minute long (or of unknown length)."""
    from rejoinder.audio import probe_duration

    total = probe_duration(path) if path.exists() else None
    if total is not None and total < 60:
        yield None
        return
    with Progress(
        TextColumn(label),
        BarColumn(),
        TextColumn("{task.completed:.0f}/{task.total:.0f} s"),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=total)
        yield lambda seconds: bar.update(task, completed=seconds)


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


# ---- commands --------------------------------------------------------------------------------
@app.command()
def reply(
    source: InputArg,
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Where to write the spoken replies (WAV); '-' = stdout.")
    ],
    json_out: JsonOpt = False,
    preset_name: PresetOpt = "cpu",
    stt: SttOpt = None,
    stt_model: SttModelOpt = None,
    language: LangOpt = None,
    llm: LlmOpt = None,
    llm_model: LlmModelOpt = None,
    system_prompt: PromptOpt = None,
    temperature: TempOpt = None,
    top_p: TopPOpt = None,
    max_tokens: MaxTokOpt = None,
    tts: TtsOpt = None,
    voice: VoiceOpt = None,
    speed: SpeedOpt = None,
    silence_ms: SilenceOpt = None,
    vad_threshold: ThresholdOpt = None,
    route: RouteOpt = None,
    route_strategy: StrategyOpt = None,
    strong_share: ShareOpt = None,
    escalate: EscalateOpt = False,
    base_url: BaseUrlOpt = None,
    stt_base_url: StageUrlOpt = None,
    llm_base_url: StageUrlOpt = None,
    tts_base_url: StageUrlOpt = None,
    config_file: ConfigOpt = None,
    log_level: LogOpt = "warning",
) -> None:
    """Answer each spoken turn in SOURCE out loud; write the replies to OUTPUT.

    The file is split into user turns by voice activity; each is transcribed, answered by the
    LLM (keeping the conversation) and spoken, streamed clause by clause.
    """
    logs.setup(log_level)
    config = build_config(
        preset_name,
        config_file,
        router__enabled=route,
        router__strategy=route_strategy,
        router__strong_share=strong_share,
        router__escalate=escalate or None,
        base_url=base_url,
        stt__base_url=stt_base_url,
        llm__base_url=llm_base_url,
        tts__base_url=tts_base_url,
        stt__backend=stt,
        stt__model=stt_model,
        stt__language=language,
        llm__backend=llm,
        llm__model=llm_model,
        llm__system_prompt=system_prompt,
        llm__temperature=temperature,
        llm__top_p=top_p,
        llm__max_tokens=max_tokens,
        tts__backend=tts,
        tts__voice=voice,
        tts__speed=speed,
        vad__min_silence_ms=silence_ms,
        vad__threshold=vad_threshold,
    )
    from rejoinder.file_io import OutputFile, input_path, is_stdio
    from rejoinder.transports.file import reply_to_file

    report = err if is_stdio(output) else out  # with -o -, stdout carries the WAV alone
    with input_path(source) as src, OutputFile(output, (src,)) as target:
        _check_input(src)
        engine = _load(config, ("vad", "stt", "llm", "tts"))

        def show(turn: Any) -> None:
            if not json_out:
                _print_turn(turn.to_dict(), report)

        with _file_progress(src, "replying") as progress:
            reports, seconds = _run(reply_to_file(engine, src, target.temp, on_turn=show, progress=progress))
        if seconds:
            target.commit()
    turns = [r.to_dict() for r in reports]
    if json_out:
        print(
            json.dumps(
                {"turns": turns, "output": str(output) if seconds else None, "output_s": round(seconds, 2)},
                indent=2,
            ),
            file=sys.stderr if is_stdio(output) else sys.stdout,
        )
    elif not turns:
        err.print("no speech found in the input; nothing to answer, no output written")
    else:
        shown = "stdout" if is_stdio(output) else output
        report.print(f"[bold]{len(turns)} turn(s)[/]; {seconds:.1f} s of reply audio written to {shown}")
    if any(t["status"] == "failed" for t in turns):
        raise typer.Exit(1)


def _print_turn(t: dict[str, Any], console: Console = out) -> None:
    ms = t["timings_ms"]

    def f(v: float | None) -> str:
        return "-" if v is None else f"{v:.0f}"

    route = f" [dim]route: {t['route']['tier']} ({t['route']['score']:.2f})[/]" if t.get("route") else ""
    console.print(f"[bold]turn {t['index'] + 1}[/] [dim]{t['start_s']:.1f}-{t['end_s']:.1f} s[/]{route}")
    console.print(f"  you:   {t['transcript'] or '[dim](nothing understood)[/]'}")
    if t["reply"]:
        console.print(f"  agent: {t['reply']}")
    if t.get("error"):
        console.print(f"  [red]error: {t['error']}[/]")
    console.print(
        f"  [dim]first audio {f(ms['first_audio'])} ms after end of speech | stt {f(ms['stt'])} | "
        f"llm first token {f(ms['llm_first_token'])} / total {f(ms['llm_total'])} | "
        f"tts first audio {f(ms['tts_first_audio'])}[/]"
    )


@app.command()
def transcribe(
    source: InputArg,
    json_out: JsonOpt = False,
    preset_name: PresetOpt = "cpu",
    stt: SttOpt = None,
    stt_model: SttModelOpt = None,
    language: LangOpt = None,
    silence_ms: SilenceOpt = None,
    base_url: BaseUrlOpt = None,
    log_level: LogOpt = "warning",
) -> None:
    """Print what is said in SOURCE (the STT stage alone, one line per utterance)."""
    logs.setup(log_level)
    config = build_config(
        preset_name,
        base_url=base_url,
        stt__backend=stt,
        stt__model=stt_model,
        stt__language=language,
        vad__min_silence_ms=silence_ms,
    )
    from rejoinder.file_io import input_path
    from rejoinder.transports.file import transcribe_file

    with input_path(source) as src:
        _check_input(src)
        engine = _load(config, ("vad", "stt"))
        with _file_progress(src, "transcribing") as progress:
            segments = _run(transcribe_file(engine, src, progress))
    text = " ".join(str(s["text"]) for s in segments)
    if json_out:
        print(json.dumps({"text": text, "segments": segments}, indent=2))
    elif not segments:
        err.print("no speech found in the input")
    else:
        for s in segments:
            out.print(s["text"])


@app.command()
def say(
    text: Annotated[str, typer.Argument(help="What to say.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="WAV file to write; '-' = stdout.")],
    preset_name: PresetOpt = "cpu",
    tts: TtsOpt = None,
    voice: VoiceOpt = None,
    speed: SpeedOpt = None,
    base_url: BaseUrlOpt = None,
    log_level: LogOpt = "warning",
) -> None:
    """Speak TEXT into a WAV file (the TTS stage alone; markdown and emoji are dropped)."""
    logs.setup(log_level)
    from rejoinder.chunking import clean_for_speech

    if not any(ch.isalnum() for ch in clean_for_speech(text)):
        raise BadInputError("nothing speakable in the text")
    config = build_config(
        preset_name, base_url=base_url, tts__backend=tts, tts__voice=voice, tts__speed=speed
    )
    from rejoinder.audio import WavWriter
    from rejoinder.file_io import OutputFile, is_stdio

    with OutputFile(output) as target:
        engine = _load(config, ("tts",))

        async def run() -> float:
            with WavWriter(target.temp, engine.tts.sample_rate) as writer:
                async for chunk in engine.tts.stream(clean_for_speech(text)):
                    writer.write(chunk)
                return writer.samples_written / writer.sample_rate

        seconds = _run(run())
        target.commit()
    if is_stdio(output):
        err.print(f"{seconds:.1f} s of speech written to stdout")
    else:
        out.print(f"{seconds:.1f} s of speech written to {output}")


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
    if json_out:
        print(json.dumps({"backends": rows, "presets": PRESETS}, indent=2))
        return
    from rich.table import Table

    table = Table("stage", "backend", "installed", "what")
    for spec in registry.specs():
        mark = "[green]yes[/]" if spec.installed else f"[red]no[/]: pip install 'rejoinder[{spec.extra}]'"
        table.add_row(spec.stage, spec.name, mark, spec.description)
    out.print(table)
    out.print("presets: " + "; ".join(f"[bold]{k}[/]: {v}" for k, v in PRESETS.items()))


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


def _check_input(path: Path) -> None:
    """Decode the first block now, so a bad file fails in a moment, not after loading the models."""
    from rejoinder.audio import stream_audio

    next(iter(stream_audio(path)), None)


def _check_port(host: str, port: int) -> None:
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise BadInputError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise BadInputError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def main() -> None:
    try:
        app()
    except RejoinderError as exc:
        err.print(f"rejoinder: error: {exc}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err.print("rejoinder: interrupted")
        sys.exit(130)
    except Exception as exc:  # last resort: still one line, never a traceback
        err.print(f"rejoinder: internal error: {type(exc).__name__}: {exc}", markup=False, soft_wrap=True)
        sys.exit(1)


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
        stt__encoder_window=stt_window,
        router__enabled=route,
    )
    with_llm_parallel(config, llm_parallel)
    from rejoinder.bench import corpus, run_bench
    from rejoinder.loadtest import command as load

    is_load = clients > 1 or ramp or url is not None
    paths = load.corpus_files(files) if is_load else list(files or corpus())
    for path in paths:
        _check_input(path)
    engine = _load(config, ("vad", "stt", "llm", "tts")) if url is None else None
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
        title=f"end of speech -> first audio, {result['turns']} turns, "
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
    out.print(
        f"speed-up of median first audio vs sequential: {result.get('speedup_first_audio_median', '-')}x; "
        f"speculative turns {result['speculative_share']:.0%} "
        f"(first clause synthesis begun in the silence: {result['speculative_audio_share']:.0%}); "
        f"underruns {result['underruns']}; "
        f"peak RSS {result['peak_rss_mb']} MB; STT RTF median {result['stt_rtf'].get('median')}"
    )


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
    )
    with_llm_parallel(config, llm_parallel)
    from aiohttp import web

    from rejoinder.server import capacity as cap
    from rejoinder.server.app import ServerSettings, create_app
    from rejoinder.server.security import settings_from_options

    admission = cap.resolve(capacity, capacity_from, max_sessions)
    security = settings_from_options(host, allow_origin, allow_host)
    _check_port(host, port)  # fail in a second, not after loading the models
    engine = _load(config, ("vad", "stt", "llm", "tts"))
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


from rejoinder.evals.cli import eval_command  # noqa: E402  (its own module; registered here)

app.command("eval")(eval_command)

from rejoinder.cluster.command import cluster_command  # noqa: E402

app.command("cluster")(cluster_command)
