"""What a careless or hostile client does: bad events, vanishing mid-answer, calls opened and
dropped, and HTTP requests built to exhaust memory, time or trust. Each returns what it saw."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import numpy as np

from rejoinder.soak.voice import Question, next_event, open_session, speak, ws_url

BAD_EVENTS: list[tuple[str, str | bytes]] = [
    ("invalid-json", "{nope"),
    ("unknown-type", json.dumps({"type": "no.such.event"})),
    ("bad-base64", json.dumps({"type": "input_audio_buffer.append", "audio": "!!not base64!!"})),
    ("odd-pcm", json.dumps({"type": "input_audio_buffer.append", "audio": "AAEC"})),
    ("bad-setting", json.dumps({"type": "session.update", "session": {"audio": {"input": "x"}}})),
    (
        "text-not-string",
        json.dumps(
            {
                "type": "conversation.item.create",
                "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": 7}]},
            }
        ),
    ),
    ("oversized-event", json.dumps({"type": "input_audio_buffer.append", "audio": "A" * (3 << 19)})),
    ("binary-frame", b"\x00\x01\x02"),
    # found by probing at stop 23: a server_error, then settings that broke every later turn
    ("deep-json", "[" * 100_000),
    (
        "surrogate-instructions",
        '{"type": "session.update", "session": {"instructions": "Be brief \\udfff."}}',
    ),
    (
        "huge-prefix-padding",
        json.dumps(
            {
                "type": "session.update",
                "session": {
                    "audio": {"input": {"turn_detection": {"type": "server_vad", "prefix_padding_ms": 10**9}}}
                },
            }
        ),
    ),
]


@dataclass
class Outcome:
    """One abusive action: `ok` says the server behaved as it should."""

    kind: str
    ok: bool
    detail: str = ""


async def bad_events(client: aiohttp.ClientSession, base: str) -> list[Outcome]:
    """Each bad event must get an error event (not server_error), and the session must live on."""
    out: list[Outcome] = []
    ws = await open_session(client, base)
    try:
        for name, payload in BAD_EVENTS:
            if isinstance(payload, bytes):
                await ws.send_bytes(payload)
            else:
                await ws.send_str(payload)
            try:
                event = await asyncio.wait_for(_until(ws, "error"), 10)
            except asyncio.TimeoutError:
                out.append(Outcome(f"bad-event:{name}", False, "no error event in 10 s"))
                continue
            except ConnectionError as exc:
                out.append(Outcome(f"bad-event:{name}", False, f"the session closed ({exc})"))
                return out
            error = event.get("error", {})
            clean = error.get("type") != "server_error" and "Error" not in str(error.get("message", ""))
            out.append(Outcome(f"bad-event:{name}", clean, "" if clean else json.dumps(error)[:200]))
        await ws.send_str(json.dumps({"type": "input_audio_buffer.clear"}))
        try:
            await asyncio.wait_for(_until(ws, "input_audio_buffer.cleared"), 10)
            out.append(Outcome("bad-event:session-lives", True))
        except (asyncio.TimeoutError, ConnectionError) as exc:
            out.append(Outcome("bad-event:session-lives", False, type(exc).__name__))
    finally:
        await ws.close()
    return out


async def _until(ws: Any, kind: str) -> dict[str, Any]:
    while True:
        event = await next_event(ws)
        if event.get("type") == kind:
            return event


async def vanish_mid_answer(base: str, question: Question) -> Outcome:
    """Ask, and drop the TCP connection (RST, no close frame) once the answer starts."""
    async with aiohttp.ClientSession() as client:
        ws = await open_session(client, base)
        sender = asyncio.ensure_future(speak(ws, question.audio))
        try:
            await asyncio.wait_for(_until(ws, "response.output_audio.delta"), 60)
            reached = True
        except (asyncio.TimeoutError, ConnectionError):
            reached = False
        finally:
            sender.cancel()
        _reset(ws)
    return Outcome("vanish-mid-answer", True, "" if reached else "dropped before any answer audio")


def _reset(ws: Any) -> None:
    """Abort the socket with RST, as a crashed client or a dead network would (aiohttp internals)."""
    transport = None
    with contextlib.suppress(AttributeError):
        transport = ws._response.connection.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


async def webrtc_call(base: str, hold_s: float, vanish: bool) -> Outcome:
    """Open a WebRTC call (aiortc), hold it, then hang up cleanly or vanish (the peer process is killed)."""
    if vanish:
        return await _vanishing_peer(base, hold_s)
    from aiortc import RTCPeerConnection, RTCSessionDescription

    pc = RTCPeerConnection()
    try:
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
                return Outcome("webrtc-hangup", False, f"HTTP {r.status}: {(await r.text())[:200]}")
            answer = await r.text()
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        try:
            await asyncio.wait_for(created.wait(), 20)
        except asyncio.TimeoutError:
            return Outcome("webrtc-hangup", False, "no session.created on the data channel")
        await asyncio.sleep(hold_s)
        return Outcome("webrtc-hangup", True)
    finally:
        await pc.close()


async def _vanishing_peer(base: str, hold_s: float) -> Outcome:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "rejoinder.soak.peer",
        base,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        ok = line.strip() == b"connected"
        if ok:
            await asyncio.sleep(hold_s)
        return Outcome("webrtc-vanish", ok, "" if ok else line.decode(errors="replace").strip()[:200])
    except asyncio.TimeoutError:
        return Outcome("webrtc-vanish", False, "the peer did not connect in 60 s")
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()  # no BYE, no DTLS close: the network simply goes quiet
        await proc.wait()


class SilenceTrack:
    """A microphone that hears nothing: 20 ms 48 kHz frames in real time."""

    def __init__(self) -> None:
        from aiortc.mediastreams import MediaStreamTrack

        clock = _FrameClock()

        class _Track(MediaStreamTrack):
            kind = "audio"

            async def recv(self) -> Any:
                return await clock.next_frame()

        self.track = _Track()


class _FrameClock:
    def __init__(self) -> None:
        self.pts = 0
        self.start: float | None = None

    async def next_frame(self) -> Any:
        import fractions
        import time

        import av

        if self.start is None:
            self.start = time.perf_counter()
        due = self.start + self.pts / 48_000 - time.perf_counter()
        if due > 0:
            await asyncio.sleep(due)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 960), np.int16), format="s16", layout="mono")
        frame.sample_rate, frame.pts = 48_000, self.pts
        frame.time_base = fractions.Fraction(1, 48_000)
        self.pts += 960
        return frame


# ---- HTTP ---------------------------------------------------------------------------------------
Probe = Callable[[aiohttp.ClientSession, str], Awaitable[Outcome]]


async def post_and_check(
    client: aiohttp.ClientSession, url: str, expect: set[int], kind: str, **kwargs: Any
) -> Outcome:
    try:
        async with client.post(url, timeout=aiohttp.ClientTimeout(total=120), **kwargs) as r:
            await r.read()
            return Outcome(kind, r.status in expect, f"HTTP {r.status}")
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        # a server may close on an oversized body while the client still sends: fine if it did so early
        return Outcome(kind, 413 in expect, type(exc).__name__)


async def huge_speech_body(client: aiohttp.ClientSession, base: str) -> Outcome:
    body = b'{"input": "' + b"a" * (31 << 20) + b'"}'
    return await post_and_check(
        client,
        base + "/v1/audio/speech",
        {413},
        "http:31MB-one-letter",
        data=body,
        headers={"Content-Type": "application/json"},
    )


async def long_word(client: aiohttp.ClientSession, base: str) -> Outcome:
    return await post_and_check(
        client, base + "/v1/audio/speech", {400}, "http:20000-char-word", json={"input": "a" * 20_000}
    )


async def huge_max_tokens(client: aiohttp.ClientSession, base: str) -> Outcome:
    body = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 10**9}
    return await post_and_check(
        client, base + "/v1/chat/completions", {400}, "http:max-tokens-1e9", json=body
    )


async def oversized_upload(client: aiohttp.ClientSession, base: str) -> Outcome:
    async def body() -> Any:
        yield (b'--B\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n')
        for _ in range(60):  # 60 MiB unless the server stops reading
            yield bytes(1 << 20)

    return await post_and_check(
        client,
        base + "/v1/audio/transcriptions",
        {413},
        "http:60MB-upload",
        data=body(),
        headers={"Content-Type": "multipart/form-data; boundary=B"},
    )


async def abandoned_speech(client: aiohttp.ClientSession, base: str) -> Outcome:
    """Ask for the longest allowed speech and hang up after a second."""
    text = "The dragon slept under the old stone bridge, dreaming of gold and of summer rain. " * 48
    request = asyncio.ensure_future(client.post(base + "/v1/audio/speech", json={"input": text[:4096]}))
    await asyncio.sleep(1.0)
    request.cancel()
    with contextlib.suppress(asyncio.CancelledError, aiohttp.ClientError):
        response = await request
        response.close()
    return Outcome("http:abandoned-speech", True)


async def abandoned_chat(client: aiohttp.ClientSession, base: str) -> Outcome:
    body = {
        "messages": [{"role": "user", "content": "Tell me a very long story about a dragon and a knight."}],
        "max_tokens": 1900,
        "stream": True,
    }
    try:
        async with client.post(base + "/v1/chat/completions", json=body) as r:
            await asyncio.wait_for(r.content.read(2000), 30)
            ok = r.status == 200
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        return Outcome("http:abandoned-chat", False, type(exc).__name__)
    return Outcome("http:abandoned-chat", ok)


async def cross_site_socket(client: aiohttp.ClientSession, base: str) -> Outcome:
    try:
        ws = await client.ws_connect(ws_url(base), headers={"Origin": "http://evil.example"})
    except aiohttp.WSServerHandshakeError as exc:
        return Outcome("http:cross-site-websocket", exc.status == 403, f"HTTP {exc.status}")
    await ws.close()
    return Outcome("http:cross-site-websocket", False, "accepted")


async def rebinding_host(client: aiohttp.ClientSession, base: str) -> Outcome:
    async with client.get(base + "/health", headers={"Host": "evil.example"}) as r:
        return Outcome("http:dns-rebinding-host", r.status == 403, f"HTTP {r.status}")


async def cross_site_call(client: aiohttp.ClientSession, base: str) -> Outcome:
    headers = {"Origin": "http://evil.example", "Content-Type": "text/plain"}
    return await post_and_check(
        client, base + "/v1/realtime/calls", {403}, "http:cross-site-call", data="v=0\r\n", headers=headers
    )


async def transcription(client: aiohttp.ClientSession, base: str) -> Outcome:
    from rejoinder.backends.openai_compat import wav_bytes
    from rejoinder.soak.voice import bundled_questions

    form = aiohttp.FormData()
    form.add_field("file", wav_bytes(bundled_questions()[0].audio, 24_000), filename="q.wav")
    return await post_and_check(
        client, base + "/v1/audio/transcriptions", {200}, "http:transcription", data=form
    )


HTTP_PROBES: list[Probe] = [
    huge_speech_body,
    long_word,
    huge_max_tokens,
    oversized_upload,
    abandoned_speech,
    abandoned_chat,
    cross_site_socket,
    rebinding_host,
    cross_site_call,
    transcription,
]
