"""Whisper base (packaged, int8, faster-whisper) on human recordings and the bundled spoken questions."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import run
from helpers import SAMPLES, human_transcripts, word_errors
from rejoinder import registry
from rejoinder.audio import read_audio
from rejoinder.backends.faster_whisper import FasterWhisperSTT
from rejoinder.config import STTConfig


@pytest.fixture(scope="module")
def whisper() -> FasterWhisperSTT:
    """faster-whisper as the cpu preset configures it, whichever STT is the default."""
    stt = registry.create("stt", "faster-whisper", STTConfig(backend="faster-whisper"))
    assert isinstance(stt, FasterWhisperSTT)
    return stt


def questions() -> dict[str, str]:
    lines = (SAMPLES / "questions.txt").read_text().splitlines()
    return dict(line.split("\t", 1) for line in lines if line and not line.startswith("#"))


def test_human_recordings_transcribe_closely(whisper: FasterWhisperSTT, human_audio: Path) -> None:
    expected = human_transcripts()
    assert len(expected) >= 6
    total_errors = total_words = 0
    for name, reference in expected.items():
        text = run(whisper.transcribe(read_audio(human_audio / f"{name}.wav"))).text
        errors, words = word_errors(reference, text)
        assert errors / words <= 0.34, (name, reference, text)
        total_errors, total_words = total_errors + errors, total_words + words
    # Whisper base hears "clubs" as "cloves" twice; everything else is word-perfect.
    assert total_errors / total_words <= 0.15


def test_bundled_questions_transcribe(whisper: FasterWhisperSTT) -> None:
    total_errors = total_words = 0
    for name, reference in questions().items():
        text = run(whisper.transcribe(read_audio(SAMPLES / f"{name}.wav"))).text
        errors, words = word_errors(reference, text)
        assert errors <= 2, (name, text)
        total_errors, total_words = total_errors + errors, total_words + words
    assert total_errors / total_words <= 0.08


def test_empty_audio_is_empty_text(whisper: FasterWhisperSTT) -> None:
    import numpy as np

    assert run(whisper.transcribe(np.zeros(0, np.float32))).text == ""


def test_short_window_loops_fall_back_to_the_full_window(
    whisper: FasterWhisperSTT, human_audio: Path
) -> None:
    """A too-short encoder window makes Whisper repeat itself; the backend must notice and retry."""
    from rejoinder.backends.faster_whisper import _looks_looped

    assert _looks_looped("Seven of clubs. Seven of clubs. Seven of clubs. Seven of clubs. Seven of clubs.")
    assert not _looks_looped("What is the largest planet in the solar system?")
    stt = whisper
    # Without the repetition penalty that keeps most short windows from looping.
    tight = stt.config.model_copy(
        update={"window_min_s": 1.0, "window_padding_s": 0.5, "window_repetition_penalty": 1.0}
    )
    audio = read_audio(human_audio / "004.wav")  # "five five"
    saved = stt.config
    try:
        stt.config = tight
        assert stt._transcribe_short(audio, 3.0) is None  # "5 5 5 5 ..." in a 3 s window
        text = stt.transcribe_blocking(audio).text
    finally:
        stt.config = saved
    assert word_errors("five five", text)[0] == 0, text


def test_the_short_window_holds_on_every_recording(whisper: FasterWhisperSTT, human_audio: Path) -> None:
    """With the repetition penalty, no recording needs the slow full-window retry (without it,
    three of these sixteen loop: "seven of clubs. seven of clubs. ...")."""
    stt = whisper
    files = sorted(SAMPLES.glob("*.wav")) + sorted(human_audio.glob("*.wav"))
    assert len(files) >= 16
    for path in files:
        audio = read_audio(path)
        window_s = max(stt.config.window_min_s, audio.size / 16_000 + stt.config.window_padding_s)
        assert stt._transcribe_short(audio, window_s) is not None, path.name
