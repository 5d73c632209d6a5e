"""The load test's user over the network: the same behaviour as `client.LoadClient`, speaking the
Realtime protocol to a running server (`rejoinder serve` or `rejoinder cluster`) over WebSocket,
so admission, the protocol and the paced audio are all measured too."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import random
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import numpy as np

from rejoinder.audio import PCM_RATE, SAMPLE_RATE, resample, to_pcm16
from rejoinder.listening import ListeningClock
from rejoinder.loadtest.client import ClientSettings, TurnResult
from rejoinder.loadtest.corpus import Question

CHUNK_S = 0.04
"""Microphone chunks sent every 40 ms."""


@dataclass
class RemoteClient:
    url: str
    """ws://HOST:PORT/v1/realtime..."""
    questions: list[Question]
    settings: ClientSettings = field(default_factory=ClientSettings)
    api_key: str | None = None
    results: list[TurnResult] = field(default_factory=list)
    refused: str | None = None
    """The error the server refused this client with, if it did."""
    clock: ListeningClock = field(default_factory=ListeningClock)
    _started: float = 0.0
    _sent_s: float = 0.0
    _end_wall: float | None = None
    _done: asyncio.Event = field(default_factory=asyncio.Event)
    _status: str | None = None
    _transcript: str = ""

    async def run(self, http: aiohttp.ClientSession) -> list[TurnResult]:
        rng = random.Random(self.settings.seed)
        await asyncio.sleep(self.settings.start_delay_s)
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        async with http.ws_connect(self.url, headers=headers, max_msg_size=0) as ws:
            first = json.loads((await ws.receive(timeout=30)).data)
            if first.get("type") == "error":
                self.refused = str(first["error"].get("code"))
                return self.results
            reader = asyncio.create_task(self._read(ws))
            self._started = time.perf_counter()
            try:
                for question in self.questions:
                    self.results.append(await self._ask(ws, question))
                    await self._send(ws, np.zeros(int(rng.uniform(*self.settings.think_s) * PCM_RATE)))
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
        return self.results

    async def _ask(self, ws: Any, question: Question) -> TurnResult:
        self._end_wall = self._status = None
        self.clock.next_reply()
        self._done.clear()
        audio = resample(question.audio, SAMPLE_RATE, PCM_RATE)
        end_at = self._sent_s + question.speech_end_s
        await self._send(ws, audio, end_at)
        deadline = time.perf_counter() + self.settings.answer_timeout_s
        silence = np.zeros(int(CHUNK_S * PCM_RATE), np.float32)
        while not self._done.is_set() and time.perf_counter() < deadline:
            await self._send(ws, silence)
        while time.perf_counter() < self.clock.ends_at + 0.3:
            await self._send(ws, silence)
        first_audio, end = self.clock.started_at, self._end_wall
        heard = first_audio is not None and end is not None
        result = TurnResult(question.name, heard and self._status == "completed", transcript=self._transcript)
        if first_audio is not None and end is not None:
            result.voice_to_voice_ms = round((first_audio - end) * 1000, 1)
        return result

    async def _send(self, ws: Any, audio: np.ndarray, end_at: float | None = None) -> None:
        """Streams 24 kHz audio in real time; notes when the true end of speech went out."""
        step = int(CHUNK_S * PCM_RATE)
        for i in range(0, audio.size, step):
            block = audio[i : i + step]
            due = self._started + self._sent_s + block.size / PCM_RATE
            if (delay := due - time.perf_counter()) > 0:
                await asyncio.sleep(delay)
            chunk = base64.b64encode(to_pcm16(block)).decode()
            await ws.send_str(json.dumps({"type": "input_audio_buffer.append", "audio": chunk}))
            self._sent_s += block.size / PCM_RATE
            if end_at is not None and self._end_wall is None and self._sent_s >= end_at:
                self._end_wall = due - (self._sent_s - end_at)

    async def _read(self, ws: Any) -> None:
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            event = json.loads(msg.data)
            kind = event.get("type")
            if kind == "response.output_audio.delta" and self._end_wall is not None:
                self.clock.hear(len(base64.b64decode(event["delta"])) // 2 / PCM_RATE, time.perf_counter())
            elif kind == "conversation.item.input_audio_transcription.completed":
                self._transcript = event.get("transcript", "")
            elif kind == "response.done" and self._end_wall is not None:
                self._status = event["response"]["status"]
                if self._status != "cancelled":  # a pause mid-question: the answer comes after
                    self._done.set()


async def run_remote(
    url: str, hands: list[list[Question]], settings: list[ClientSettings], api_key: str | None
) -> list[RemoteClient]:
    base = url.rstrip("/").replace("http://", "ws://", 1).replace("https://", "wss://", 1)
    target = base if base.endswith("/v1/realtime") else base + "/v1/realtime?model=rejoinder"
    clients = [RemoteClient(target, hand, s, api_key) for hand, s in zip(hands, settings, strict=True)]
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as http:
        await asyncio.gather(*(c.run(http) for c in clients))
    return clients
