"""The bundled turn-taking clips (src/rejoinder/data/turns, made by scripts/make_turns.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rejoinder.audio import SAMPLE_RATE, read_audio

DATA = Path(__file__).resolve().parent.parent / "data" / "turns"
NOISE_FLOOR = 0.001
"""RMS of the background noise added to every clip (-60 dBFS): real microphones are never
digitally silent, and Silero skips exact zeros."""


@dataclass(frozen=True)
class Clip:
    file: str
    set: str
    kind: str
    category: str
    text: str
    source: str
    speed: float
    speech_start_s: float
    speech_end_s: float
    pauses: list[tuple[float, float]] = field(default_factory=list)

    def audio(self, tail_s: float = 0.0, seed: int = 0) -> np.ndarray:
        """The clip with `tail_s` of silence after it, over a faint noise floor."""
        speech = read_audio(DATA / self.file)
        audio = np.concatenate([speech, np.zeros(round(tail_s * SAMPLE_RATE), np.float32)])
        rng = np.random.default_rng(seed)
        return (audio + rng.normal(0, NOISE_FLOOR, audio.size)).astype(np.float32)


def load(data: Path = DATA) -> list[Clip]:
    clips = []
    for line in (data / "labels.jsonl").read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            row["pauses"] = [tuple(p) for p in row["pauses"]]
            clips.append(Clip(**row))
    return clips
