"""Inputs and outputs file mode got wrong before (found by probing the CLI): a pipe given as the
input path was refused as empty, a header claiming 1 Hz read a 3 s file as 13 hours of audio, an
output name near the 255-byte limit left no room for its temporary file, a dangling symlink's
missing directory was reported as `.`, and a file that is not a GGUF exited 3 (a missing package)
instead of 2."""

from __future__ import annotations

import os
import threading
import wave
from pathlib import Path

import pytest

from rejoinder.audio import stream_audio
from rejoinder.backends.llamacpp import resolve_model
from rejoinder.errors import BadInputError
from rejoinder.file_io import OutputFile, input_path

SAMPLE = next((Path(__file__).resolve().parents[1] / "data" / "human").glob("*.wav"))


def _feed(fifo: Path, data: bytes) -> threading.Thread:
    def write() -> None:
        with open(fifo, "wb") as f:
            f.write(data)

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


def _wav(path: Path, rate: int, data: bytes) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(data)
    return path


def test_a_named_pipe_is_read_once_into_a_private_copy(tmp_path: Path) -> None:
    fifo = tmp_path / "in.pipe"
    os.mkfifo(fifo)
    data = SAMPLE.read_bytes()
    writer = _feed(fifo, data)
    with input_path(fifo) as path:
        assert path != fifo and path.read_bytes() == data
        first = next(stream_audio(path))  # decodable, and as often as the CLI needs
        assert first.size > 0 and next(stream_audio(path)).size == first.size
    writer.join(5)
    assert not path.exists()


def test_an_empty_pipe_is_named_in_one_line(tmp_path: Path) -> None:
    fifo = tmp_path / "in.pipe"
    os.mkfifo(fifo)
    writer = _feed(fifo, b"")
    with pytest.raises(BadInputError, match=r"in\.pipe: no data"), input_path(fifo):
        pass
    writer.join(5)


def test_a_pipe_that_is_not_audio_names_the_pipe_not_the_copy(tmp_path: Path) -> None:
    fifo = tmp_path / "in.pipe"
    os.mkfifo(fifo)
    writer = _feed(fifo, b"not audio at all" * 100)
    with pytest.raises(BadInputError) as caught, input_path(fifo) as path:
        next(stream_audio(path))
    assert str(caught.value).startswith(f"{fifo}: not a readable audio file"), caught.value
    writer.join(5)


@pytest.mark.parametrize("rate", [1, 100, 3999, 800_000])
def test_a_sample_rate_no_speech_has_is_refused_before_decoding(tmp_path: Path, rate: int) -> None:
    path = _wav(tmp_path / "odd.wav", rate, bytes(96_000))
    with pytest.raises(BadInputError, match=f"sample rate of {rate} Hz"):
        next(stream_audio(path))


def test_8_khz_telephone_audio_still_reads(tmp_path: Path) -> None:
    path = _wav(tmp_path / "phone.wav", 8000, bytes(16_000))  # 1 s
    assert sum(b.size for b in stream_audio(path)) == 16_000


def test_an_output_name_of_250_bytes_gets_its_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / ("é" * 123 + ".wav")  # 250 bytes in UTF-8
    assert len(os.fsencode(target.name)) == 250
    with OutputFile(target) as out:
        assert out.temp.parent == tmp_path and len(os.fsencode(out.temp.name)) <= 255
        out.temp.write_bytes(b"wav")
        out.commit()
    assert target.read_bytes() == b"wav"
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


def test_a_dangling_link_names_the_directory_it_points_into(tmp_path: Path) -> None:
    link = tmp_path / "out.wav"
    link.symlink_to(tmp_path / "gone" / "deeper" / "out.wav")
    with pytest.raises(BadInputError) as caught, OutputFile(link):
        pass
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'gone' / 'deeper'}: output directory does not exist"), message
    assert "out.wav" in message


@pytest.mark.parametrize("content", [b"", b"GGU", os.urandom(4096), b"PK\x03\x04" + bytes(100)])
def test_a_file_that_is_not_gguf_is_the_users_mistake(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "model.gguf"
    path.write_bytes(content)
    with pytest.raises(BadInputError, match="not a GGUF model file"):
        resolve_model(str(path))
