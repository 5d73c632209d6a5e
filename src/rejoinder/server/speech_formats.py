"""/v1/audio/speech in the six formats OpenAI offers, encoded while the audio is being made so the
first bytes leave before the last sentence is synthesised.

Found with the openai SDK: its default `response_format` is mp3, and mp3, opus, aac and flac got a
400 here. PyAV (already a dependency, for WebRTC) carries ffmpeg's LAME, Opus, AAC and FLAC
encoders and muxers that write to a pipe, so nothing here needs a seekable file.
"""

from __future__ import annotations

import struct
import threading
from dataclasses import dataclass
from typing import Any, Protocol, cast

import av
import numpy as np
from av.audio.stream import AudioStream

from rejoinder.audio import PCM_RATE
from rejoinder.server.limits import RequestError


@dataclass(frozen=True)
class SpeechFormat:
    name: str
    content_type: str
    muxer: str | None = None
    """ffmpeg container; None for pcm and wav, written here."""
    codec: str | None = None
    bit_rate: int | None = None


SPEECH_FORMATS: dict[str, SpeechFormat] = {
    f.name: f
    for f in (
        SpeechFormat("mp3", "audio/mpeg", "mp3", "libmp3lame", 64_000),
        SpeechFormat("opus", "audio/ogg", "ogg", "libopus", 32_000),
        SpeechFormat("aac", "audio/aac", "adts", "aac", 64_000),
        SpeechFormat("flac", "audio/flac", "flac", "flac"),
        SpeechFormat("wav", "audio/wav"),
        SpeechFormat("pcm", "audio/pcm"),
    )
}
DEFAULT_SPEECH_FORMAT = "mp3"
"""OpenAI's default: a client that names no format expects mp3 bytes."""

STREAM_FORMATS = ("audio", "sse")


def speech_format(body: dict[str, Any]) -> SpeechFormat:
    name = body.get("response_format")
    if name is None:
        return SPEECH_FORMATS[DEFAULT_SPEECH_FORMAT]
    if not isinstance(name, str) or name not in SPEECH_FORMATS:
        raise RequestError(
            f"'response_format' must be one of {', '.join(SPEECH_FORMATS)}", param="response_format"
        )
    return SPEECH_FORMATS[name]


def wants_events(body: dict[str, Any]) -> bool:
    """True for `stream_format: "sse"` (speech.audio.delta events), False for raw audio."""
    value = body.get("stream_format")
    if value is None:
        return False
    if value not in STREAM_FORMATS:
        raise RequestError(
            f"'stream_format' must be one of {', '.join(STREAM_FORMATS)}", param="stream_format"
        )
    return bool(value == "sse")


def check_instructions(body: dict[str, Any]) -> None:
    """Refuse voice `instructions`: the loaded TTS speaks one voice, set when it loads (for
    Parler-TTS, tts.description), so they would be silently ignored."""
    value = body.get("instructions")
    if value is None or value == "":
        return
    if not isinstance(value, str):
        raise RequestError("'instructions' must be a string", param="instructions")
    raise RequestError(
        "'instructions' is not supported by this server's TTS (its voice is set when it loads); leave it out",
        param="instructions",
    )


class SpeechEncoder(Protocol):
    def push(self, pcm16: bytes) -> bytes:
        """Encoded bytes ready so far (may be empty)."""
        ...

    def finish(self) -> bytes:
        """The rest, once the audio has ended."""
        ...

    def close(self) -> None: ...


class PcmEncoder:
    def push(self, pcm16: bytes) -> bytes:
        return pcm16

    def finish(self) -> bytes:
        return b""

    def close(self) -> None:
        pass


class WavEncoder:
    """A WAV header holds the data's length, so the PCM is kept (bounded by the input limit) and
    written whole: players that trust the header then see the true duration."""

    def __init__(self) -> None:
        self._data = bytearray()

    def push(self, pcm16: bytes) -> bytes:
        self._data += pcm16
        return b""

    def finish(self) -> bytes:
        data, self._data = bytes(self._data), bytearray()
        return wav_header(len(data)) + data

    def close(self) -> None:
        self._data = bytearray()


class _Pipe:
    """The file object ffmpeg's muxer writes to: bytes are taken out as they arrive."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def write(self, data: bytes) -> int:
        self._buf += data
        return len(data)

    def take(self) -> bytes:
        out = bytes(self._buf)
        self._buf.clear()
        return out


class AvEncoder:
    """Pushes run in a worker thread; a lock keeps `close` (a client gone mid-request) from freeing
    ffmpeg's encoder while a push is still inside it."""

    def __init__(self, fmt: SpeechFormat, rate: int = PCM_RATE) -> None:
        assert fmt.muxer is not None and fmt.codec is not None
        self._rate = rate
        self._pipe = _Pipe()
        self._container = av.open(self._pipe, mode="w", format=fmt.muxer)
        self._stream = cast(AudioStream, self._container.add_stream(fmt.codec, rate=rate, layout="mono"))
        if fmt.bit_rate:
            self._stream.bit_rate = fmt.bit_rate
        self._closed = False
        self._lock = threading.Lock()

    def push(self, pcm16: bytes) -> bytes:
        samples = np.frombuffer(pcm16, dtype=np.int16)
        with self._lock:
            if self._closed:
                return b""
            if samples.size:
                frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
                frame.sample_rate = self._rate
                for packet in self._stream.encode(frame):
                    self._container.mux(packet)
            return self._pipe.take()

    def finish(self) -> bytes:
        with self._lock:
            if self._closed:
                return b""
            for packet in self._stream.encode(None):
                self._container.mux(packet)
            self._close()
            return self._pipe.take()

    def close(self) -> None:
        with self._lock:
            self._close()

    def _close(self) -> None:
        if not self._closed:
            self._closed = True
            self._container.close()


def open_encoder(fmt: SpeechFormat) -> SpeechEncoder:
    if fmt.name == "pcm":
        return PcmEncoder()
    if fmt.name == "wav":
        return WavEncoder()
    return AvEncoder(fmt)


def wav_header(data_bytes: int) -> bytes:
    """A 44-byte PCM16 mono WAV header at PCM_RATE."""
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data_bytes)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, PCM_RATE, PCM_RATE * 2, 2, 16)
        + b"data"
        + struct.pack("<I", data_bytes)
    )
