"""File mode: reply, transcribe, say."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from rejoinder import logs
from rejoinder.cli.common import (
    BaseUrlOpt,
    ConfigOpt,
    EscalateOpt,
    InputArg,
    JsonOpt,
    LangOpt,
    LlmModelOpt,
    LlmOpt,
    LogOpt,
    MaxTokOpt,
    PresetOpt,
    PromptOpt,
    RouteOpt,
    ShareOpt,
    SilenceOpt,
    SpeedOpt,
    StageUrlOpt,
    StrategyOpt,
    SttModelOpt,
    SttOpt,
    TempOpt,
    ThresholdOpt,
    TopPOpt,
    TtsOpt,
    VoiceOpt,
    _check_input,
    _file_progress,
    _load,
    _print_turn,
    _run,
    app,
    build_config,
    err,
    out,
)
from rejoinder.errors import BadInputError
from rejoinder.tools.options import BuiltinToolsOpt, DirectToolsOpt, ToolsOpt, cli_tools


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
    escalate: EscalateOpt = None,
    base_url: BaseUrlOpt = None,
    stt_base_url: StageUrlOpt = None,
    llm_base_url: StageUrlOpt = None,
    tts_base_url: StageUrlOpt = None,
    config_file: ConfigOpt = None,
    tools: ToolsOpt = None,
    builtin_tools: BuiltinToolsOpt = False,
    direct_tools: DirectToolsOpt = None,
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
        router__escalate=escalate,
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
        tools__direct=direct_tools,
    )
    from rejoinder.file_io import OutputFile, input_path, is_stdio
    from rejoinder.transports.file import reply_to_file

    report = err if is_stdio(output) else out  # with -o -, stdout carries the WAV alone
    toolset = cli_tools(tools, builtin_tools)  # a bad tools file fails before any model loads
    with input_path(source) as src, OutputFile(output, (src,)) as target:
        _check_input(src)
        engine = _load(config, ("vad", "stt", "llm", "tts"))
        engine.tools = toolset

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

    spoken = clean_for_speech(text)
    if not any(ch.isalnum() for ch in spoken):
        raise BadInputError("nothing speakable in the text")
    config = build_config(
        preset_name, base_url=base_url, tts__backend=tts, tts__voice=voice, tts__speed=speed
    )
    from rejoinder.file_io import OutputFile, is_stdio
    from rejoinder.say import speak_to_wav

    with OutputFile(output) as target:
        engine = _load(config, ("tts",))
        with _text_progress(len(spoken)) as progress:
            seconds = _run(speak_to_wav(engine.tts, spoken, target.temp, progress))
        target.commit()
    if is_stdio(output):
        err.print(f"{seconds:.1f} s of speech written to stdout")
    else:
        out.print(f"{seconds:.1f} s of speech written to {output}")


LONG_TEXT_CHARS = 2_000
"""About two minutes of speech: past this `say` shows how far it is."""


@contextmanager
def _text_progress(total: int) -> Iterator[Callable[[int], None] | None]:
    """A progress bar over the characters spoken, for a text long enough to take a while."""
    if total < LONG_TEXT_CHARS:
        yield None
        return
    with Progress(
        TextColumn("speaking"), BarColumn(), TextColumn("{task.completed:,.0f}/{task.total:,.0f} characters"),
        TimeRemainingColumn(), console=err, transient=True,
    ) as bar:  # fmt: skip
        task = bar.add_task("speaking", total=total)
        yield lambda chars: bar.update(task, completed=chars)
