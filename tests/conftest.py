from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from helpers import HUMAN_AUDIO, SAMPLES
from rejoinder.audio import read_audio
from rejoinder.config import Config
from rejoinder.engine import Engine


@pytest.fixture(scope="session")
def engine() -> Engine:
    """The real embedded models, loaded once for the whole test session."""
    return Engine.load(Config())


@pytest.fixture(scope="session")
def human_audio() -> Path:
    return HUMAN_AUDIO


@pytest.fixture(scope="session")
def question() -> np.ndarray:
    return read_audio(SAMPLES / "capital_of_italy.wav")


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)
