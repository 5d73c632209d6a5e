"""PCM helpers, streaming decode of any audio file, resampling and incremental WAV writing.

Everything inside the pipeline is mono float32 in [-1, 1]; 16 kHz on the way in.
"""

from __future__ import annotations

import wave
from collections.abc import Generator
from pathlib import Path
from types import TracebackType

import numpy as np
import soxr

from rejoinder.errors import BadInputError

SAMPLE_RATE = 16_000
"""Input audio inside the pipeline (VAD, STT, turn models)."""
PCM_RATE = 24_000
"""PCM16 on the OpenAI wire: Realtime audio deltas and /v1/audio/speech `pcm`."""
TRACK_RATE = 48_000
"""WebRTC Opus tracks."""

FloatArray = np.ndarray


def to_pcm16(samples: FloatArray) -> bytes:
    return (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def from_pcm16(data: bytes) -> FloatArray:
    if len(data) % 2:
        raise BadInputError("PCM16 audio must have an even number of bytes")
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0


def resample(samples: FloatArray, src_rate: int, dst_rate: int) -> FloatArray:
    if src_rate == dst_rate or samples.size == 0:
        return samples.astype(np.float32, copy=False)
    return soxr.resample(samples.astype(np.float32, copy=False), src_rate, dst_rate).astype(np.float32)


class StreamResampler:
    """Chunk-by-chunk resampling that keeps filter state across chunks (no clicks at joins)."""

    def __init__(self, src_rate: int, dst_rate: int) -> None:
        self.src_rate, self.dst_rate = src_rate, dst_rate
        self._stream = None if src_rate == dst_rate else soxr.ResampleStream(src_rate, dst_rate, 1, "float32")

    def __call__(self, samples: FloatArray, last: bool = False) -> FloatArray:
        if self._stream is None:
            return samples.astype(np.float32, copy=False)
        return self._stream.resample_chunk(samples.astype(np.float32, copy=False), last=last)

    def flush(self) -> FloatArray:
        """The samples the filter still holds (about 35 ms at 24 -> 16 kHz), and a fresh start:
        without it a manual commit lost the end of its last word."""
        if self._stream is None:
            return np.zeros(0, np.float32)
        tail = self._stream.resample_chunk(np.zeros(0, np.float32), last=True)
        self._stream.clear()
        return tail


MIN_INPUT_RATE = 4_000
"""Below this no speech is left to hear, and a header that says 1 Hz would make each stored
sample 16,000 samples (a 3 s file read as 13 hours of audio)."""
MAX_INPUT_RATE = 768_000


def probe_duration(path: Path) -> float | None:
    """Duration in seconds from the container header, when it states one."""
    import av

    try:
        with av.open(str(path)) as container:
            if container.duration is not None:
                return float(container.duration) / 1_000_000
            stream = container.streams.audio[0]
            if stream.duration is not None and stream.time_base is not None:
                return float(stream.duration * stream.time_base)
    except Exception:
        return None
    return None


def stream_audio(
    path: str | Path, sample_rate: int = SAMPLE_RATE, block_s: float = 0.5
) -> Generator[FloatArray, None, None]:
    """Decode any audio file lazily into mono float32 blocks at `sample_rate`.

    Memory stays bounded whatever the file's length: nothing is read ahead of the consumer.
    """
    import av

    path = Path(path)
    if not path.exists():
        raise BadInputError(f"{path}: no such file")
    if path.is_dir():
        raise BadInputError(f"{path}: is a directory, not an audio file")
    if path.stat().st_size == 0:
        raise BadInputError(f"{path}: the file is empty")
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as exc:
        raise BadInputError(f"{path}: not a readable audio file ({_reason(exc)})") from None
    block = max(1, int(sample_rate * block_s))
    try:
        if not container.streams.audio:
            raise BadInputError(f"{path}: the file has no audio track")
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate or stream.sample_rate
        if rate and not MIN_INPUT_RATE <= rate <= MAX_INPUT_RATE:
            raise BadInputError(
                f"{path}: a sample rate of {rate} Hz is not audio this can read "
                f"({MIN_INPUT_RATE}-{MAX_INPUT_RATE} Hz)"
            )
        # interleaved float in the file's own layout, mixed down by `_mono`: FFmpeg's mono downmix
        # sums (stereo at 1.41x, 5.1 at 3.41x the level of speech on every channel, past 1.0);
        # packed, since PyAV's planar to_ndarray crashed on 8 channels
        resampler = av.AudioResampler(format="flt", rate=sample_rate)
        pending: list[FloatArray] = []
        pending_len = 0
        decoded_any = False
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    data = _mono(out.to_ndarray(), len(out.layout.channels))
                    decoded_any = decoded_any or data.size > 0
                    pending.append(data)
                    pending_len += data.size
                    while pending_len >= block:
                        joined = np.concatenate(pending)
                        yield joined[:block]
                        rest = joined[block:]
                        pending, pending_len = ([rest] if rest.size else []), rest.size
            for out in resampler.resample(None):
                pending.append(_mono(out.to_ndarray(), len(out.layout.channels)))
        except av.error.FFmpegError as exc:
            if not decoded_any:
                raise BadInputError(f"{path}: not a readable audio file ({_reason(exc)})") from None
            raise BadInputError(f"{path}: audio data is corrupt part-way through ({_reason(exc)})") from None
        if not decoded_any:
            raise BadInputError(f"{path}: contains no audio samples")
        if pending:
            tail = np.concatenate(pending)
            if tail.size:
                yield tail
    finally:
        container.close()


def read_audio(path: str | Path, sample_rate: int = SAMPLE_RATE, max_s: float | None = None) -> FloatArray:
    """Whole file as one array; refuses files longer than `max_s` rather than filling memory."""
    blocks: list[FloatArray] = []
    total = 0
    for block in stream_audio(path, sample_rate):
        blocks.append(block)
        total += block.size
        if max_s is not None and total > max_s * sample_rate:
            raise BadInputError(f"{path}: longer than {max_s:g} s; use a shorter file")
    return np.concatenate(blocks) if blocks else np.zeros(0, np.float32)


def _mono(packed: FloatArray, channels: int) -> FloatArray:
    """Interleaved channels averaged into one: the level of speech on every channel is kept,
    and the result stays in [-1, 1]."""
    samples = packed.reshape(-1).astype(np.float32, copy=False)
    if channels <= 1:
        return samples
    return samples.reshape(-1, channels).mean(axis=1, dtype=np.float32)


def _reason(exc: Exception) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return text.split(":")[-1].strip() or type(exc).__name__


class WavWriter:
    """Mono PCM16 WAV written as audio arrives, so long outputs never sit in memory."""

    def __init__(self, path: str | Path, sample_rate: int) -> None:
        self.path = Path(path)
        self.sample_rate = sample_rate
        self.samples_written = 0
        try:
            self._wav = wave.open(str(self.path), "wb")  # noqa: SIM115 (closed by close())
        except OSError as exc:
            raise BadInputError(f"{self.path}: cannot write output ({exc.strerror or exc})") from None
        self._wav.setnchannels(1)
        self._wav.setsampwidth(2)
        self._wav.setframerate(sample_rate)

    def write(self, samples: FloatArray) -> None:
        try:
            self._wav.writeframes(to_pcm16(samples))
        except OSError as exc:  # disk full, quota, a vanished mount: the user's to fix
            raise BadInputError(f"{self.path}: cannot write output ({exc.strerror or exc})") from None
        self.samples_written += samples.size

    def silence(self, seconds: float) -> None:
        self.write(np.zeros(int(seconds * self.sample_rate), np.float32))

    def close(self) -> None:
        try:
            self._wav.close()
        except OSError as exc:
            raise BadInputError(f"{self.path}: cannot write output ({exc.strerror or exc})") from None

    def __enter__(self) -> WavWriter:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
