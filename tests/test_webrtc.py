"""WebRTC with a real aiortc peer: a recorded question goes up as Opus, the answer comes back as audio."""

from __future__ import annotations

import asyncio
import fractions
import json
import time
from typing import Any

import aiohttp
import numpy as np

from helpers import SAMPLES
from rejoinder.audio import read_audio, resample
from rejoinder.engine import Engine
from server_helpers import running_server


class FileTrack:
    """A microphone stand-in: plays a float array as 20 ms 48 kHz frames in real time, then silence."""

    def __init__(self, samples_48k: np.ndarray) -> None:
        import av
        from aiortc.mediastreams import MediaStreamTrack

        outer = self

        class _Track(MediaStreamTrack):
            kind = "audio"

            async def recv(self) -> Any:
                if outer.start is None:
                    outer.start = time.perf_counter()
                wait = outer.start + outer.pts / 48_000 - time.perf_counter()
                if wait > 0:
                    await asyncio.sleep(wait)
                chunk = outer.samples[outer.pts : outer.pts + 960]
                chunk = np.pad(chunk, (0, 960 - chunk.size))
                frame = av.AudioFrame.from_ndarray(
                    (chunk * 32767).astype(np.int16).reshape(1, -1), format="s16", layout="mono"
                )
                frame.sample_rate, frame.pts = 48_000, outer.pts
                frame.time_base = fractions.Fraction(1, 48_000)
                outer.pts += 960
                return frame

        self.samples, self.pts, self.start = samples_48k, 0, None
        self.track = _Track()


def test_webrtc_call_answers_a_recorded_question(engine: Engine) -> None:
    from aiortc import RTCPeerConnection, RTCSessionDescription

    question = resample(read_audio(SAMPLES / "capital_of_italy.wav"), 16_000, 48_000)

    async def go(base: str) -> dict[str, Any]:
        pc = RTCPeerConnection()
        pc.addTrack(FileTrack(np.concatenate([question, np.zeros(48_000 * 8, np.float32)])).track)
        channel = pc.createDataChannel("oai-events")
        events: list[dict[str, Any]] = []
        done = asyncio.Event()
        received: list[float] = []
        drains: list[asyncio.Future[None]] = []

        @channel.on("message")
        def on_message(message: str) -> None:
            events.append(json.loads(message))
            if events[-1]["type"] == "response.done":
                done.set()

        @pc.on("track")
        def on_track(track: Any) -> None:
            async def drain() -> None:
                while True:
                    frame = await track.recv()
                    level = float(np.abs(frame.to_ndarray().astype(np.float32) / 32768).max())
                    received.append(level)

            drains.append(asyncio.ensure_future(drain()))

        await pc.setLocalDescription(await pc.createOffer())
        async with aiohttp.ClientSession() as client:
            async with client.post(
                base + "/v1/realtime/calls",
                data=pc.localDescription.sdp,
                headers={"Content-Type": "application/sdp"},
            ) as r:
                assert r.status == 201, await r.text()
                answer = await r.text()
            await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
            await asyncio.wait_for(done.wait(), 60)
            await asyncio.sleep(1.0)  # let the paced reply audio arrive
            async with client.get(base + "/health") as r:
                sessions_during = (await r.json())["sessions"]
        await pc.close()
        for task in drains:
            task.cancel()
        return {"events": events, "levels": received, "sessions": sessions_during}

    with running_server(engine) as base:
        result = asyncio.run(go(base))
    types = [e["type"] for e in result["events"]]
    assert types[0] == "session.created"
    transcript = next(
        e["transcript"]
        for e in result["events"]
        if e["type"] == "conversation.item.input_audio_transcription.completed"
    )
    assert "capital of italy" in transcript.lower()
    done = result["events"][types.index("response.done")]
    assert done["response"]["status"] == "completed"
    assert "rome" in done["response"]["output"][0]["content"][0]["transcript"].lower()
    assert "response.output_audio.delta" not in types  # audio comes on the media track, not the channel
    loud = sum(level > 0.05 for level in result["levels"])
    assert loud * 0.02 > 0.5, f"only {loud} audible 20 ms frames came back"
    assert result["sessions"] == 1


def test_webrtc_rejects_a_bad_offer(engine: Engine) -> None:
    async def go(base: str) -> tuple[int, int]:
        async with aiohttp.ClientSession() as client:
            async with client.post(base + "/v1/realtime/calls", data="hello") as r:
                first = r.status
            async with client.post(
                base + "/v1/realtime/calls",
                data="v=0\r\nnonsense\r\n",
                headers={"Content-Type": "application/sdp"},
            ) as r:
                second = r.status
                assert "error" in await r.json()
        return first, second

    with running_server(engine) as base:
        assert asyncio.run(go(base)) == (400, 400)
