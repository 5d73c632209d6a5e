"""WebRTC transport (aiortc): Opus audio both ways, Realtime events on a data channel.

POST /v1/realtime/calls with an SDP offer (application/sdp, as OpenAI's WebRTC endpoint takes)
returns the SDP answer. The browser's microphone track feeds the session at 16 kHz; reply audio
goes out on our own track, paced by its frame clock; events travel on the client's data
channel (any label; OpenAI clients call it "oai-events").
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import json
import logging
import time
from collections import deque
from typing import Any

import numpy as np
from aiohttp import web

from rejoinder.audio import SAMPLE_RATE, StreamResampler

log = logging.getLogger(__name__)

TRACK_RATE = 48_000
FRAME = 960  # 20 ms at 48 kHz


class ReplyTrack:
    """An outgoing audio track: queued reply audio, or silence, one 20 ms frame at a time."""

    kind = "audio"

    def __init__(self) -> None:
        from aiortc.mediastreams import MediaStreamTrack

        class _Track(MediaStreamTrack):
            kind = "audio"

            def __init__(inner) -> None:
                super().__init__()

            async def recv(inner) -> Any:
                return await self._next_frame()

        self.track = _Track()
        self._buffer: deque[np.ndarray] = deque()
        self._buffered = 0
        self._pts = 0
        self._start: float | None = None
        self._resample = StreamResampler(24_000, TRACK_RATE)

    def write(self, samples_24k: np.ndarray) -> None:
        data = self._resample(samples_24k)
        if data.size:
            self._buffer.append(data)
            self._buffered += data.size

    def clear(self) -> None:
        self._buffer.clear()
        self._buffered = 0

    async def _next_frame(self) -> Any:
        import av

        if self._start is None:
            self._start = time.perf_counter()
        due = self._start + self._pts / TRACK_RATE
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        out = np.zeros(FRAME, np.float32)
        filled = 0
        while filled < FRAME and self._buffer:
            head = self._buffer[0]
            take = min(FRAME - filled, head.size)
            out[filled : filled + take] = head[:take]
            filled += take
            if take == head.size:
                self._buffer.popleft()
            else:
                self._buffer[0] = head[take:]
        self._buffered -= filled
        pcm = (np.clip(out, -1, 1) * 32767).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = TRACK_RATE
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, TRACK_RATE)
        self._pts += FRAME
        return frame


def frame_to_16k(frame: Any, resampler: StreamResampler) -> np.ndarray:
    """An incoming av.AudioFrame (any layout) as 16 kHz mono float."""
    data = frame.to_ndarray()
    channels = len(frame.layout.channels)
    samples = data.astype(np.float32) / (32768.0 if data.dtype == np.int16 else 1.0)
    if frame.format.is_planar:
        mono = samples.reshape(channels, -1).mean(axis=0)
    else:
        mono = samples.reshape(-1, channels).mean(axis=1)
    return resampler(mono)


class WebRTCCall:
    def __init__(self, app: web.Application, connection_factory: Any) -> None:
        from aiortc import RTCPeerConnection

        self.pc = RTCPeerConnection()
        self.reply = ReplyTrack()
        self.pc.addTrack(self.reply.track)
        self.channel: Any = None
        self._pending: list[str] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self.closed = asyncio.Event()
        self.connection = connection_factory(
            self._send, audio_out=self.reply.write, audio_clear=self.reply.clear
        )
        self.pc.on("datachannel", self._on_channel)
        self.pc.on("track", self._on_track)
        self.pc.on("connectionstatechange", self._on_state)

    async def _send(self, event: dict[str, Any]) -> None:
        text = json.dumps(event)
        if self.channel is not None and self.channel.readyState == "open":
            self.channel.send(text)
        elif len(self._pending) < 256:
            self._pending.append(text)

    def _on_channel(self, channel: Any) -> None:
        self.channel = channel
        for text in self._pending:
            channel.send(text)
        self._pending.clear()

        @channel.on("message")
        def on_message(message: Any) -> None:
            self._spawn(self.connection.handle(message))

    def _on_track(self, track: Any) -> None:
        if track.kind == "audio":
            self._spawn(self._pump(track))

    async def _pump(self, track: Any) -> None:
        from aiortc.mediastreams import MediaStreamError

        resampler: StreamResampler | None = None
        try:
            while True:
                frame = await track.recv()
                if resampler is None:
                    resampler = StreamResampler(frame.sample_rate, SAMPLE_RATE)
                await self.connection.feed_audio(frame_to_16k(frame, resampler))
        except MediaStreamError:
            pass

    def _on_state(self) -> None:
        if self.pc.connectionState in ("failed", "closed", "disconnected"):
            self._spawn(self.close())

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def answer(self, sdp: str) -> str:
        from aiortc import RTCSessionDescription

        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        await self.connection.start()
        return str(self.pc.localDescription.sdp)

    async def close(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        for task in list(self._tasks):
            if task is not asyncio.current_task():
                task.cancel()
        await self.connection.close()
        with contextlib.suppress(Exception):
            await self.pc.close()


def add_routes(app: web.Application, new_connection: Any, slots: Any) -> None:
    from rejoinder.server.app import METRICS, SESSIONS
    from rejoinder.server.errors import error_response

    async def calls(request: web.Request) -> web.Response:
        refusal = slots(app).refusal()
        if refusal is not None:
            return refusal
        body = await request.text()
        if request.content_type == "application/json":
            try:
                body = json.loads(body).get("sdp", "")
            except (json.JSONDecodeError, AttributeError):
                body = ""
        if "v=0" not in body:
            return error_response("the body must be an SDP offer", 400, "invalid_sdp")
        call = WebRTCCall(app, lambda send, **kw: new_connection(app, send, "webrtc", **kw))
        try:
            answer = await call.answer(body)
        except Exception as exc:
            await call.close()
            return error_response(f"cannot answer this offer: {exc}", 400, "invalid_sdp")
        app[SESSIONS].add(call)
        app[METRICS].sessions_active.inc()

        async def release() -> None:
            await call.closed.wait()
            app[SESSIONS].discard(call)
            app[METRICS].sessions_active.dec()

        task = asyncio.create_task(release())
        call._tasks.add(task)
        return web.Response(text=answer, status=201, content_type="application/sdp")

    app.router.add_post("/v1/realtime/calls", calls)
