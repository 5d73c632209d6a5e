"""`say`: text to a WAV file through the TTS stage, in pieces the voice handles in bounded memory.

Piper's phonemiser keeps a text without line breaks as one sentence, and its model's memory
grows with the input (one 4,160-character sentence took 6.4 GB; 100,000 characters failed with
std::bad_alloc): the text is cut into whole sentences packed up to PIECE_CHARS, as the HTTP
speech endpoint does.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rejoinder.audio import WavWriter
from rejoinder.file_io import raise_if_stopped, stop_on_signals
from rejoinder.speech_pieces import speech_pieces
from rejoinder.stages.tts import TTS

PIECE_CHARS = 200
"""Longest text synthesised at once (a sentence, or a cut of a longer one)."""


async def speak_to_wav(
    tts: TTS, text: str, path: Path, progress: Callable[[int], None] | None = None
) -> float:
    """Speak `text` into a mono WAV at `path`; returns the seconds written. `progress` gets the
    characters spoken so far; Ctrl-C or SIGTERM stops between chunks (KeyboardInterrupt)."""
    done = 0
    with WavWriter(path, tts.sample_rate) as writer, stop_on_signals() as stop:
        for piece in speech_pieces(text, PIECE_CHARS):
            async for chunk in tts.stream(piece):
                raise_if_stopped(stop)
                writer.write(chunk)
            done += len(piece) + 1
            if progress is not None:
                progress(min(done, len(text)))
        return writer.samples_written / writer.sample_rate
