"""Smart Turn v3.2: our log-mel features against transformers', and the model on real speech."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import numpy as np
import pytest

from helpers import SAMPLES
from rejoinder import models, registry
from rejoinder.audio import read_audio
from rejoinder.backends.log_mel import fit_window, log_mel
from rejoinder.backends.smart_turn import SmartTurn
from rejoinder.config import VADConfig
from rejoinder.errors import BackendUnavailable
from rejoinder.evals.turn_data import load


@pytest.fixture(scope="module")
def smart_turn() -> SmartTurn:
    model = registry.create("turn", "smart-turn", VADConfig())
    assert isinstance(model, SmartTurn)
    return model


@pytest.mark.parametrize("kind", ["speech", "noise", "short"])
def test_features_match_transformers_whisper_feature_extractor(kind: str) -> None:
    transformers = pytest.importorskip("transformers")  # the [seed] extra, installed by scripts/test.sh
    rng = np.random.default_rng(3)
    audio = {
        "speech": read_audio(SAMPLES / "capital_of_italy.wav"),
        "noise": rng.normal(0, 0.2, 9 * 16_000).astype(np.float32),
        "short": read_audio(SAMPLES / "hello.wav")[:12_000],
    }[kind]
    window = fit_window(audio, 8.0)
    assert window.size == 128_000
    extractor = transformers.WhisperFeatureExtractor(feature_size=80, chunk_length=8)
    expected = extractor(
        window, sampling_rate=16_000, padding="max_length", max_length=128_000, truncation=True,
        do_normalize=True, return_tensors="np",
    ).input_features[0]  # fmt: skip
    ours = log_mel(window)
    assert ours.shape == expected.shape == (80, 800)
    np.testing.assert_allclose(ours, expected, atol=1e-4)


def test_complete_question_scores_high_and_a_filler_scores_low(smart_turn: SmartTurn) -> None:
    silence = np.zeros(3200, np.float32)  # 200 ms after the last word, as the taker asks
    question = np.concatenate([read_audio(SAMPLES / "capital_of_italy.wav")[:-12_000], silence])
    hesitation = next(c for c in load() if c.text.startswith("So I was thinking, uh,"))
    pause_at = round(hesitation.pauses[0][0] * 16_000)
    filler = np.concatenate([hesitation.audio()[:pause_at], silence])  # "So I was thinking, uh," ...
    complete, cut = smart_turn.probability_blocking(question), smart_turn.probability_blocking(filler)
    assert complete > 0.8
    assert cut < 0.3


def test_probability_runs_on_the_model_thread_not_the_event_loop(smart_turn: SmartTurn) -> None:
    threads: list[str] = []
    original = smart_turn.session.run

    def spy(*args: object, **kwargs: object) -> object:
        threads.append(threading.current_thread().name)
        return original(*args, **kwargs)  # type: ignore[arg-type]

    smart_turn.session.run = spy  # type: ignore[method-assign]
    try:
        p = asyncio.run(smart_turn.probability(np.zeros(16_000, np.float32)))
    finally:
        smart_turn.session.run = original  # type: ignore[method-assign]
    assert 0.0 <= p <= 1.0
    assert threads and threads[0].startswith("rejoinder-turn") and threads[0] != threading.main_thread().name


def test_a_corrupt_model_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / models.SMART_TURN_FILE
    fake.parent.mkdir(parents=True)
    fake.write_bytes(b"\0" * models.SMART_TURN_SIZE)
    monkeypatch.setattr(models, "package_dir", lambda package, hint: tmp_path)
    with pytest.raises(BackendUnavailable, match="corrupt"):
        models.smart_turn_path()
    fake.write_bytes(b"short")
    with pytest.raises(BackendUnavailable, match="missing or wrong size"):
        models.smart_turn_path()
