"""The soak's talking client hears gaps in a reply the way a listener would."""

from __future__ import annotations

import pytest

from rejoinder.soak import voice
from rejoinder.soak.report import SoakStats, summary
from rejoinder.soak.voice import WIRE_RATE, Question, _Seen


def _hear(monkeypatch: pytest.MonkeyPatch, arrivals: list[tuple[float, float]]) -> _Seen:
    """(arrival time, seconds of audio) per delta."""
    clock = {"now": 0.0}
    monkeypatch.setattr(voice.time, "perf_counter", lambda: clock["now"])
    seen = _Seen(stopped_at=-0.5)
    for at, seconds in arrivals:
        clock["now"] = at
        seen.play(int(seconds * WIRE_RATE))
    return seen


def test_audio_that_keeps_ahead_of_playback_has_no_gap(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _hear(monkeypatch, [(0.0, 1.0), (0.9, 1.0), (1.5, 0.5), (2.4, 0.1)])
    assert (seen.clock.underruns, seen.clock.underrun_ms) == (0, 0.0)
    assert seen.first_audio_at == 0.0


def test_a_late_clause_is_one_gap_of_its_lateness(monkeypatch: pytest.MonkeyPatch) -> None:
    # 1 s of audio, the next clause 1.3 s in (0.3 s of silence), then one on time, then 0.2 s late
    seen = _hear(monkeypatch, [(0.0, 1.0), (1.3, 0.5), (1.7, 0.5), (2.5, 0.5)])
    assert seen.clock.underruns == 2
    assert seen.clock.underrun_ms == pytest.approx(500.0)


def test_the_report_counts_gaps_and_the_turns_that_had_them(monkeypatch: pytest.MonkeyPatch) -> None:
    stats = SoakStats()
    question = Question("q", "text", voice.np.zeros(10))
    smooth = _hear(monkeypatch, [(0.0, 1.0), (0.5, 1.0)])
    smooth.transcript = "q"
    gappy = _hear(monkeypatch, [(0.0, 0.2), (0.5, 0.2), (1.0, 0.2)])
    gappy.transcript = "q"
    stats.turn(smooth.result(question, "completed"))
    stats.turn(gappy.result(question, "completed"))
    gaps = summary(stats, {}, {}, warmup_s=0)["underruns"]
    assert (gaps["count"], gaps["turns_with"]) == (2, 1)
    assert gaps["ms"] == gaps["longest_ms"] == pytest.approx(600.0)
