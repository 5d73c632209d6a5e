"""`--tools` on `reply` and `serve`: a bad tools file is one `rejoinder: error:` line and exit 2,
before any model is loaded."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
SAMPLE = next((Path(__file__).resolve().parents[1] / "data" / "human").glob("*.wav"))


def rejoinder(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.run(
        [sys.executable, "-m", "rejoinder", *args], capture_output=True, text=True, env=env, timeout=120
    )


@pytest.mark.parametrize(
    ("command", "source", "words"),
    [
        ("reply", "def f(:\n", "bad.py:1: syntax error"),
        ("reply", "X = 1\n", "defines no public functions"),
        ("reply", "def f(x: dict) -> str:\n    return ''\n", "'f'"),
        ("reply", None, "does not exist"),
        ("serve", "def f(:\n", "bad.py:1: syntax error"),
    ],
)
def test_a_bad_tools_file_is_one_error_line_and_exit_2(
    tmp_path: Path, command: str, source: str | None, words: str
) -> None:
    tools = tmp_path / "bad.py"
    if source is not None:
        tools.write_text(source)
    args = [str(SAMPLE), "-o", str(tmp_path / "out.wav")] if command == "reply" else ["--port", "0"]
    done = rejoinder(command, *args, "--tools", str(tools))
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert lines[0].startswith("rejoinder: error:") and words in lines[0], lines[0]
    assert "Traceback" not in done.stderr
