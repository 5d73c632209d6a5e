"""The load test on fake stages: distinct questions per client, voice-to-voice from the true end
of speech, unanswered questions counted, and the ramp's capacity verdict."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import numpy as np
import pytest

from fake_engine import fake_engine
from rejoinder.backends.fake import FakeLLM, silence, tone
from rejoinder.loadtest.corpus import Question, deal, distinct_share, speech_end
from rejoinder.loadtest.ramp import RampSettings, run_ramp, verdict
from rejoinder.loadtest.run import LoadSettings, Percentiles, run_load

FAST = LoadSettings(clients=2, turns=2, spread_s=0.1, think_s=(0.05, 0.1), answer_timeout_s=5)


def questions(count: int, per_group: int = 1) -> list[Question]:
    out = []
    for i in range(count):
        audio = np.concatenate([silence(0.1), tone(i % 3, 0.4), silence(0.3)])
        out.append(
            Question(f"q{i // per_group}-{i % per_group}", f"q{i // per_group}", i % per_group, audio, 0.5)
        )
    return out


def test_speech_end_finds_the_last_loud_frame_above_background_noise() -> None:
    rng = np.random.default_rng(0)
    audio = np.concatenate([silence(0.3), tone(0, 1.0), silence(0.7)])
    audio += rng.normal(0, 0.005, audio.size).astype(np.float32)
    assert speech_end(audio) == pytest.approx(1.3, abs=0.02)


def test_clients_get_different_conversations_until_the_deck_runs_out() -> None:
    qs = questions(12, per_group=2)  # six two-turn conversations
    hands = deal(qs, clients=3, turns=4, seed=1)
    assert [len(h) for h in hands] == [4, 4, 4]
    assert distinct_share(hands) == 1.0
    for hand in hands:  # a conversation's turns stay together and in order
        for a, b in zip(hand[::2], hand[1::2], strict=True):
            assert a.group == b.group and (a.turn, b.turn) == (0, 1)
    assert deal(qs, 3, 4, seed=1) == hands and deal(qs, 3, 4, seed=2) != hands
    assert distinct_share(deal(qs, clients=4, turns=6, seed=1)) == 0.5  # 24 asked, 12 distinct


def test_percentiles_are_nearest_rank() -> None:
    p = Percentiles.of([float(v) for v in range(1, 101)] + [None])
    assert (p.n, p.p50, p.p95, p.p99, p.max) == (100, 50.0, 95.0, 99.0, 100.0)
    assert Percentiles.of([]).n == 0


def test_every_question_is_answered_and_timed_from_the_true_end_of_speech() -> None:
    result = asyncio.run(run_load(fake_engine(), questions(6), FAST))
    assert (result.asked, result.answered) == (4, 4)
    assert result.distinct_share == 1.0
    for turn in result.turns:
        assert turn.voice_to_voice_ms is not None and turn.endpointing_ms is not None
        # the 300 ms end-of-turn silence is part of voice-to-voice, and the pipeline's own figure is not
        assert turn.endpointing_ms >= 250
        # (each figure is rounded to 0.1 ms: a first audio of 0.2 ms came out as 321.1 < 321.0 + 0.16)
        assert turn.voice_to_voice_ms >= turn.endpointing_ms + 0.8 * (turn.first_audio_ms or 0) - 0.2
        assert turn.reply.startswith("Rome")
    assert result.resources.peak_rss_mb > 0 and result.resources.wall_s > 1


def test_a_question_without_reply_counts_as_unanswered() -> None:
    engine = fake_engine(llm=FakeLLM(reply=""))
    result = asyncio.run(run_load(engine, questions(4), replace(FAST, clients=1, answer_timeout_s=1)))
    assert (result.asked, result.answered) == (2, 0)
    assert result.voice_to_voice_ms.n == 0
    assert verdict(result, 1000) == "2 of 2 questions unanswered"


def test_the_ramp_stops_at_the_first_level_over_the_bound() -> None:
    one_turn = replace(FAST, turns=1)
    # the 300 ms end-of-turn silence alone is over a 250 ms bound
    over = asyncio.run(
        run_ramp(fake_engine(), questions(6), one_turn, RampSettings(bound_ms=250, max_clients=3))
    )
    assert over.capacity == 0 and len(over.levels) == 1 and "p95" in over.stopped
    ok = asyncio.run(
        run_ramp(fake_engine(), questions(6), one_turn, RampSettings(bound_ms=5000, max_clients=2))
    )
    assert ok.capacity == 2 and [lv.settings.clients for lv in ok.levels] == [1, 2]
    assert ok.stopped == "reached --max-clients 2"
    assert ok.to_dict()["levels"][1]["voice_to_voice_ms"]["n"] == 2


def test_against_a_server_the_clients_past_capacity_are_refused_and_the_rest_answered() -> None:
    from rejoinder.server.capacity import Capacity
    from server_helpers import running_server

    with running_server(fake_engine(), capacity=Capacity(2, "configured")) as base:
        result = asyncio.run(run_load(None, questions(6), replace(FAST, clients=3), url=base))
    assert result.refused == 1 and result.url == base
    assert (result.asked, result.answered) == (4, 4)  # two admitted clients, two questions each
    assert all(t.voice_to_voice_ms is not None and t.voice_to_voice_ms > 250 for t in result.turns)
    assert all(t.transcript for t in result.turns)
    assert verdict(result, 10_000) == "1 of 3 clients refused by the server"
