"""Shared test helpers: word error rate, audio synthesis of test files, paths."""

from __future__ import annotations

import re
from pathlib import Path

import av
import numpy as np

from rejoinder.evals.accuracy import edit_distance

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "src" / "rejoinder" / "data" / "samples"
HUMAN_AUDIO = REPO / "tests" / "data" / "human"
"""Human recordings from Debian's pocketsphinx-testdata (BSD-style); see its README.md."""
HUMAN_EXTRA = HUMAN_AUDIO / "extra"
"""Five read sentences (LibriVox, Sense and Sensibility) from the same package."""


def rss_mb() -> float:
    """This process's resident memory now (Linux)."""
    with open("/proc/self/status") as status:
        return int(status.read().split("VmRSS:")[1].split()[0]) / 1024


_NUMBERS = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
]


def normalise(text: str) -> list[str]:
    words = re.sub(r"[^\w\s']", " ", text.lower()).split()
    return [_NUMBERS[int(w)] if w.isdigit() and int(w) < len(_NUMBERS) else w for w in words]


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(edit distance in words, reference length) after normalisation."""
    ref = normalise(reference)
    return edit_distance(ref, normalise(hypothesis)), len(ref)


def wer(reference: str, hypothesis: str) -> float:
    errors, n = word_errors(reference, hypothesis)
    return errors / max(1, n)


def human_transcripts(folder: Path = HUMAN_AUDIO) -> dict[str, str]:
    """name -> text from folder/transcripts.txt ("text (name)" lines); HUMAN_EXTRA for the longer
    read sentences."""
    lines = (folder / "transcripts.txt").read_text().splitlines()
    out = {}
    for line in lines:
        m = re.match(r"(.*)\(([\w-]+)\)\s*$", line)
        if m:
            out[m.group(2)] = m.group(1).strip()
    return out


def encode(path: Path, samples: np.ndarray, rate: int, channels: int = 1, codec: str | None = None) -> Path:
    """Write float audio in any container/codec PyAV knows (wav, flac, ogg, mp3)."""
    fmt = {
        ".wav": ("wav", "pcm_s16le", "s16"),
        ".flac": ("flac", "flac", "s16"),
        ".ogg": ("ogg", "libopus", "flt"),
        ".mp3": ("mp3", "libmp3lame", "fltp"),
    }[path.suffix]
    layout = "mono" if channels == 1 else "stereo"
    with av.open(str(path), "w", format=fmt[0]) as out:
        stream = out.add_stream(codec or fmt[1], rate=rate, layout=layout)
        data = np.tile(samples[None, :], (channels, 1)).astype(np.float32)
        if fmt[2] == "s16":
            arr = (np.clip(data, -1, 1) * 32767).astype(np.int16).T.reshape(1, -1)
        elif fmt[2] == "flt":
            arr = data.T.reshape(1, -1)
        else:
            arr = data
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(arr), format=fmt[2], layout=layout)
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path
