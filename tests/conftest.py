from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fake_engine import fake_engine
from helpers import HUMAN_AUDIO, SAMPLES
from rejoinder.audio import read_audio
from rejoinder.config import Config
from rejoinder.engine import Engine


@pytest.fixture(scope="session")
def engine() -> Engine:
    """The real embedded models, loaded once for the whole test session, with one LLM tier
    (SmolLM2): the session mechanics tested with it (history, speculation, barge-in) do not depend
    on routing, and tests that wrap `engine.llm` need every turn to reach it. The routed default
    (SmolLM2 + Qwen2.5-Coder-1.5B) is tested through the CLI in test_routing.py and test_eval.py."""
    config = Config()
    config.router.enabled = False
    return Engine.load(config)


@pytest.fixture(scope="session")
def human_audio() -> Path:
    return HUMAN_AUDIO


@pytest.fixture(scope="session")
def question() -> np.ndarray:
    return read_audio(SAMPLES / "capital_of_italy.wav")


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


@pytest.fixture
def fakes() -> Engine:
    """Every stage a scripted fake: for the fast set."""
    return fake_engine()
