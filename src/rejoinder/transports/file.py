"""File replay: a recorded conversation in, the agent's spoken replies out.

The input is streamed (bounded memory for any length) and fed to a Session frame by frame;
like a polite user, the file waits for each reply before it "speaks" on.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from rejoinder.audio import SAMPLE_RATE, WavWriter, stream_audio
from rejoinder.engine import Engine
from rejoinder.errors import BadInputError
from rejoinder.events import ConversationEnded, SessionEvent, TurnFinished
from rejoinder.file_io import raise_if_stopped, stop_on_signals, until_stopped
from rejoinder.output import DirectOutput
from rejoinder.session import Session
from rejoinder.timeline import TurnReport

GAP_S = 0.4
"""Silence written between two replies in the output file."""

Progress = Callable[[float], None]
"""Called with seconds of input consumed."""


async def reply_to_file(
    engine: Engine,
    source: str | Path,
    output: str | Path,
    on_turn: Callable[[TurnReport], None] | None = None,
    progress: Progress | None = None,
) -> tuple[list[TurnReport], float]:
    """Returns the turn reports and the seconds of reply audio written (0 if no turn)."""
    writer: WavWriter | None = None
    last_turn: int | None = None
    frame = engine.vad.frame_samples

    def write(turn: int, audio: np.ndarray, sample_rate: int) -> None:
        nonlocal writer, last_turn
        if writer is None:
            writer = WavWriter(output, sample_rate)
        elif turn != last_turn:
            writer.silence(GAP_S)
        last_turn = turn
        writer.write(audio)

    ended = False

    async def sink(event: SessionEvent) -> None:
        nonlocal ended
        if isinstance(event, TurnFinished) and on_turn is not None:
            on_turn(event.report)
        ended = ended or isinstance(event, ConversationEnded)  # a tool hung up: the rest is not heard

    # read faster than real time: there is no speech time to prefill in
    vad = engine.config.vad.model_copy(update={"early_prefill_ms": 0})
    session = Session(engine, sink, engine.config.model_copy(update={"vad": vad}), output=DirectOutput(write))
    consumed = 0
    try:
        with stop_on_signals() as stop:  # Ctrl-C stops the run here, not after the whole file
            for block in stream_audio(source, SAMPLE_RATE):
                for start in range(0, block.size, frame):
                    await session.push_audio(block[start : start + frame])
                    if session.busy:
                        await until_stopped(stop, session.wait_idle())
                    raise_if_stopped(stop)
                    if ended:  # a tool hung up: the rest is not heard
                        break
                if ended:
                    break
                consumed += block.size
                if progress:
                    progress(consumed / SAMPLE_RATE)
            if not ended:
                await session.end_audio()
            await until_stopped(stop, session.wait_idle())
    finally:
        await session.close()
        if writer is not None:
            writer.close()
    seconds = writer.samples_written / writer.sample_rate if writer else 0.0
    return session.reports, seconds


async def transcribe_file(
    engine: Engine, source: str | Path, progress: Progress | None = None, max_s: float | None = None
) -> list[dict[str, object]]:
    """Split a file into utterances as a live session would (the same end-of-turn decision) and
    transcribe each as it completes (bounded memory).

    Decoding runs in a thread, block by block, so a long file never holds up the event loop (live
    sessions share it in the server); `max_s` refuses audio longer than that as soon as decoding
    passes it.
    """
    from rejoinder.endpointing import TurnTaker, for_language
    from rejoinder.turns import SpeechEnded

    async def text_of(audio: np.ndarray) -> str:
        return (await engine.stt.transcribe(audio)).text

    detector = TurnTaker(
        engine.vad.stream(),
        engine.config.vad,
        engine.end_of_turn,
        text_of,
        text_model=for_language(engine.turn_text, engine.config.stt.language),
    )
    segments: list[dict[str, object]] = []
    consumed = 0
    blocks = stream_audio(source, SAMPLE_RATE)

    def next_block() -> np.ndarray | None:
        return next(blocks, None)

    async def handle(events: Sequence[object]) -> None:
        for ev in events:
            if isinstance(ev, SpeechEnded) and ev.audio.size:
                transcript = await engine.stt.transcribe(np.asarray(ev.audio))
                if transcript.text:
                    segments.append(
                        {
                            "start_s": round(ev.start_s, 3),
                            "end_s": round(ev.end_s, 3),
                            "text": transcript.text,
                            "language": transcript.language,
                        }
                    )

    try:
        while (block := await asyncio.to_thread(next_block)) is not None:
            consumed += block.size
            if max_s is not None and consumed > max_s * SAMPLE_RATE:
                raise BadInputError(f"{source}: longer than the limit of {max_s:g} s")
            await handle(await detector.feed(block))
            if progress:
                progress(consumed / SAMPLE_RATE)
        await handle(await detector.finish())
    finally:
        detector.close()
        with contextlib.suppress(ValueError):  # cancelled mid-block: closed when collected
            blocks.close()
    return segments
