"""The GPU benchmark script runs end to end (tiny architectures, CPU): the numbers it prints for the
real sizes come from a GPU machine, but the code path is the one tested here."""

from __future__ import annotations

import json
import subprocess
import sys

from helpers import REPO


def test_gpu_benchmark_script_runs_at_tiny_scale() -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "gpu_seed.py"),
            "--scale",
            "tiny",
            "--device",
            "cpu",
            "--runs",
            "1",
            "--tts-seconds",
            "0.5",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    data = json.loads(result.stdout)
    assert data["scale"] == "tiny" and data["device"] == "cpu"
    for key in ("stt_3s_ms", "llm_first_token_ms", "llm_first_clause_8_tokens_ms", "tts_first_audio_ms"):
        assert data[key]["median"] > 0
    assert data["llm_tokens_per_s"] > 0 and data["tts_real_time_factor"] > 0
    total = data["stt_3s_ms"]["median"] + data["llm_first_clause_8_tokens_ms"]["median"]
    assert data["turn_end_of_speech_to_first_audio_ms"] > total
