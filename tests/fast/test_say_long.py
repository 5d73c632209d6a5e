"""`say` with a long text (found by probing the CLI: 100,000 characters went to Piper as one
input, whose phonemiser keeps it as one sentence: onnxruntime failed with std::bad_alloc after
0.7 GB and the run ended in "internal error", exit 1)."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rejoinder.backends.fake import FakeTTS
from rejoinder.cli import app
from rejoinder.cli import files as cli_files
from rejoinder.engine import Engine
from rejoinder.say import PIECE_CHARS


@pytest.fixture
def tts(monkeypatch: pytest.MonkeyPatch) -> FakeTTS:
    fake = FakeTTS(word_s=0.001, delay_s=0.0)
    engine = Engine.from_stages(cli_files.build_config(), tts=fake)
    monkeypatch.setattr(cli_files, "_load", lambda config, stages: engine)
    return fake


def test_a_long_text_reaches_the_voice_in_bounded_pieces(tts: FakeTTS, tmp_path: Path) -> None:
    sentence = "The quick brown fox jumps over the lazy dog and runs away"
    text = ". ".join([sentence] * 2000) + "."  # about 120,000 characters
    text += " " + "word " * 500  # and one run-on sentence longer than any piece
    out = tmp_path / "long.wav"
    done = CliRunner().invoke(app, ["say", text, "-o", str(out)])
    assert done.exit_code == 0, done.output
    assert max(len(c) for c in tts.calls) <= PIECE_CHARS
    spoken = " ".join(tts.calls).split()
    assert spoken == text.split()  # every word, in order, once
    with wave.open(str(out)) as w:
        assert w.getnframes() == len(spoken) * int(0.001 * FakeTTS.sample_rate)


def test_a_short_text_is_still_one_piece(tts: FakeTTS, tmp_path: Path) -> None:
    done = CliRunner().invoke(app, ["say", "Hello there. How are you?", "-o", str(tmp_path / "a.wav")])
    assert done.exit_code == 0, done.output
    assert tts.calls == ["Hello there. How are you?"]
