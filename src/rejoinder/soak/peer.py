"""A WebRTC peer in its own process, so the soak can make it vanish (SIGKILL) like a closed tab.

python -m rejoinder.soak.peer BASE_URL: prints "connected" once the call is up, then holds it.
"""

from __future__ import annotations

import asyncio
import sys

import aiohttp


async def main(base: str) -> None:
    from aiortc import RTCPeerConnection, RTCSessionDescription

    from rejoinder.soak.abuse import SilenceTrack

    pc = RTCPeerConnection()
    pc.addTrack(SilenceTrack().track)
    channel = pc.createDataChannel("oai-events")
    created = asyncio.Event()
    channel.on("message", lambda m: created.set() if '"session.created"' in str(m) else None)
    await pc.setLocalDescription(await pc.createOffer())
    async with (
        aiohttp.ClientSession() as client,
        client.post(
            base + "/v1/realtime/calls",
            data=pc.localDescription.sdp,
            headers={"Content-Type": "application/sdp"},
        ) as r,
    ):
        if r.status != 201:
            print(f"HTTP {r.status}: {(await r.text())[:200]}", flush=True)
            return
        answer = await r.text()
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    try:
        await asyncio.wait_for(created.wait(), 30)
    except asyncio.TimeoutError:
        print("no session.created", flush=True)
        return
    print("connected", flush=True)
    await asyncio.sleep(3600)  # until killed


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
