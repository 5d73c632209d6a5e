"""File mode cannot lose data: never over its input, checks before work, all or nothing, stdio."""

from __future__ import annotations

import io
import json
import os
import pty
import signal
import subprocess
import time
import wave
from pathlib import Path

import pytest

from helpers import SAMPLES
from rejoinder.audio import WavWriter, read_audio
from rejoinder.errors import BadInputError
from rejoinder.file_io import OutputFile, input_path
from test_cli import CLI, assert_one_line_error, cli

QUESTION = SAMPLES / "capital_of_italy.wav"


def run_cli(
    *args: str | Path, stdin: bytes = b"", timeout: float = 600
) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([*CLI, *map(str, args)], input=stdin, capture_output=True, timeout=timeout, env=env)


def as_text(result: subprocess.CompletedProcess[bytes]) -> subprocess.CompletedProcess[str]:
    return subprocess.CompletedProcess(
        result.args, result.returncode, result.stdout.decode(errors="replace"), result.stderr.decode()
    )


def no_partial_files(directory: Path) -> bool:
    return not [p for p in directory.iterdir() if p.name.endswith(".part")]


@pytest.mark.parametrize("how", ["same-path", "symlink", "hard-link", "relative"])
def test_reply_never_writes_over_its_input(tmp_path: Path, how: str) -> None:
    source = tmp_path / "a.wav"
    source.write_bytes(QUESTION.read_bytes())
    output = {
        "same-path": source,
        "symlink": tmp_path / "link.wav",
        "hard-link": tmp_path / "hard.wav",
        "relative": tmp_path / "sub" / ".." / "a.wav",
    }[how]
    if how == "symlink":
        output.symlink_to(source)
    elif how == "hard-link":
        os.link(source, output)
    elif how == "relative":
        (tmp_path / "sub").mkdir()
    assert_one_line_error(cli("reply", source, "-o", output), 2, "this is the input file")
    assert source.read_bytes() == QUESTION.read_bytes()
    assert no_partial_files(tmp_path)


def test_an_unwritable_output_location_fails_before_any_work(tmp_path: Path) -> None:
    started = time.monotonic()
    result = cli("reply", QUESTION, "-o", "/sys/rejoinder-answer.wav")  # not writable, even for root
    assert_one_line_error(result, 2, "cannot write output there")
    assert "loading" not in result.stderr
    assert time.monotonic() - started < 30  # models are never loaded (they take longer than this)
    assert_one_line_error(cli("say", "Hello.", "-o", "/sys/x.wav"), 2, "cannot write output there")
    if os.geteuid() != 0:  # root ignores permission bits
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        assert_one_line_error(cli("say", "Hello.", "-o", locked / "x.wav"), 2, "Permission denied")
    readonly = tmp_path / "keep.wav"
    readonly.write_bytes(b"precious")
    readonly.chmod(0o444)
    if os.geteuid() != 0:
        assert_one_line_error(cli("say", "Hello.", "-o", readonly), 2, "read-only")


