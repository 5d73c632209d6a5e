"""Spoken questions for the load test, and dealing every client its own.

The same question asked by every client measures llama.cpp's prompt cache, not the load: each
client is dealt different conversations (a conversation's turns stay together and in order),
shuffled with a seed, and the deck is only reshuffled and reused once every conversation has
been dealt. The report says how many turns were distinct.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rejoinder.audio import SAMPLE_RATE, read_audio

DATA = Path(__file__).resolve().parent.parent / "data"
EVAL_AUDIO = DATA / "eval" / "audio"
"""The spoken eval set (one file per turn, `<conversation>-<turn>.flac`), when installed."""
SAMPLES = DATA / "samples"
_TURN = re.compile(r"^(?P<group>.+)-(?P<turn>\d+)$")


@dataclass(frozen=True)
class Question:
    name: str
    group: str
    """The conversation it belongs to; a follow-up is asked right after its earlier turns."""
    turn: int
    audio: np.ndarray
    """16 kHz mono float32, as read from the file (leading and trailing silence kept)."""
    speech_end_s: float
    """Where the speech really ends inside the clip: voice-to-voice is measured from here."""


def default_files() -> list[Path]:
    """The eval set when installed (about 90 distinct turns), else the 10 bundled samples."""
    files = sorted(EVAL_AUDIO.glob("*.flac")) if EVAL_AUDIO.is_dir() else []
    return files or sorted(SAMPLES.glob("*.wav"))


def speech_end(audio: np.ndarray, frame_s: float = 0.01) -> float:
    """Seconds to the end of the last frame clearly above the clip's noise floor.

    The threshold sits 10 % of the way from the floor (10th percentile frame RMS) to the speech
    level (99th percentile), so added background noise does not count as speech.
    """
    frame = int(frame_s * SAMPLE_RATE)
    n = audio.size // frame
    if n == 0:
        return audio.size / SAMPLE_RATE
    rms = np.sqrt(np.mean(audio[: n * frame].reshape(n, frame).astype(np.float64) ** 2, axis=1))
    floor, peak = float(np.percentile(rms, 10)), float(np.percentile(rms, 99))
    loud = np.nonzero(rms > floor + 0.1 * (peak - floor))[0]
    return (int(loud[-1]) + 1) * frame_s if loud.size else audio.size / SAMPLE_RATE


def load_questions(paths: list[Path], max_s: float = 30.0) -> list[Question]:
    questions = []
    for path in paths:
        audio = read_audio(path, max_s=max_s)
        match = _TURN.match(path.stem)
        group, turn = (match["group"], int(match["turn"])) if match else (path.stem, 0)
        questions.append(Question(path.stem, group, turn, audio, speech_end(audio)))
    return questions


def deal(questions: list[Question], clients: int, turns: int, seed: int = 0) -> list[list[Question]]:
    """`turns` questions for each of `clients`, whole conversations dealt round-robin from a
    shuffled deck; different clients get different conversations while the deck lasts."""
    if not questions:
        raise ValueError("no questions to deal")
    groups: dict[str, list[Question]] = {}
    for q in sorted(questions, key=lambda q: (q.group, q.turn)):
        groups.setdefault(q.group, []).append(q)
    rng = random.Random(seed)
    hands: list[list[Question]] = [[] for _ in range(clients)]
    deck: list[list[Question]] = []
    while any(len(hand) < turns for hand in hands):
        for hand in hands:
            if len(hand) >= turns:
                continue
            if not deck:
                deck = list(groups.values())
                rng.shuffle(deck)
            hand.extend(deck.pop())
    return [hand[:turns] for hand in hands]


def distinct_share(hands: list[list[Question]]) -> float:
    """Distinct questions over questions asked, across all clients (1.0: no question repeats)."""
    asked = [q.name for hand in hands for q in hand]
    return round(len(set(asked)) / max(1, len(asked)), 3)
