"""The server on fake stages: every session is released however it ends (WebRTC calls dropped
by the client, idle sockets), admission refuses past the limit, and /health shows it."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest

from fake_engine import fake_engine
from rejoinder.backends.fake import FakeLLM, tone
from rejoinder.transports import webrtc
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


def test_an_offer_whose_peer_never_connects_is_released(monkeypatch: pytest.MonkeyPatch) -> None:
    """Found by probing: offers whose answers were never applied held every session slot until
    the idle timeout (300 s), refusing everyone else."""
    from aiortc import RTCPeerConnection

    monkeypatch.setattr(webrtc, "CONNECT_TIMEOUT_S", 1.0)

    async def go(base: str) -> float:
        async with aiohttp.ClientSession() as client:
            peers = []
            for _ in range(2):
                pc = RTCPeerConnection()
                pc.addTrack(FileTrack(np.zeros(48_000, np.float32)).track)
                pc.createDataChannel("oai-events")
                await pc.setLocalDescription(await pc.createOffer())
                headers = {"Content-Type": "application/sdp"}
                async with client.post(
                    base + "/v1/realtime/calls", data=pc.localDescription.sdp, headers=headers
                ) as r:
                    assert r.status == 201  # answered, and the answer is never applied
                peers.append(pc)
            assert await sessions(client, base) == 2
            async with client.post(
                base + "/v1/realtime/calls", data=pc.localDescription.sdp, headers=headers
            ) as r:
                assert r.status == 503  # full, for now
            released = await until_sessions(client, base, 0, timeout=10)
            for pc in peers:
                await pc.close()
            return released

    with running_server(fake_engine(), max_sessions=2) as base:
        released = asyncio.run(go(base))
    assert released < 5


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


def test_http_bodies_no_model_can_take_get_a_400_not_a_500() -> None:
    """Found by probing: deep nesting (RecursionError), lone surrogates (llama.cpp's JSON) and
    multipart bodies without their boundary each gave HTTP 500, as did a tool message's text part
    that was not a string."""
    deep = "[" * 100_000
    surrogate = '{"model": "x", "messages": [{"role": "user", "content": "\\ud800 hi"}]}'
    speech = '{"model": "x", "voice": "alloy", "input": "Hello \\udfff there"}'
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    long_tool_result = json.dumps(
        {
            "messages": [
                {"role": "user", "content": "Look it up."},
                {"role": "assistant", "content": "", "tool_calls": [call]},
                {"role": "tool", "tool_call_id": "c1", "content": "x" * 40_000},  # was not counted
            ]
        }
    )
    tool_text_number = json.dumps(  # a TypeError: 500
        {
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "tool", "tool_call_id": "x", "content": [{"type": "text", "text": 5}]},
            ]
        }
    )
    cases = [
        ("/v1/chat/completions", deep, "application/json", "nested deeper"),
        ("/v1/audio/speech", deep, "application/json", "nested deeper"),
        ("/v1/chat/completions", surrogate, "application/json", "surrogate"),
        ("/v1/audio/speech", speech, "application/json", "surrogate"),
        ("/v1/audio/transcriptions", "--x\r\n\r\n", "multipart/form-data; boundary=zzz", "malformed"),
        ("/v1/audio/transcriptions", "--x\r\n\r\n", "multipart/form-data", "multipart"),
        ("/v1/chat/completions", long_tool_result, "application/json", "longer than the limit"),
        ("/v1/chat/completions", tool_text_number, "application/json", "must be a string"),
    ]

    async def go(base: str) -> list[tuple[int, dict[str, Any]]]:
        out = []
        async with aiohttp.ClientSession() as client:
            for path, body, kind, _ in cases:
                async with client.post(base + path, data=body, headers={"Content-Type": kind}) as r:
                    out.append((r.status, await r.json()))
            async with client.get(base + "/health") as r:
                assert r.status == 200
        return out

    with running_server(fake_engine()) as base:
        answers = asyncio.run(go(base))
    for (status, body), (path, _, _, words) in zip(answers, cases, strict=True):
        assert status == 400, (path, body)
        assert body["error"]["type"] == "invalid_request_error" and words in body["error"]["message"], body


def test_call_offers_that_are_not_utf8_or_too_long_without_a_length() -> None:
    """Found by probing: a non-UTF-8 offer gave a 500 (UnicodeDecodeError), and a chunked offer
    (no Content-Length) over the 64 KiB limit was read whole and answered."""
    long_offer = ("v=0\r\n" + "a=x\r\n" * 20_000).encode()

    async def chunks() -> Any:
        for i in range(0, len(long_offer), 8192):
            yield long_offer[i : i + 8192]

    async def go(base: str) -> list[tuple[int, dict[str, Any]]]:
        out = []
        headers = {"Content-Type": "application/sdp"}
        async with aiohttp.ClientSession() as client:
            for data in (b"v=0\r\n\xff\xfe", chunks()):
                async with client.post(base + "/v1/realtime/calls", data=data, headers=headers) as r:
                    out.append((r.status, await r.json()))
            assert await sessions(client, base) == 0
        return out

    with running_server(fake_engine()) as base:
        (bad, bad_body), (long, long_body) = asyncio.run(go(base))
    assert bad == 400 and "not UTF-8" in bad_body["error"]["message"], bad_body
    assert long == 413 and "exceeds 65536 bytes" in long_body["error"]["message"], long_body


def test_transcriptions_as_subtitles_and_an_unknown_format_refused(tmp_path: Path) -> None:
    """srt and vtt cues, one per utterance with its times; a format it cannot write is a 400
    before any work (it used to answer JSON whatever was asked)."""
    import soundfile as sf

    from rejoinder.backends.fake import silence

    wav = tmp_path / "two.wav"
    sf.write(
        wav, np.concatenate([silence(0.5), tone(0, 1.0), silence(1.0), tone(1, 1.0), silence(1.0)]), 16_000
    )

    async def ask(client: aiohttp.ClientSession, base: str, fmt: str) -> tuple[int, str]:
        form = aiohttp.FormData()
        form.add_field("file", wav.read_bytes(), filename="two.wav", content_type="audio/wav")
        form.add_field("model", "whisper-1")
        form.add_field("response_format", fmt)
        async with client.post(base + "/v1/audio/transcriptions", data=form) as r:
            return r.status, await r.text()

    async def go(base: str) -> list[tuple[int, str]]:
        async with aiohttp.ClientSession() as client:
            return [await ask(client, base, fmt) for fmt in ("srt", "vtt", "xml")]

    with running_server(fake_engine()) as base:
        (srt_status, srt), (vtt_status, vtt), (bad_status, bad) = asyncio.run(go(base))
    assert srt_status == vtt_status == 200
    cues = srt.strip().split("\n\n")
    assert len(cues) == 2 and cues[0].startswith("1\n00:00:00,") and cues[1].startswith("2\n00:00:0")
    assert vtt.startswith("WEBVTT\n\n00:00:00.") and vtt.count(" --> ") == 2
    assert bad_status == 400 and json.loads(bad)["error"]["param"] == "response_format"


def test_the_soaks_abuse_holds_on_the_fake_server() -> None:
    """The soak's bad events and the probes added at stop 23 (bodies no model can take, a burst
    of response.create) all get the answer they must, on fake stages in seconds."""
    from rejoinder.soak import abuse, malformed

    async def go(base: str) -> list[abuse.Outcome]:
        async with aiohttp.ClientSession() as client:
            outcomes = await abuse.bad_events(client, base)
            return outcomes + [await probe(client, base) for probe in malformed.PROBES]

    with running_server(fake_engine("word " * 12)) as base:
        outcomes = asyncio.run(go(base))
    failed = [o for o in outcomes if not o.ok]
    assert not failed and len(outcomes) == len(abuse.BAD_EVENTS) + 1 + len(malformed.PROBES), failed


class FailsAfterOneWord(FakeLLM):
    async def stream(self, messages: Any, params: Any) -> Any:
        yield "Rome "
        raise RuntimeError("the model stopped")


def test_a_streamed_chat_the_model_refuses_is_a_400_and_a_later_failure_ends_the_stream() -> None:
    """Found by probing: a prompt over the context was refused after the 200 and the first event
    had gone out; the 400 was written into the open stream and the client waited for [DONE]."""
    body = {"messages": [{"role": "user", "content": "漢" * 1000}], "stream": True}

    async def go(base: str, payload: dict[str, Any]) -> tuple[int, str]:
        async with (
            aiohttp.ClientSession() as client,
            client.post(base + "/v1/chat/completions", json=payload, timeout=aiohttp.ClientTimeout(10)) as r,
        ):
            return r.status, await r.text()

    with running_server(fake_engine(llm=FakeLLM(context=2048))) as base:
        status, text = asyncio.run(go(base, body))
        assert status == 400 and "context holds 2048" in json.loads(text)["error"]["message"], text
        status, text = asyncio.run(go(base, {**body, "messages": [{"role": "user", "content": "Hi"}]}))
        assert status == 200 and text.endswith("data: [DONE]\n\n")  # a fitting prompt still streams
    with running_server(fake_engine(llm=FailsAfterOneWord())) as base:
        status, text = asyncio.run(go(base, {**body, "messages": [{"role": "user", "content": "Hi"}]}))
    events = [json.loads(line[6:]) for line in text.split("\n\n") if line.startswith("data: {")]
    assert status == 200 and text.endswith("data: [DONE]\n\n"), text
    assert events[1]["choices"][0]["delta"]["content"] == "Rome "
    assert events[-1]["error"]["message"] == "the model stopped"
