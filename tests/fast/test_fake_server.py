"""The server on fake stages: every session is released however it ends (WebRTC calls dropped
by the client, idle sockets), admission refuses past the limit, and /health shows it."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import numpy as np

from fake_engine import fake_engine
from rejoinder.backends.fake import tone
from server_helpers import connect, running_server
from test_webrtc import FileTrack


async def sessions(client: aiohttp.ClientSession, base: str) -> int:
    async with client.get(base + "/health") as r:
        return int((await r.json())["sessions"])


async def until_sessions(client: aiohttp.ClientSession, base: str, count: int, timeout: float = 10) -> float:
    start = time.perf_counter()
    while (n := await sessions(client, base)) != count:
        assert time.perf_counter() - start < timeout, f"{n} sessions still open after {timeout} s"
        await asyncio.sleep(0.1)
    return time.perf_counter() - start


async def open_call(client: aiohttp.ClientSession, base: str) -> Any:
    from aiortc import RTCPeerConnection, RTCSessionDescription

    pc = RTCPeerConnection()
    pc.addTrack(FileTrack(np.concatenate([tone(0, 0.5, rate=48_000), np.zeros(48_000, np.float32)])).track)
    channel = pc.createDataChannel("oai-events")
    opened = asyncio.Event()
    channel.on("open", opened.set)
    await pc.setLocalDescription(await pc.createOffer())
    async with client.post(
        base + "/v1/realtime/calls", data=pc.localDescription.sdp, headers={"Content-Type": "application/sdp"}
    ) as r:
        assert r.status == 201, await r.text()
        answer = await r.text()
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    await asyncio.wait_for(opened.wait(), 10)
    return pc


def test_webrtc_calls_closed_by_the_client_are_released() -> None:
    async def go(base: str) -> list[float]:
        released = []
        async with aiohttp.ClientSession() as client:
            for _ in range(6):  # more than max_sessions: leaked calls would lock everyone out
                pc = await open_call(client, base)
                assert await sessions(client, base) == 1
                await pc.close()
                released.append(await until_sessions(client, base, 0))
            async with client.get(base + "/metrics") as r:
                assert "rejoinder_sessions_active 0.0" in await r.text()
        return released

    with running_server(fake_engine(), max_sessions=2) as base:
        released = asyncio.run(go(base))
    assert max(released) < 5, released


def test_an_idle_socket_is_closed_with_an_event_and_released() -> None:
    async def go(base: str) -> tuple[dict[str, Any], int]:
        async with aiohttp.ClientSession() as client:
            ws = await connect(base, client)
            events = []
            async with asyncio.timeout(10):
                async for msg in ws:
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        break
                    events.append(json.loads(msg.data))
            await until_sessions(client, base, 0)
            return events[-1], await sessions(client, base)

    with running_server(fake_engine(), idle_timeout_s=1.0) as base:
        last, count = asyncio.run(go(base))
    assert last["type"] == "error" and last["error"]["code"] == "session_closed", last
    assert "no audio or events" in last["error"]["message"] and count == 0


def test_past_the_limit_a_client_is_refused_quickly_and_the_others_stay() -> None:
    async def go(base: str) -> tuple[dict[str, Any], int | None, float, int]:
        async with aiohttp.ClientSession() as client:
            first = await connect(base, client)
            start = time.perf_counter()
            refused = await connect(base, client)  # accepted, told why, closed
            event = json.loads((await refused.receive()).data)
            await refused.receive()
            refused_ms = (time.perf_counter() - start) * 1000
            still = await sessions(client, base)
            await first.close()
            return event, refused.close_code, refused_ms, still

    with running_server(fake_engine(), max_sessions=1) as base:
        event, close_code, refused_ms, still = asyncio.run(go(base))
    assert event["type"] == "error" and event["error"]["code"] == "server_at_capacity", event
    assert (close_code, still) == (1013, 1)
    print(f"refused in {refused_ms:.1f} ms")
