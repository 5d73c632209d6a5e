"""Silero VAD and turn detection on real speech, noise and silence."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import SAMPLES
from rejoinder.audio import read_audio
from rejoinder.config import VADConfig
from rejoinder.engine import Engine
from rejoinder.turns import SpeechEnded, SpeechPaused, SpeechResumed, SpeechStarted, TurnDetector


def detect(engine: Engine, audio: np.ndarray, block: int = 1600, **cfg: float) -> list[object]:
    detector = TurnDetector(engine.vad.stream(), VADConfig(**cfg))
    events: list[object] = []
    for i in range(0, audio.size, block):
        events += detector.feed(audio[i : i + block])
    return events + detector.finish()


def test_silence_gives_no_turn(engine: Engine) -> None:
    assert detect(engine, np.zeros(16_000 * 5, np.float32)) == []


@pytest.mark.parametrize("level", [0.01, 0.1, 0.3])
def test_white_noise_gives_no_turn(engine: Engine, level: float) -> None:
    noise = np.random.default_rng(0).normal(0, level, 16_000 * 5).clip(-1, 1).astype(np.float32)
    assert detect(engine, noise) == []


def test_question_is_one_turn_with_plausible_bounds(engine: Engine) -> None:
    audio = read_audio(SAMPLES / "capital_of_italy.wav")  # 0.3 s lead-in, ~1.7 s speech, 0.8 s tail
    events = detect(engine, audio)
    assert [type(e) for e in events] == [SpeechStarted, SpeechPaused, SpeechEnded]
    end = events[2]
    assert isinstance(end, SpeechEnded) and not end.forced
    assert 0.1 < end.start_s < 0.6
    assert 1.7 < end.end_s < 2.3
    assert end.audio.size / 16_000 > 1.5  # includes prefix padding, not clipped


def test_block_size_does_not_change_the_result(engine: Engine) -> None:
    audio = read_audio(SAMPLES / "spider_legs.wav")
    a = detect(engine, audio, block=512)
    b = detect(engine, audio, block=7777)
    assert [(type(x), getattr(x, "end_s", None)) for x in a] == [
        (type(x), getattr(x, "end_s", None)) for x in b
    ]


def test_two_questions_with_a_pause_are_two_turns(engine: Engine) -> None:
    q = read_audio(SAMPLES / "hello.wav")
    audio = np.concatenate([q, np.zeros(8000, np.float32), q])
    ends = [e for e in detect(engine, audio) if isinstance(e, SpeechEnded)]
    assert len(ends) == 2


def test_a_short_click_is_not_speech(engine: Engine) -> None:
    speech = read_audio(SAMPLES / "hello.wav")
    start = int(0.4 * 16_000)
    click = np.concatenate(
        [np.zeros(16_000, np.float32), speech[start : start + 1600], np.zeros(16_000, np.float32)]
    )
    assert detect(engine, click, min_speech_ms=250) == []


def test_longer_silence_setting_merges_a_pause(engine: Engine) -> None:
    q = read_audio(SAMPLES / "hello.wav")
    audio = np.concatenate([q, np.zeros(4000, np.float32), q])
    ends = [e for e in detect(engine, audio, min_silence_ms=2500) if isinstance(e, SpeechEnded)]
    assert len(ends) == 1


def test_endless_speech_is_cut_at_max_turn(engine: Engine) -> None:
    q = read_audio(SAMPLES / "largest_planet.wav")
    audio = np.concatenate([q[4000:-8000]] * 6)
    ends = [
        e for e in detect(engine, audio, max_turn_s=5.0, min_silence_ms=2000) if isinstance(e, SpeechEnded)
    ]
    assert ends and ends[0].forced and ends[0].audio.size <= 5.1 * 16_000


def test_a_short_pause_is_announced_then_withdrawn(engine: Engine) -> None:
    """A pause longer than speculate_after_ms but shorter than the end silence: paused, resumed, one turn."""
    q = read_audio(SAMPLES / "hello.wav")[4000:-12000]  # trim most lead-in and tail silence
    audio = np.concatenate([q, np.zeros(4800, np.float32), q, np.zeros(16_000, np.float32)])
    kinds = [type(e) for e in detect(engine, audio, min_silence_ms=700, speculate_after_ms=160)]
    assert kinds.count(SpeechStarted) == 1 and kinds.count(SpeechEnded) == 1
    assert SpeechResumed in kinds
    assert kinds[-2:] == [SpeechPaused, SpeechEnded]
    paused = [
        e
        for e in detect(engine, audio, min_silence_ms=700, speculate_after_ms=0)
        if isinstance(e, SpeechPaused)
    ]
    assert paused == []
