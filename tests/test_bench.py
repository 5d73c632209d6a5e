"""The benchmark harness itself: real-time replay, per-stage statistics, baseline, concurrency."""

from __future__ import annotations

import json

from conftest import run
from helpers import SAMPLES
from rejoinder.bench import STAGES, run_bench, summarise
from rejoinder.engine import Engine
from test_cli import cli


def test_summarise_median_and_p95() -> None:
    s = summarise([float(v) for v in range(1, 101)])
    assert s["median"] == 50.5 and s["p95"] == 95.0 and s["n"] == 100
    assert summarise([]) == {"n": 0}


def test_bench_replays_in_real_time_with_baseline(engine: Engine) -> None:
    result = run(run_bench(engine, [SAMPLES / "capital_of_italy.wav"], runs=1, clients=1, baseline=True))
    assert result["turns"] == result["expected_turns"] == 1
    assert set(result["stages_ms"]) == set(STAGES)
    stages = result["stages_ms"]
    assert all(stages[s]["n"] == 1 for s in ("stt", "first_audio", "endpointing", "voice_to_voice"))
    # real-time replay: the turn ended after a short silence (end-of-turn model), within its cap
    assert 100 < stages["endpointing"]["median"] < 1600 + 1500  # cap, plus the check's wall time
    v2v = stages["endpointing"]["median"] + stages["first_audio"]["median"]
    assert abs(stages["voice_to_voice"]["median"] - v2v) < 0.2
    assert result["wall_s"] >= 2.5  # the 2.8 s question was streamed at 1x, not faster
    assert result["baseline_sequential_ms"]["first_audio"]["n"] == 1
    assert result["speedup_first_audio_median"] > 0
    assert "italy" in result["transcripts"][0].lower()


def test_bench_concurrent_clients_all_get_answers(engine: Engine) -> None:
    # a question without a pause inside: "Hello, how are you today?" may be two turns (issue 11)
    result = run(run_bench(engine, [SAMPLES / "capital_of_italy.wav"], runs=1, clients=2, baseline=False))
    assert result["turns"] == 2 and result["config"]["clients"] == 2
    assert isinstance(result["underruns"], int)
    assert "baseline_sequential_ms" not in result


def test_bench_cli_json() -> None:
    result = cli("bench", SAMPLES / "days_in_week.wav", "--json", "--baseline", "none")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["turns"] == 1 and data["stages_ms"]["first_audio"]["n"] == 1
    bad = cli("bench", SAMPLES / "nope.wav")
    assert bad.returncode == 2 and "no such file" in bad.stderr