def test_a_full_disk_is_one_line_and_exit_2() -> None:
    assert_one_line_error(cli("say", "Hello there.", "-o", "/dev/full"), 2, "No space left on device")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_interrupted_run_leaves_the_old_output_and_no_partial_file(tmp_path: Path, sig: int) -> None:
    """Stopped mid-run while the reply is being written: the old output is untouched."""
    long = tmp_path / "long.wav"
    with WavWriter(long, 16_000) as w:
        for _ in range(6):
            w.write(read_audio(QUESTION))
            w.silence(2.0)
    output = tmp_path / "answer.wav"
    output.write_bytes(b"the previous answer")
    proc = subprocess.Popen(
        [*CLI, "reply", str(long), "-o", str(output)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            parts = [p for p in tmp_path.iterdir() if p.name.endswith(".part")]
            if parts and parts[0].stat().st_size > 44:  # reply audio is being written
                break
            time.sleep(0.1)
        assert proc.poll() is None, "the run ended before it could be interrupted"
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr  # stopped at once, not after answering the whole file
    assert b"Traceback" not in stderr
    assert output.read_bytes() == b"the previous answer"
    assert no_partial_files(tmp_path)


def test_stdin_in_and_wav_to_stdout_with_the_report_on_stderr() -> None:
    result = run_cli("reply", "-", "-o", "-", "--json", stdin=QUESTION.read_bytes())
    assert result.returncode == 0, result.stderr.decode()
    with wave.open(io.BytesIO(result.stdout)) as w:  # stdout is the WAV and nothing else
        seconds = w.getnframes() / w.getframerate()
        assert seconds > 0.8 and len(result.stdout) == 44 + w.getnframes() * 2
    report = json.loads(result.stderr.decode()[result.stderr.decode().index("{") :])
    assert "rome" in report["turns"][0]["reply"].lower()


def test_say_to_stdout_and_transcribe_from_stdin() -> None:
    spoken = run_cli("say", "The capital of Italy is Rome.", "-o", "-")
    assert spoken.returncode == 0, spoken.stderr.decode()
    assert spoken.stdout[:4] == b"RIFF" and b"written to stdout" in spoken.stderr
    heard = run_cli("transcribe", "-", "--json", stdin=spoken.stdout)
    assert heard.returncode == 0, heard.stderr.decode()
    assert "rome" in json.loads(heard.stdout)["text"].lower()


def test_transcribe_reads_a_process_substitution(tmp_path: Path) -> None:
    """`rejoinder transcribe <(ffmpeg ...)`: the shell passes a pipe as /dev/fd/N."""
    done = subprocess.run(
        ["bash", "-c", f'"$0" "$@" <(cat "{QUESTION}")', *map(str, CLI), "transcribe", "--json"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "capital of italy" in json.loads(done.stdout)["text"].lower()


def test_stdio_mistakes_are_one_line_errors() -> None:
    assert_one_line_error(as_text(run_cli("transcribe", "-", stdin=b"")), 2, "stdin: no data")
    assert_one_line_error(as_text(run_cli("transcribe", "-", stdin=b"not audio" * 100)), 2, "stdin")
    # WAV bytes to a terminal would garble it
    leader, follower = pty.openpty()
    try:
        tty = subprocess.run(
            [*CLI, "say", "Hello.", "-o", "-"], stdout=follower, stderr=subprocess.PIPE, timeout=120
        )
    finally:
        os.close(follower)
        os.close(leader)
    assert tty.returncode == 2 and b"terminal" in tty.stderr and b"Traceback" not in tty.stderr
    # a reader that goes away: one line, not a BrokenPipeError traceback
    proc = subprocess.Popen(
        [*CLI, "say", "A sentence long enough to fill the pipe. " * 20, "-o", "-"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    proc.stdout.close()
    _, stderr = proc.communicate(timeout=300)
    assert_one_line_error(
        subprocess.CompletedProcess(proc.args, proc.returncode, "", stderr.decode()), 2, "stdout was closed"
    )


def test_stdin_is_capped(tmp_path: Path) -> None:
    with (
        pytest.raises(BadInputError, match="more than 1 MiB"),
        input_path(Path("-"), io.BytesIO(bytes(3 << 20)), max_bytes=1 << 20),
    ):
        pass


def test_output_file_through_a_symlink_keeps_the_link_and_the_mode(tmp_path: Path) -> None:
    real = tmp_path / "real.wav"
    real.write_bytes(b"old")
    real.chmod(0o640)
    link = tmp_path / "link.wav"
    link.symlink_to(real)
    with OutputFile(link) as target:
        target.temp.write_bytes(b"new")
        target.commit()
    assert link.is_symlink() and real.read_bytes() == b"new"
    assert real.stat().st_mode & 0o777 == 0o640
    with pytest.raises(RuntimeError), OutputFile(real) as target:
        target.temp.write_bytes(b"half")
        raise RuntimeError("the pipeline failed")
    assert real.read_bytes() == b"new" and no_partial_files(tmp_path)
