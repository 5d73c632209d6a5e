"""Decoding every common format, and a clear error for each kind of bad file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from helpers import SAMPLES, encode
from rejoinder.audio import WavWriter, read_audio, stream_audio
from rejoinder.errors import BadInputError


def tone(seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


@pytest.mark.parametrize("suffix", [".wav", ".flac", ".ogg", ".mp3"])
@pytest.mark.parametrize("rate,channels", [(44_100, 2), (8_000, 1), (48_000, 1)])
def test_common_formats_any_rate_stereo_are_decoded_to_16k_mono(
    tmp_path: Path, suffix: str, rate: int, channels: int
) -> None:
    if suffix == ".ogg" and rate not in (8_000, 48_000):
        rate = 48_000  # Opus only takes its own rates
    path = encode(tmp_path / f"x{suffix}", tone(2.0, rate), rate, channels)
    audio = read_audio(path)
    assert abs(audio.size / 16_000 - 2.0) < 0.1
    assert 0.2 < float(np.abs(audio).max()) < 0.45  # mixing down did not double or drop the signal


def test_stream_is_lazy_and_blocks_are_bounded() -> None:
    blocks = stream_audio(SAMPLES / "capital_of_italy.wav", block_s=0.25)
    first = next(blocks)
    assert first.size == 4000
    assert sum(b.size for b in blocks) + first.size == read_audio(SAMPLES / "capital_of_italy.wav").size


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda p: p, "no such file"),
        (lambda p: (p.write_bytes(b""), p)[1], "empty"),
        (lambda p: (p.write_text("hello, I am a text file\n" * 50), p)[1], "not a readable audio file"),
        (lambda p: (p.mkdir(), p)[1], "directory"),
    ],
    ids=["missing", "empty", "text", "directory"],
)
def test_bad_files_raise_one_clear_error(tmp_path: Path, make, message: str) -> None:  # type: ignore[no-untyped-def]
    path = make(tmp_path / "input.wav")
    with pytest.raises(BadInputError, match=message):
        read_audio(path)


def test_corrupt_header_is_a_clear_error(tmp_path: Path) -> None:
    good = (SAMPLES / "capital_of_italy.wav").read_bytes()
    bad = tmp_path / "corrupt.wav"
    bad.write_bytes(b"RIFF\xff\xff\xff\xffWAVEjunk" + bytes(40) + good[60:])
    with pytest.raises(BadInputError, match=r"corrupt\.wav"):
        read_audio(bad)


def test_header_only_wav_has_no_samples(tmp_path: Path) -> None:
    path = tmp_path / "header.wav"
    WavWriter(path, 16_000).close()
    with pytest.raises(BadInputError):
        read_audio(path)


def test_max_duration_guard(tmp_path: Path) -> None:
    path = encode(tmp_path / "long.wav", tone(3.0, 16_000), 16_000)
    with pytest.raises(BadInputError, match="longer than 1 s"):
        read_audio(path, max_s=1.0)
