"""A bench question with no speech in it (found by probing the CLI: `rejoinder bench silence.wav`
streamed silence in real time for ever, waiting for a reply to a turn that never began)."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

import numpy as np
import pytest

from fake_engine import fake_engine
from rejoinder.backends.fake import silence, tone
from rejoinder.bench import run_bench
from rejoinder.errors import BadInputError


def _wav(path: Path, samples: np.ndarray) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16_000)
        w.writeframes((samples * 32767).astype("<i2").tobytes())
    return path


def test_a_question_without_speech_is_refused_before_the_replay(tmp_path: Path) -> None:
    spoken = _wav(tmp_path / "spoken.wav", np.concatenate([silence(0.3), tone(0, 1.0), silence(0.5)]))
    quiet = _wav(tmp_path / "quiet.wav", silence(2.0))
    bench = run_bench(fake_engine(), [spoken, quiet], baseline=False)
    with pytest.raises(BadInputError, match=r"quiet\.wav: no speech found"):
        asyncio.run(asyncio.wait_for(bench, timeout=10))  # it hung here: a timeout fails the test
