"""A polite kill (SIGTERM) while the input is read from a pipe or stdin (found by probing the CLI:
`rejoinder transcribe - < talk.wav` killed mid-run, or `reply -` killed while stdin was still
coming, died at once and left its private copy of the input in /tmp/rejoinder-stdin-*)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
SAMPLE = next((Path(__file__).resolve().parents[1] / "data" / "human").glob("*.wav"))


def _started(tmp: Path, process: subprocess.Popen[bytes]) -> None:
    """Until the input's private copy exists (the run is reading stdin)."""
    deadline = time.monotonic() + 60
    while not list(tmp.glob("rejoinder-stdin-*")):
        assert process.poll() is None and time.monotonic() < deadline, "never started reading stdin"
        time.sleep(0.05)


def test_sigterm_while_stdin_is_read_leaves_no_copy(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(SRC), "TMPDIR": str(tmp_path)}
    out = tmp_path / "out.wav"
    out.write_bytes(b"keep me")
    process = subprocess.Popen(
        [sys.executable, "-m", "rejoinder", "reply", "-", "-o", str(out)],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert process.stdin is not None
    process.stdin.write(SAMPLE.read_bytes()[:4096])  # part of the file; the rest never comes
    process.stdin.flush()
    _started(tmp_path, process)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, (process.returncode, stderr)
    assert not list(tmp_path.glob("rejoinder-*")), list(tmp_path.iterdir())
    assert out.read_bytes() == b"keep me"


def test_sigterm_while_transcribing_stdin_leaves_no_copy(tmp_path: Path) -> None:
    import wave

    with wave.open(str(SAMPLE)) as w:
        params, frames = w.getparams(), w.readframes(w.getnframes())
    long = tmp_path / "long.wav"
    with wave.open(str(long), "wb") as w:  # minutes of speech: still transcribing when killed
        w.setparams(params)
        w.writeframes(frames * 100)
    spool = tmp_path / "spool"
    spool.mkdir()
    env = {**os.environ, "PYTHONPATH": str(SRC), "TMPDIR": str(spool)}
    with open(long, "rb") as stdin:
        process = subprocess.Popen(
            [sys.executable, "-m", "rejoinder", "transcribe", "-"],
            stdin=stdin,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
        )
        _started(spool, process)
        time.sleep(1.0)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, (process.returncode, stderr)
    assert not list(spool.glob("rejoinder-*")), list(spool.iterdir())
