"""Moonshine base (packaged in moonshine-cpp, run on onnxruntime) on human and spoken clips,
and its model files checked before use."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import run
from helpers import HUMAN_AUDIO, HUMAN_EXTRA, SAMPLES, human_transcripts, word_errors
from rejoinder import moonshine_assets, registry
from rejoinder.audio import read_audio
from rejoinder.backends.moonshine import (
    REPEATS_TO_STOP,
    MoonshineSTT,
    Tokenizer,
    _repeated_tail,
    split_points,
)
from rejoinder.config import STTConfig
from rejoinder.errors import BackendUnavailable, BadInputError


@pytest.fixture(scope="module")
def moonshine() -> MoonshineSTT:
    stt = registry.create("stt", "moonshine", STTConfig(backend="moonshine"))
    assert isinstance(stt, MoonshineSTT)
    return stt


def questions() -> dict[str, str]:
    lines = (SAMPLES / "questions.txt").read_text().splitlines()
    return dict(line.split("\t", 1) for line in lines if line and not line.startswith("#"))


def test_human_recordings_transcribe_closely(moonshine: MoonshineSTT) -> None:
    total_errors = total_words = 0
    for folder in (HUMAN_AUDIO, HUMAN_EXTRA):
        for name, reference in human_transcripts(folder).items():
            text = run(moonshine.transcribe(read_audio(folder / f"{name}.wav"))).text
            errors, words = word_errors(reference, text)
            assert errors / words <= 0.34, (name, reference, text)
            total_errors, total_words = total_errors + errors, total_words + words
    assert total_words >= 70
    # Moonshine hears "clubs" as "cloves" three times, writes "metres" and "Mr."; the rest is exact.
    assert total_errors / total_words <= 0.1


def test_bundled_questions_transcribe_exactly(moonshine: MoonshineSTT) -> None:
    for name, reference in questions().items():
        text = moonshine.transcribe_blocking(read_audio(SAMPLES / f"{name}.wav")).text
        assert word_errors(reference, text)[0] == 0, (name, text)


def test_clear_speech_is_read_with_confidence_and_nothing_has_none(moonshine: MoonshineSTT) -> None:
    sure = [
        moonshine.transcribe_blocking(read_audio(SAMPLES / f"{name}.wav")).confidence for name in questions()
    ]
    assert all(c is not None and 0.8 <= c <= 1.0 for c in sure), sure  # measured 0.86-0.98
    assert moonshine.transcribe_blocking(np.zeros(32_000, np.float32)).confidence is None


def test_hums_that_moonshine_reads_as_words_do_not_stop_the_agent(moonshine: MoonshineSTT) -> None:
    """Over the agent's reply, "Mm-hmm, yeah." is read "A member" (0.43), "Mhm, okay." "And mate"
    (0.36): words alone would interrupt; read with their confidence they wait and are ignored. A
    real interruption and people reading sentences still stop the agent."""
    from rejoinder.config import VADConfig
    from rejoinder.evals import interruptions
    from rejoinder.evals.turn_data import load

    clips = load()
    agent = next(c for c in clips if c.set == "agent")
    vad = registry.create("vad", "silero", VADConfig())
    for text in ("Mm-hmm, yeah.", "Mhm, okay."):
        clip = next(c for c in clips if c.text == text)
        decisions = [
            run(
                interruptions.run_trial(vad, moonshine, clip, agent, interruptions.ECHO_GAIN, 0, config)
            ).decision
            for config in (interruptions.GateConfig(), interruptions.GateConfig(min_confidence=0.0))
        ]
        assert decisions == ["ignore", "interrupt"], (text, decisions)
    gate = interruptions.GateConfig()
    for speech in [c for c in clips if c.text == "Slow down, please." or c.set == "speech"]:
        trial = run(interruptions.run_trial(vad, moonshine, speech, agent, interruptions.ECHO_GAIN, 0, gate))
        assert trial.decision == "interrupt", (speech.text, trial.words)  # people reading, too


def test_silence_and_tiny_inputs_are_empty(moonshine: MoonshineSTT) -> None:
    assert moonshine.transcribe_blocking(np.zeros(0, np.float32)).text == ""
    assert moonshine.transcribe_blocking(np.zeros(10, np.float32)).text == ""
    assert moonshine.transcribe_blocking(np.zeros(32_000, np.float32)).text == ""


def test_long_audio_is_cut_into_pieces_and_does_not_loop(moonshine: MoonshineSTT) -> None:
    """37 s in one call: decoded whole, Moonshine repeats "10 of clubs" for as long as it may."""
    names = list(human_transcripts())
    audio = np.concatenate([read_audio(HUMAN_AUDIO / f"{n}.wav") for n in names] * 3)
    reference = " ".join([human_transcripts()[n] for n in names] * 3)
    cuts = split_points(audio)
    assert len(cuts) >= 3 and all(b - a <= 20 * 16_000 for a, b in itertools.pairwise(cuts))
    text = moonshine.transcribe_blocking(audio).text
    errors, words = word_errors(reference, text)
    assert len(text.split()) <= 1.2 * words, text
    assert errors / words <= 0.3, text


def test_decoding_stops_on_a_repeated_block() -> None:
    assert _repeated_tail([5, 6, 7] + [8, 9] * REPEATS_TO_STOP) == 2
    assert _repeated_tail([4] * REPEATS_TO_STOP) == 1
    assert _repeated_tail([8, 9] * (REPEATS_TO_STOP - 1)) == 0
    assert _repeated_tail([1, 2, 3, 4, 5]) == 0


def test_tokenizer_decodes_pieces_and_byte_fallback(moonshine: MoonshineSTT) -> None:
    tokenizer = moonshine.tokenizer
    assert len(tokenizer.pieces) == 32_000
    hello = tokenizer.pieces.index("\u2581Hello".encode())
    world = tokenizer.pieces.index("\u2581world".encode())
    assert tokenizer.decode([1, hello, world, 2]) == "Hello world"
    assert tokenizer.decode([3 + 0xC3, 3 + 0xA9]) == "\u00e9"  # UTF-8 bytes of "é" as byte tokens
    assert tokenizer.decode([hello, 40_000]) == "Hello"  # ids past the vocabulary are dropped


def test_not_a_tokenizer_file(tmp_path: Path) -> None:
    bad = tmp_path / "tokenizer.bin"
    bad.write_bytes(b"\x09abc")
    with pytest.raises(BackendUnavailable, match="not a Moonshine tokenizer"):
        Tokenizer(bad)


def _fake_package(root: Path, broken: str | None, content: bytes | None) -> Path:
    """A moonshine_cpp package dir whose model files link to the real ones, one replaced."""
    real = moonshine_assets.source_dir("base")
    models = root / "moonshine_cpp" / "models" / "base-en"
    models.mkdir(parents=True)
    (root / "moonshine_cpp" / "__init__.py").write_text("raise ImportError('never imported')\n")
    for name in moonshine_assets.SOURCES:
        if name != broken:
            (models / name).symlink_to(real / name)
        elif content is not None:
            (models / name).write_bytes(content)
    return root


@pytest.mark.parametrize(
    ("broken", "damage", "message"),
    [
        ("encoder_model.ort", None, "missing"),
        ("tokenizer.bin", "truncate", "wrong size"),
        ("decoder_model_merged.ort", "flip", "sha256"),
    ],
)
def test_missing_or_corrupt_model_files_name_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, broken: str, damage: str | None, message: str
) -> None:
    real = (moonshine_assets.source_dir("base") / broken).read_bytes()
    content = (
        None if damage is None else real[:-10] if damage == "truncate" else bytes([real[0] ^ 1]) + real[1:]
    )
    root = _fake_package(tmp_path / "site", broken, content)
    monkeypatch.setattr(moonshine_assets, "package_dir", lambda *_: root / "moonshine_cpp")
    monkeypatch.setenv("REJOINDER_CACHE", str(tmp_path / "cache"))
    with pytest.raises(BackendUnavailable, match=message) as info:
        moonshine_assets.prepared_files("base")
    assert "moonshine-cpp==0.1.4" in str(info.value) and "\n" not in str(info.value)


def test_a_changed_package_file_is_hashed_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Prepared once, then a file is damaged in place at the same size: the changed mtime makes
    the next load hash it again instead of trusting the record."""
    root = _fake_package(tmp_path / "site", "tokenizer.bin", None)
    tokenizer = root / "moonshine_cpp" / "models" / "base-en" / "tokenizer.bin"
    shutil.copyfile(moonshine_assets.source_dir("base") / "tokenizer.bin", tokenizer)
    monkeypatch.setattr(moonshine_assets, "package_dir", lambda *_: root / "moonshine_cpp")
    monkeypatch.setenv("REJOINDER_CACHE", str(tmp_path / "cache"))
    files = moonshine_assets.prepared_files("base")
    assert files.encoder.exists() and files.decoder.exists()
    data = bytearray(tokenizer.read_bytes())
    data[100] ^= 1
    tokenizer.write_bytes(bytes(data))
    os.utime(tokenizer, ns=(1, 1))
    with pytest.raises(BackendUnavailable, match="sha256"):
        moonshine_assets.prepared_files("base")


