"""What a user can get wrong on the command line is one `rejoinder: error:` line and exit 2, before
any model loads (found by probing the CLI: each case below was a Typer box of 5-6 lines, an
"internal error" with exit 1, or a process that grew to 17 GB and ignored SIGTERM)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
SAMPLE = next((Path(__file__).resolve().parents[1] / "data" / "human").glob("*.wav"))


def rejoinder(*args: str, **run: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.run(
        [sys.executable, "-m", "rejoinder", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        **run,  # type: ignore[call-overload]
    )


def one_error_line(done: subprocess.CompletedProcess[str], words: str) -> None:
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert lines[0].startswith("rejoinder: error:") and words in lines[0], lines[0]


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ('{"stt": {"threads": 100000}}', "stt.threads: Input should be less than or equal to 256"),
        ('{"llm": {"context": 100000000}}', "llm.context: Input should be less than or equal to 32768"),
        ("[" * 100_000, "nested deeper than 64"),
        ('{"llm": {"context": 1' + "0" * 5000 + "}}", "digits"),
        ('{"llm": {"context": 4096,}}', "not valid JSON"),
        ("\ufeff{}".encode("utf-16"), "not a UTF-8 text file"),
    ],
)
def test_a_config_file_no_model_can_take(tmp_path: Path, content: str | bytes, words: str) -> None:
    config = tmp_path / "config.json"
    config.write_bytes(content if isinstance(content, bytes) else content.encode())
    done = rejoinder("reply", str(SAMPLE), "-o", str(tmp_path / "out.wav"), "--config", str(config))
    one_error_line(done, words)
    assert not (tmp_path / "out.wav").exists()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["reply"], "Missing argument 'source'. (see '"),  # '... reply --help'
        (["reply", str(SAMPLE), "--bogus"], "No such option: --bogus"),
        (["nope"], "No such command 'nope'."),
        (["bench", "--runs", "0"], "Invalid value for '--runs'"),
        (["say", "hi", "-o", "x.wav", "--log-level", "bogus"], "log level 'bogus' is not one of"),
        (["reply", "a" * 300 + ".wav", "-o", "x.wav"], "File name too long"),
    ],
)
def test_usage_and_path_errors(tmp_path: Path, args: list[str], words: str) -> None:
    one_error_line(rejoinder(*args, cwd=tmp_path), words)


@pytest.mark.parametrize(
    ("args", "fd", "words"),
    [
        (["say", "hi", "-o", "-"], 1, "standard output is closed"),  # `>&-` in a shell
        (["transcribe", "-"], 0, "standard input is closed"),
    ],
)
def test_dash_with_stdout_or_stdin_closed(args: list[str], fd: int, words: str) -> None:
    one_error_line(rejoinder(*args, preexec_fn=lambda: os.close(fd)), words)


def test_a_prepared_venv_is_the_model_cache_even_when_the_user_cannot_write_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A user who cannot write the venv used to convert Moonshine again into ~/.cache, and failed
    without a writable home."""
    from rejoinder import models

    venv = tmp_path / "venv"
    monkeypatch.delenv("REJOINDER_CACHE", raising=False)
    monkeypatch.setattr(sys, "prefix", str(venv))
    monkeypatch.setattr(models.os, "access", lambda *_: False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "home-cache"))
    assert models.cache_dir() == tmp_path / "home-cache" / "rejoinder"  # nothing prepared there
    (venv / "share" / "rejoinder").mkdir(parents=True)
    assert models.cache_dir() == venv / "share" / "rejoinder"


def test_a_model_file_that_is_not_gguf_is_exit_2_not_a_missing_package(tmp_path: Path) -> None:
    (tmp_path / "model.gguf").write_bytes(b"<html>404 Not Found</html>" * 40)  # a failed download
    done = rejoinder("reply", str(SAMPLE), "-o", "out.wav", "--llm-model", "model.gguf", cwd=tmp_path)
    one_error_line(done, "model.gguf: not a GGUF model file")
    assert not (tmp_path / "out.wav").exists()
