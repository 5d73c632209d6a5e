"""WebRTC transport (aiortc): Opus audio both ways, Realtime events on a data channel.

The server's POST /v1/realtime/calls (server/realtime_routes.py) answers an SDP offer with one
of these calls. The browser's microphone track feeds the session at 16 kHz; reply audio
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
from collections.abc import Callable, Coroutine
from typing import Any

import numpy as np

from rejoinder.audio import PCM_RATE, SAMPLE_RATE, TRACK_RATE, StreamResampler
from rejoinder.transports.realtime import RealtimeConnection

log = logging.getLogger(__name__)

FRAME = TRACK_RATE // 50
"""20 ms."""
CONNECT_TIMEOUT_S = 15.0
"""A peer that has not connected this long after its offer was answered is given up, and its
session released (found by probing: four offers whose peers never connected held every slot
until the 300 s idle timeout). Browsers connect in a second or two."""


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
        self._resample = StreamResampler(PCM_RATE, TRACK_RATE)

    def write(self, samples: np.ndarray) -> None:
        """Reply audio at the Realtime PCM rate."""
        data = self._resample(samples)
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
    """One peer connection = one Realtime connection; ends (once) however the peer goes away:
    connection failed or closed, data channel closed, microphone track ended, or never connected
    (CONNECT_TIMEOUT_S)."""

    def __init__(
        self,
        connection_factory: Callable[..., RealtimeConnection],
        on_activity: Callable[[], None] | None = None,
        on_closed: Callable[[], None] | None = None,
    ) -> None:
        from aiortc import RTCPeerConnection

        self.pc = RTCPeerConnection()
        self.reply = ReplyTrack()
        self.pc.addTrack(self.reply.track)
        self.channel: Any = None
        self._pending: list[str] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._on_activity = on_activity or (lambda: None)
        self._on_closed = on_closed
        self.closed = asyncio.Event()
        self._connected = asyncio.Event()
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
            self._on_activity()
            self._spawn(self.connection.handle(message))

        @channel.on("close")
        def on_close() -> None:
            self._spawn(self.close())

    def _on_track(self, track: Any) -> None:
        if track.kind == "audio":
            self._spawn(self._pump(track))

    async def _pump(self, track: Any) -> None:
        from aiortc.mediastreams import MediaStreamError

        resampler: StreamResampler | None = None
        try:
            while True:
                frame = await track.recv()
                self._on_activity()
                if resampler is None:
                    resampler = StreamResampler(frame.sample_rate, SAMPLE_RATE)
                await self.connection.feed_audio(frame_to_16k(frame, resampler))
        except MediaStreamError:  # the peer's microphone track ended: so did the call
            self._spawn(self.close())

    def _on_state(self) -> None:
        if self.pc.connectionState == "connected":
            self._connected.set()
        elif self.pc.connectionState in ("failed", "closed", "disconnected"):
            self._spawn(self.close())

    async def _connect_or_close(self) -> None:
        try:
            await asyncio.wait_for(self._connected.wait(), CONNECT_TIMEOUT_S)
        except asyncio.TimeoutError:  # not TimeoutError itself before Python 3.11
            log.info("webrtc peer never connected", extra={"after_s": CONNECT_TIMEOUT_S})
            await self.close(f"the peer did not connect within {CONNECT_TIMEOUT_S:g} s")

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        if self.closed.is_set():
            coro.close()
            return
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def answer(self, sdp: str) -> str:
        from aiortc import RTCSessionDescription

        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        await self.connection.start()
        self._spawn(self._connect_or_close())
        return str(self.pc.localDescription.sdp)

    async def close(self, reason: str | None = None) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        if self._on_closed is not None:  # released before anything below can fail or be cancelled
            self._on_closed()
        if reason:
            await self.connection.error(reason, "session_closed")
        for task in list(self._tasks):
            if task is not asyncio.current_task():
                task.cancel()
        await self.connection.close()
        with contextlib.suppress(Exception):
            await self.pc.close()
