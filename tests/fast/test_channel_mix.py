"""Channels are averaged, not summed (found by probing the CLI: FFmpeg's mono downmix gave a file
whose channels all carry the same speech 1.41x its level in stereo and 3.41x in 5.1, peaks past
1.0 outside the pipeline's [-1, 1])."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from rejoinder.audio import read_audio
from rejoinder.backends.fake import tone


@pytest.mark.parametrize("channels", [1, 2, 3, 6, 8])
def test_the_same_speech_on_every_channel_keeps_its_level(tmp_path: Path, channels: int) -> None:
    mono = tone(0, 1.0, amplitude=0.9)
    path = tmp_path / "multi.wav"
    sf.write(path, np.stack([mono] * channels, axis=1), 16_000, subtype="FLOAT")
    mixed = read_audio(path)
    assert mixed.size == mono.size
    assert np.abs(mixed).max() == pytest.approx(0.9, abs=0.01)


def test_one_silent_side_halves_the_level(tmp_path: Path) -> None:
    mono = tone(0, 1.0, amplitude=0.8)
    path = tmp_path / "left.wav"
    sf.write(path, np.stack([mono, np.zeros_like(mono)], axis=1), 16_000, subtype="FLOAT")
    assert np.abs(read_audio(path)).max() == pytest.approx(0.4, abs=0.01)
