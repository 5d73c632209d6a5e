"""Whisper base (packaged, int8) on human recordings and on the bundled spoken questions."""

from __future__ import annotations

from pathlib import Path

from conftest import run
from helpers import SAMPLES, shared_transcripts, word_errors
from rejoinder.audio import read_audio
from rejoinder.engine import Engine


def questions() -> dict[str, str]:
    lines = (SAMPLES / "questions.txt").read_text().splitlines()
    return dict(line.split("\t", 1) for line in lines if line and not line.startswith("#"))


def test_human_recordings_transcribe_closely(engine: Engine, shared_audio: Path) -> None:
    expected = shared_transcripts()
    assert len(expected) >= 6
    total_errors = total_words = 0
    for name, reference in expected.items():
        text = run(engine.stt.transcribe(read_audio(shared_audio / f"{name}.wav"))).text
        errors, words = word_errors(reference, text)
        assert errors / words <= 0.34, (name, reference, text)
        total_errors, total_words = total_errors + errors, total_words + words
    # Whisper base hears "clubs" as "cloves" twice; everything else is word-perfect.
    assert total_errors / total_words <= 0.15


def test_bundled_questions_transcribe(engine: Engine) -> None:
    total_errors = total_words = 0
    for name, reference in questions().items():
        text = run(engine.stt.transcribe(read_audio(SAMPLES / f"{name}.wav"))).text
        errors, words = word_errors(reference, text)
        assert errors <= 2, (name, text)
        total_errors, total_words = total_errors + errors, total_words + words
    assert total_errors / total_words <= 0.08


def test_empty_audio_is_empty_text(engine: Engine) -> None:
    import numpy as np

    assert run(engine.stt.transcribe(np.zeros(0, np.float32))).text == ""
