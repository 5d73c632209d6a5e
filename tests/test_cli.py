"""The command line as a user runs it: real process, real models, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from helpers import HUMAN_AUDIO, SAMPLES, encode
from rejoinder.audio import WavWriter, read_audio

CLI = [sys.executable, "-m", "rejoinder"]


def cli(*args: str | Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env)


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int, fragment: str) -> None:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("rejoinder: error:") and fragment in lines[0], lines[0]


def test_reply_json_answers_a_recorded_question(tmp_path: Path) -> None:
    out = tmp_path / "answer.wav"
    result = cli("reply", SAMPLES / "capital_of_italy.wav", "-o", out, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    [turn] = data["turns"]
    assert set(turn["timings_ms"]) == {
        "stt",
        "llm_first_token",
        "llm_total",
        "tts_first_audio",
        "first_audio",
    }
    assert all(isinstance(v, float) and v >= 0 for v in turn["timings_ms"].values())
    assert "rome" in turn["reply"].lower()
    assert data["output"] == str(out)
    with wave.open(str(out)) as w:
        assert w.getnframes() / w.getframerate() > 0.8


def test_reply_prints_a_readable_summary(tmp_path: Path) -> None:
    stereo = encode(tmp_path / "q.mp3", read_audio(SAMPLES / "spider_legs.wav"), 16_000, channels=2)
    result = cli("reply", stereo, "-o", tmp_path / "a.wav", "--max-tokens", "24")
    assert result.returncode == 0, result.stderr
    assert "turn 1" in result.stdout and "spider" in result.stdout.lower()
    assert "first audio" in result.stdout


def test_transcribe_human_recording() -> None:
    result = cli("transcribe", HUMAN_AUDIO / "goforward.wav", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["text"].lower().startswith("go forward")


def test_say_writes_speech(tmp_path: Path) -> None:
    out = tmp_path / "hi.wav"
    result = cli("say", "**Hello** there, Dr. Smith! 👋", "-o", out)
    assert result.returncode == 0, result.stderr
    audio = read_audio(out)
    assert audio.size / 16_000 > 0.8 and float(np.abs(audio).max()) > 0.1


def test_backends_lists_the_embedded_set() -> None:
    result = cli("backends", "--json")
    names = {(b["stage"], b["name"]) for b in json.loads(result.stdout)["backends"] if b["installed"]}
    assert {("vad", "silero"), ("stt", "faster-whisper"), ("llm", "llamacpp"), ("tts", "piper")} <= names
    assert {("stt", "openai"), ("llm", "openai"), ("tts", "openai"), ("tts", "espeak")} <= names


def _file(name: str, content: bytes | None) -> object:
    def make(d: Path) -> Path:
        if content is not None:
            (d / name).write_bytes(content)
        return d / name

    return make


@pytest.mark.parametrize(
    "make,fragment",
    [
        (_file("nope.wav", None), "no such file"),
        (_file("empty.wav", b""), "empty"),
        (_file("notes.wav", b"not audio\n" * 100), "not a readable audio file"),
        (_file("bad.wav", b"RIFF\x00\x00\x00\x00WAVEfmt " + bytes(200)), "bad.wav"),
    ],
    ids=["missing", "empty", "text", "corrupt-header"],
)
@pytest.mark.parametrize("command", ["reply", "transcribe"])
def test_bad_input_files(tmp_path: Path, make, fragment: str, command: str) -> None:  # type: ignore[no-untyped-def]
    extra = ["-o", str(tmp_path / "out.wav")] if command == "reply" else []
    assert_one_line_error(cli(command, make(tmp_path), *extra), 2, fragment)
    assert not (tmp_path / "out.wav").exists()


def test_bad_option_values(tmp_path: Path) -> None:
    q = SAMPLES / "hello.wav"
    assert_one_line_error(cli("reply", q, "-o", tmp_path / "o.wav", "--temperature", "9"), 2, "temperature")
    assert_one_line_error(cli("reply", q, "-o", tmp_path / "no" / "o.wav"), 2, "does not exist")
    assert_one_line_error(cli("reply", q, "-o", tmp_path), 2, "directory")
    assert_one_line_error(
        cli("reply", q, "-o", tmp_path / "o.wav", "--llm", "gpt9"), 2, "unknown llm backend"
    )
    assert_one_line_error(cli("reply", q, "-o", tmp_path / "o.wav", "--llm-model", "/nope.gguf"), 2, "GGUF")
    assert_one_line_error(cli("say", "🙂 ** ", "-o", tmp_path / "o.wav"), 2, "nothing speakable")


def test_eval_turns_reports_endpointing_beside_fixed_silence_and_barge_in() -> None:
    result = cli("eval", "--turns", "--limit", "1", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    names = [row["detector"] for row in report["endpointing"]]
    assert names == ["silence 500 ms", "smart (auto)", "no text model (auto)"]
    assert report["interruptions"] and report["clips"]["complete"] == 1
    assert_one_line_error(cli("eval", "--turns", "--split", "bogus"), 2, "--split")


@pytest.mark.parametrize("kind", ["silence", "noise"])
def test_silence_and_noise_mean_zero_turns(tmp_path: Path, kind: str) -> None:
    rng = np.random.default_rng(1)
    audio = (
        np.zeros(16_000 * 4, np.float32)
        if kind == "silence"
        else rng.normal(0, 0.05, 16_000 * 4).astype(np.float32)
    )
    src = tmp_path / f"{kind}.wav"
    with WavWriter(src, 16_000) as w:
        w.write(audio)
    result = cli("reply", src, "-o", tmp_path / "o.wav", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["turns"] == []
    plain = cli("reply", src, "-o", tmp_path / "o.wav")
    assert plain.returncode == 0 and "no speech found" in plain.stderr
    assert not (tmp_path / "o.wav").exists()


def test_one_hour_file_is_streamed_with_bounded_memory(tmp_path: Path) -> None:
    """An hour of room silence with one question in the middle: found, answered, memory flat."""
    question = read_audio(SAMPLES / "days_in_week.wav")
    src = tmp_path / "hour.wav"
    rng = np.random.default_rng(2)
    with WavWriter(src, 16_000) as w:
        for minute in range(60):
            if minute == 30:
                w.write(question)
            w.write((rng.normal(0, 0.0005, 16_000 * 60)).astype(np.float32))
    assert src.stat().st_size > 100_000_000
    # VmHWM is this process's own peak; ru_maxrss would carry the peak of the pytest process
    # that forked it (Linux keeps it across exec), which the real-model tests before this one raise
    script = (
        "import sys; sys.argv = ['rejoinder'] + sys.argv[1:];"
        "from rejoinder.cli import main\n"
        "try:\n    main()\nfinally:\n"
        "    hwm = open('/proc/self/status').read().split('VmHWM:')[1].split()[0]\n"
        "    print('PEAK_MB', int(hwm) // 1024, file=sys.stderr)"
    )
    result = subprocess.run(
        # one tier: the bound below is about streaming the file, not the size of the strong model
        [
            sys.executable,
            "-c",
            script,
            "reply",
            str(src),
            "-o",
            str(tmp_path / "o.wav"),
            "--json",
            "--no-route",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr
    turns = json.loads(result.stdout)["turns"]
    assert len(turns) == 1 and 1799 < turns[0]["start_s"] < 1802
    assert "week" in turns[0]["transcript"].lower()
    peak = int(result.stderr.split("PEAK_MB")[-1].split()[0])
    assert peak < 1200, (
        f"peak RSS {peak} MB: the file was not streamed"
    )  # the file alone is 115 MB decoded x2


def test_serve_starts_answers_health_and_refuses_a_busy_port() -> None:
    import socket
    import time
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [*CLI, "serve", "--port", str(port), "--log-level", "warning"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.time() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    assert json.loads(r.read())["status"] == "ok"
                    break
            except OSError:
                assert server.poll() is None and time.time() < deadline, (
                    server.stderr.read() if server.stderr else ""
                )
                time.sleep(0.5)
        busy = cli("serve", "--port", str(port))
        assert_one_line_error(busy, 2, "cannot listen")
    finally:
        server.terminate()
        server.wait(30)


def test_espeak_fallback_voice(tmp_path: Path) -> None:
    out = tmp_path / "robot.wav"
    result = cli("say", "The fallback voice works.", "-o", out, "--tts", "espeak")
    assert result.returncode == 0, result.stderr
    audio = read_audio(out)
    assert audio.size / 16_000 > 0.8 and float(np.abs(audio).max()) > 0.1
    bad = cli("say", "Hi.", "-o", out, "--tts", "espeak", "--voice", "klingon-xx")
    assert_one_line_error(bad, 2, "no voice")
