"""What every command shares: the app, consoles, option types, the config they build, loading
with progress, input and port checks."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from rejoinder import json_input
from rejoinder.config import PRESETS, Config, preset
from rejoinder.errors import BadInputError
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
    bool | None,
    typer.Option(
        "--escalate/--no-escalate",
        help="Re-ask the top tier when a lower tier refuses or only echoes the question (on by default).",
    ),
]


LogOpt = Annotated[str, typer.Option("--log-level", help="debug, info, warning or error (JSON to stderr).")]


InputArg = Annotated[
    Path,
    typer.Argument(help="Audio file: wav, flac, ogg, mp3, ...; any rate; stereo is mixed; '-' reads stdin."),
]


MAX_CONFIG_BYTES = 1 << 20
"""Far more than any config needs."""


def build_config(preset_name: str = "cpu", config_file: Path | None = None, **overrides: Any) -> Config:
    """The preset, then a JSON config file, then `section__field` overrides (None = keep)."""
    config = preset(preset_name)
    if config_file is not None:
        try:
            with config_file.open("rb") as f:  # a pipe is fine (--config <(...)); /dev/zero is bounded
                text = f.read(MAX_CONFIG_BYTES + 1)
            if len(text) > MAX_CONFIG_BYTES:
                raise BadInputError(f"{config_file}: a config file is at most {MAX_CONFIG_BYTES:,} bytes")
            data = json_input.loads(text.decode("utf-8"))
            config = Config.model_validate(_merged(config.model_dump(), data))
        except OSError as exc:
            raise BadInputError(f"{config_file}: cannot read config ({exc.strerror or exc})") from None
        except UnicodeDecodeError:
            raise BadInputError(f"{config_file}: not a UTF-8 text file") from None
        except json_input.BadJSON as exc:
            raise BadInputError(f"{config_file}: {exc}") from None
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
        engine = Engine.load(config, stages, status=status)
    for name, reason in engine.tier_failures.items():
        left = ", ".join(t.name for t in engine.tiers)
        err.print(f"rejoinder: warning: llm tier {name!r} did not load ({reason}); {left} answer(s) instead",
                  markup=False, soft_wrap=True, highlight=False)  # fmt: skip
    return engine


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