def test_cli_reports_a_missing_model_file_in_one_line(tmp_path: Path) -> None:
    """The real command, with a moonshine_cpp package lacking its encoder first on the path."""
    site = _fake_package(tmp_path / "site", "encoder_model.ort", None)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
        "REJOINDER_CACHE": str(tmp_path / "cache"),
        "COLUMNS": "200",
    }
    result = subprocess.run(
        [sys.executable, "-m", "rejoinder", "transcribe", "--stt", "moonshine", str(SAMPLES / "hello.wav")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 3, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("rejoinder: error: Moonshine model file missing"), lines
    assert "moonshine-cpp==0.1.4" in lines[0]


def test_unpackaged_model_names_and_dirs_are_refused(tmp_path: Path) -> None:
    with pytest.raises(BackendUnavailable, match="not packaged"):
        MoonshineSTT(STTConfig(backend="moonshine", model="tiny"))
    with pytest.raises(BackendUnavailable, match=r"no tokenizer\.bin"):
        MoonshineSTT(STTConfig(backend="moonshine", model=str(tmp_path)))
    shutil.copyfile(moonshine_assets.source_dir("base") / "tokenizer.bin", tmp_path / "tokenizer.bin")
    (tmp_path / "encoder_model.onnx").write_bytes(b"not onnx")
    (tmp_path / "decoder_model_merged.onnx").write_bytes(b"not onnx")
    with pytest.raises(BackendUnavailable, match="does not load"):
        MoonshineSTT(STTConfig(backend="moonshine", model=str(tmp_path)))
    with pytest.raises(BadInputError, match="English-only"):
        MoonshineSTT(STTConfig(backend="moonshine", language="fr"))


def test_backends_lists_moonshine() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "rejoinder", "backends", "--json"], capture_output=True, text=True, timeout=120
    )
    rows = json.loads(result.stdout)["backends"]
    assert {"stage": "stt", "name": "moonshine", "installed": True} in [
        {k: r[k] for k in ("stage", "name", "installed")} for r in rows
    ]
