"""A talking Realtime client: speaks a recorded question at 1x over the WebSocket and times the answer."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np

from rejoinder.audio import read_audio, resample, to_pcm16
from rejoinder.listening import ListeningClock

WIRE_RATE = 24_000
CHUNK_S = 0.1


@dataclass(frozen=True)
class Question:
    name: str
    text: str
    audio: np.ndarray
    """24 kHz mono float, the Realtime wire format."""


def bundled_questions() -> list[Question]:
    from importlib import resources

    folder = Path(str(resources.files("rejoinder").joinpath("data", "samples")))
    out = []
    for line in (folder / "questions.txt").read_text().splitlines():
        if line.startswith("#") or "\t" not in line:
            continue
        name, text = line.split("\t", 1)
        audio = resample(read_audio(folder / f"{name}.wav"), 16_000, WIRE_RATE)
        out.append(Question(name, text, audio))
    return out


@dataclass
class TurnResult:
    question: str
    answered: bool
    first_audio_s: float | None
    """From the server's speech_stopped event to the first reply audio, as the client saw it."""
    transcript: str = ""
    reply: str = ""
    status: str = ""
    error: str | None = None
    server_first_audio_ms: float | None = None
    """The server's own figure (response.done metadata: VAD end-of-speech decision to first audio)."""
    underruns: int = 0
    """Times the reply's audio ran out while it was playing (its next delta came too late)."""
    underrun_ms: float = 0.0


def ws_url(base: str) -> str:
    return base.replace("http://", "ws://").replace("https://", "wss://") + "/v1/realtime?model=rejoinder"


async def open_session(client: aiohttp.ClientSession, base: str, timeout_s: float = 15) -> Any:
    """A WebSocket that has received session.created; raises on refusal (e.g. 503 at the limit)."""
    ws = await client.ws_connect(ws_url(base), timeout=aiohttp.ClientWSTimeout(ws_close=5))
    try:
        event = await asyncio.wait_for(next_event(ws), timeout_s)
        if event.get("type") != "session.created":
            raise RuntimeError(f"expected session.created, got {event.get('type')}")
    except BaseException:
        await ws.close()
        raise
    return ws


async def next_event(ws: Any) -> dict[str, Any]:
    msg = await ws.receive()
    if msg.type != aiohttp.WSMsgType.TEXT:
        raise ConnectionError(f"socket {msg.type.name.lower()}")
    return dict(json.loads(msg.data))


def append_event(samples: np.ndarray) -> str:
    return json.dumps(
        {"type": "input_audio_buffer.append", "audio": base64.b64encode(to_pcm16(samples)).decode()}
    )


async def speak(ws: Any, samples: np.ndarray, trailing_silence_s: float = 1.2) -> None:
    """Send audio in 100 ms chunks at 1x, then silence, as a microphone would."""
    audio = np.concatenate([samples, np.zeros(int(trailing_silence_s * WIRE_RATE), np.float32)])
    step = int(CHUNK_S * WIRE_RATE)
    start = time.perf_counter()
    for n, i in enumerate(range(0, audio.size, step)):
        if ws.closed:
            return
        await ws.send_str(append_event(audio[i : i + step]))
        await asyncio.sleep(max(0.0, start + (n + 1) * CHUNK_S - time.perf_counter()))


async def ask(ws: Any, question: Question, timeout_s: float = 60) -> TurnResult:
    """Speak `question` and wait for the response to finish."""
    sender = asyncio.ensure_future(speak(ws, question.audio))
    seen = _Seen()
    try:
        return await asyncio.wait_for(_answer(ws, question, seen), timeout_s)
    except asyncio.TimeoutError:
        return seen.result(question, "timeout", f"no answer in {timeout_s:g} s")
    except (ConnectionError, aiohttp.ClientError) as exc:
        return seen.result(question, "disconnected", str(exc) or type(exc).__name__)
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender


@dataclass
class _Seen:
    stopped_at: float | None = None
    transcript: str = ""
    reply: str = ""
    server_first_audio_ms: float | None = None
    clock: ListeningClock = field(default_factory=ListeningClock)

    @property
    def first_audio_at(self) -> float | None:
        return self.clock.started_at

    def play(self, samples: int) -> None:
        """The reply's audio on a listener's clock, started by its first delta."""
        self.clock.hear(samples / WIRE_RATE, time.perf_counter())

    def result(self, question: Question, status: str, error: str | None = None) -> TurnResult:
        answered = status == "completed" and self.first_audio_at is not None and bool(self.transcript)
        latency = None
        if self.first_audio_at is not None and self.stopped_at is not None:
            latency = self.first_audio_at - self.stopped_at
        return TurnResult(
            question.name,
            answered,
            latency,
            self.transcript,
            self.reply,
            status,
            error,
            self.server_first_audio_ms,
            self.clock.underruns,
            round(self.clock.underrun_ms, 1),
        )


async def _answer(ws: Any, question: Question, seen: _Seen) -> TurnResult:
    while True:
        event = await next_event(ws)
        kind = event.get("type")
        if kind == "input_audio_buffer.speech_stopped" and seen.stopped_at is None:
            seen.stopped_at = time.perf_counter()
        elif kind == "response.output_audio.delta":
            seen.play(len(base64.b64decode(str(event.get("delta", "")))) // 2)
        elif kind == "conversation.item.input_audio_transcription.completed":
            seen.transcript = str(event.get("transcript", ""))
        elif kind == "response.output_audio_transcript.delta":
            seen.reply += str(event.get("delta", ""))
        elif kind == "error":
            return seen.result(question, "error", json.dumps(event.get("error", {}))[:300])
        elif kind == "response.done":
            response = event.get("response", {})
            with contextlib.suppress(TypeError, ValueError, KeyError):
                seen.server_first_audio_ms = float((response.get("metadata") or {})["first_audio_ms"])
            return seen.result(question, str(response.get("status", "")))
