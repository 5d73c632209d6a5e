"""`rejoinder eval` as a user runs it: real models on a few bundled clips, and its bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

CLI = [sys.executable, "-m", "rejoinder"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([*CLI, "eval", *args], capture_output=True, text=True, timeout=900, env=env)


def one_line_error(result: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    [line] = [x for x in result.stderr.splitlines() if x.strip()]
    assert line.startswith("rejoinder: error:") and fragment in line, line


@pytest.mark.slow
def test_eval_on_a_two_turn_conversation_with_all_three_configurations() -> None:
    """'What is the capital of France?' then 'And what about Germany?', spoken, real models."""
    result = run("--only", "germany", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert [c["config"] for c in data["configs"]] == ["routed", "small-only", "strong-only"]
    turns = [t for t in data["turns"] if t["config"] == "routed"]
    assert [t["turn"] for t in turns] == [0, 1]
    assert "germany" in turns[1]["transcript"].lower()  # heard through VAD and Whisper
    assert turns[1]["tier"] == "strong"  # a follow-up goes where the history can be used
    assert all(t["first_audio_ms"] is not None and t["first_audio_ms"] > 0 for t in data["turns"])
    routed = data["configs"][0]
    assert routed["per_category"]["follow-ups"]["scored"] == 1
    assert {"small", "strong"} >= set(routed["per_tier"]) and routed["latency"]["first_audio_ms"]["n"] == 2
    assert {c["per_tier"].get("small", {}).get("turns") for c in data["configs"][1:2]} == {2}
    assert "eval routed: 2/2 turns" in result.stderr  # progress, one line per conversation


def test_eval_bad_options_are_one_line_errors() -> None:
    one_line_error(run("--configs", "routed,huge"), "--configs")
    one_line_error(run("--only", "no-such-conversation"), "no conversation matches")
    one_line_error(run("--split", "train"), "--split")
