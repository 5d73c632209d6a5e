"""File replay: a recorded conversation in, the agent's spoken replies out.

The input is streamed (bounded memory for any length) and fed to a Session frame by frame;
like a polite user, the file waits for each reply before it "speaks" on.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from rejoinder.audio import SAMPLE_RATE, WavWriter, stream_audio
from rejoinder.engine import Engine
from rejoinder.errors import BadInputError
from rejoinder.events import Event
from rejoinder.file_io import raise_if_stopped, stop_on_signals, until_stopped
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

    async def sink(event: Event) -> None:
        nonlocal writer, last_turn
        if event.type == "audio" and event.audio is not None:
            if writer is None:
                writer = WavWriter(output, int(event.data["sample_rate"]))
            elif event.turn != last_turn:
                writer.silence(GAP_S)
            last_turn = event.turn
            writer.write(event.audio)
        elif event.type == "turn_report" and on_turn is not None:
            on_turn(session.reports[-1])

    session = Session(engine, sink)
    consumed = 0
    try:
        with stop_on_signals() as stop:  # Ctrl-C stops the run here, not after the whole file
            for block in stream_audio(source, SAMPLE_RATE):
                for start in range(0, block.size, frame):
                    await session.push_audio(block[start : start + frame])
                    if session.busy:
                        await until_stopped(stop, session.wait_idle())
                    raise_if_stopped(stop)
                consumed += block.size
                if progress:
                    progress(consumed / SAMPLE_RATE)
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
    """VAD-split a file into utterances and transcribe each as it completes (bounded memory).

    Decoding and the VAD run in a thread, block by block, so a long file never holds up the
    event loop (live sessions share it in the server); `max_s` refuses audio longer than that
    as soon as decoding passes it.
    """
    from rejoinder.turns import SpeechEnded, TurnDetector

    detector = TurnDetector(engine.vad.stream(), engine.config.vad)
    segments: list[dict[str, object]] = []
    consumed = 0
    blocks = stream_audio(source, SAMPLE_RATE)

    def next_block() -> tuple[int, list[object]] | None:
        block = next(blocks, None)
        if block is None:
            return None
        return block.size, list(detector.feed(block))

    async def handle(events: list[object]) -> None:
        for ev in events:
            if isinstance(ev, SpeechEnded) and ev.audio.size:
                transcript = await engine.stt.transcribe(np.asarray(ev.audio))
                if transcript.text:
                    segments.append(
                        {
                            "start_s": round(ev.start_s, 3),
                            "end_s": round(ev.end_s, 3),
                            "text": transcript.text,
                        }
                    )

    try:
        while (step := await asyncio.to_thread(next_block)) is not None:
            size, events = step
            consumed += size
            if max_s is not None and consumed > max_s * SAMPLE_RATE:
                raise BadInputError(f"{source}: longer than the limit of {max_s:g} s")
            await handle(events)
            if progress:
                progress(consumed / SAMPLE_RATE)
        await handle(list(detector.finish()))
    finally:
        with contextlib.suppress(ValueError):  # cancelled mid-block: closed when collected
            blocks.close()
    return segments
