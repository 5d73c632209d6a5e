"""The HTTP model endpoints under abuse: bounds checked before work, bodies capped while read,
long text spoken in bounded pieces, and work stopped when the client goes away."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest
from aiohttp import web

from helpers import SAMPLES
from rejoinder.audio import WavWriter, from_pcm16, read_audio
from rejoinder.engine import Engine
from rejoinder.errors import BadInputError
from rejoinder.server.limits import API_LIMITS, ApiLimits
from rejoinder.speech_pieces import speech_pieces
from rejoinder.transports.file import transcribe_file
from server_helpers import running_server

SENTENCES = "The dragon slept under the old stone bridge, dreaming of gold and of summer rain. "


class CountingTTS:
    """Wraps the real TTS; records each piece of text it was asked to speak."""

    name = "counting"

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.sample_rate: int = inner.sample_rate
        self.calls: list[str] = []

    def stream(self, text: str) -> AsyncIterator[np.ndarray]:
        self.calls.append(text)
        return self.inner.stream(text)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def tts(engine: Engine) -> CountingTTS:
    return CountingTTS(engine.tts)


@pytest.fixture(scope="module")
def server(engine: Engine, tts: CountingTTS):  # type: ignore[no-untyped-def]
    def small_uploads(app: web.Application) -> None:
        app[API_LIMITS] = ApiLimits(upload_bytes=1 << 20, upload_s=5.0)

    with running_server(engine.with_stages(tts=tts), configure=small_uploads) as base:
        yield base


async def post(
    client: aiohttp.ClientSession, url: str, body: Any, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    data = body if isinstance(body, (bytes, str, AsyncIterator)) else json.dumps(body)
    async with client.post(url, data=data, headers=headers or {"Content-Type": "application/json"}) as r:
        text = await r.read()
        try:
            return r.status, json.loads(text)
        except ValueError:
            return r.status, text


def test_speech_pieces_are_bounded_whatever_the_text() -> None:
    text = SENTENCES * 10
    pieces = list(speech_pieces(text, 200))
    assert all(len(p) <= 200 for p in pieces) and " ".join(pieces) == text.strip()
    assert all(p.endswith(".") for p in pieces)  # whole sentences when they fit
    run_on = "word " * 300
    assert all(len(p) <= 200 for p in speech_pieces(run_on, 200))
    assert " ".join(speech_pieces(run_on, 200)).split() == run_on.split()
    word = "a" * 20_000
    pieces = list(speech_pieces(word, 200))
    assert len(pieces) == 100 and "".join(pieces) == word


def test_oversized_speech_requests_are_refused_before_any_synthesis(server: str, tts: CountingTTS) -> None:
    async def go() -> list[tuple[int, Any]]:
        async with aiohttp.ClientSession() as client:
            url = server + "/v1/audio/speech"
            before = len(tts.calls)
            results = [
                await post(client, url, {"input": "a" * 31_000_000}),  # the 31 MB of one letter
                await post(client, url, {"input": "a" * 20_000}),  # a 20,000-character word
                await post(client, url, {"input": "hi " * 2000}),
                await post(client, url, {"input": 7}),
            ]
            assert len(tts.calls) == before
            return results

    results = asyncio.run(go())
    assert [status for status, _ in results] == [413, 400, 400, 400]
    for _, body in results:
        assert body["error"]["type"] == "invalid_request_error" and body["error"]["message"]
    assert results[1][1]["error"]["param"] == "input" and "4,096" in results[1][1]["error"]["message"]


def test_a_body_without_length_is_capped_while_it_is_read(server: str) -> None:
    async def go() -> tuple[int, Any]:
        async def endless() -> AsyncIterator[bytes]:
            yield b'{"input": "'
            for _ in range(64):  # 64 MiB if nobody stops reading
                yield b"a" * (1 << 20)

        async with aiohttp.ClientSession() as client:
            try:
                return await post(client, server + "/v1/audio/speech", endless())
            except aiohttp.ClientError as exc:  # the server may close while we still send
                return -1, str(exc)

    status, body = asyncio.run(go())
    assert status in (413, -1), body
    if status == 413:
        assert "1,048,576" in body["error"]["message"]


def test_a_long_word_is_spoken_in_bounded_pieces(server: str, tts: CountingTTS) -> None:
    async def go() -> tuple[int, Any]:
        async with aiohttp.ClientSession() as client:
            return await post(
                client, server + "/v1/audio/speech", {"input": "b" * 1000, "response_format": "pcm"}
            )

    before = len(tts.calls)
    status, body = asyncio.run(go())
    assert status == 200 and isinstance(body, bytes) and len(body) > 24_000
    pieces = tts.calls[before:]
    assert len(pieces) == 5 and all(len(p) <= 200 for p in pieces)


def test_chat_bounds(server: str) -> None:
    user = {"role": "user", "content": "Hi."}

    async def go() -> list[tuple[int, Any]]:
        async with aiohttp.ClientSession() as client:
            url = server + "/v1/chat/completions"
            return [
                await post(client, url, {"messages": [user], "max_tokens": 100_000}),
                await post(client, url, {"messages": [user], "max_tokens": 10**400}),
                await post(client, url, {"messages": [user], "max_tokens": 0}),  # was: the default
                await post(client, url, {"messages": [{"role": "user", "content": "x" * 40_000}]}),
                await post(client, url, {"messages": [user] * 300}),
                await post(client, url, {"messages": [{"role": "user", "content": "word " * 4000}]}),
            ]

    results = asyncio.run(go())
    assert [status for status, _ in results] == [400] * 6, results
    assert [body["error"]["param"] for _, body in results[:5]] == [
        "max_tokens",
        "max_tokens",
        "max_tokens",
        "messages",
        "messages",
    ]
    assert "context" in results[5][1]["error"]["message"]  # too long for the model: a 400, not a 500


def test_uploads_are_capped_while_they_are_read(server: str) -> None:
    """A chunked upload (no Content-Length) is refused once it passes the cap, not spooled whole."""

    async def go() -> tuple[bytes, int]:
        host, port = server.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        boundary = "XyZ"
        writer.write(
            (
                "POST /v1/audio/transcriptions HTTP/1.1\r\n"
                f"Host: {host}:{port}\r\n"
                f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
                "Transfer-Encoding: chunked\r\n\r\n"
            ).encode()
        )
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n'
            "Content-Type: audio/wav\r\n\r\n"
        ).encode()
        sent = 0
        answer = asyncio.ensure_future(reader.readline())
        block = head + bytes(256 << 10)
        for _ in range(400):  # 100 MiB if the server never stops us
            if answer.done():
                break
            writer.write(f"{len(block):x}\r\n".encode() + block + b"\r\n")
            sent += len(block)
            block = bytes(256 << 10)
            try:
                await asyncio.wait_for(writer.drain(), 0.5)
            except (TimeoutError, ConnectionError):
                await asyncio.wait({answer}, timeout=2)
                break
        status_line = await asyncio.wait_for(answer, 10)
        writer.close()
        return status_line, sent

    status_line, sent = asyncio.run(go())
    assert b" 413 " in status_line, status_line
    assert sent < 60 << 20  # answered long before the client had sent everything


def test_declared_oversized_upload_is_refused_unread(server: str) -> None:
    async def go() -> bytes:
        host, port = server.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(
            (
                "POST /v1/audio/transcriptions HTTP/1.1\r\n"
                f"Host: {host}:{port}\r\n"
                "Content-Type: multipart/form-data; boundary=XyZ\r\n"
                f"Content-Length: {600 << 20}\r\n\r\n"
            ).encode()
        )
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), 10)
        writer.close()
        return line

    assert b" 413 " in asyncio.run(go())


def test_audio_longer_than_the_duration_cap_is_refused(server: str, tmp_path: Path) -> None:
    long = tmp_path / "long.wav"
    with WavWriter(long, 16_000) as w:
        w.write(read_audio(SAMPLES / "hello.wav"))
        w.silence(6.0)

    async def go() -> tuple[int, Any]:
        form = aiohttp.FormData()
        form.add_field("file", long.read_bytes(), filename="long.wav")
        async with (
            aiohttp.ClientSession() as client,
            client.post(server + "/v1/audio/transcriptions", data=form) as r,
        ):
            return r.status, await r.json()

    status, body = asyncio.run(go())
    assert status == 400 and body["error"]["param"] == "file" and "limit is 5 s" in body["error"]["message"]


def test_transcription_stops_decoding_at_the_duration_cap(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "q.wav"
    with WavWriter(path, 16_000) as w:
        w.write(read_audio(SAMPLES / "capital_of_italy.wav"))
    with pytest.raises(BadInputError, match="longer than the limit of 1 s"):
        asyncio.run(transcribe_file(engine, path, max_s=1.0))


@pytest.mark.parametrize("endpoint", ["speech-wav", "speech-pcm", "speech-mp3", "chat"])
def test_work_stops_when_the_client_goes_away(
    server: str, engine: Engine, tts: CountingTTS, endpoint: str
) -> None:
    """Hang up a second into a long request: the model worker is idle soon after, and the pieces
    of text still to speak are never started."""
    worker = engine.tts._worker if endpoint.startswith("speech") else engine.llm._worker  # type: ignore[attr-defined]
    if endpoint == "chat":
        path = "/v1/chat/completions"
        body = {
            "messages": [{"role": "user", "content": "Tell me a very long story about a dragon."}],
            "max_tokens": 2000,
            "temperature": 1.0,
        }
    else:
        path = "/v1/audio/speech"
        body = {"input": (SENTENCES * 60)[:4000], "response_format": endpoint.split("-")[1]}

    async def go() -> bool:
        async with aiohttp.ClientSession() as client:

            async def ask() -> None:
                async with client.post(server + path, json=body) as response:
                    await response.content.read(1000)
                    await asyncio.sleep(60)

            request = asyncio.ensure_future(ask())
            await asyncio.sleep(1.0)
            working = not worker.idle
            request.cancel()  # drops the connection, whatever the request was doing
            with contextlib.suppress(asyncio.CancelledError):
                await request
            return working

    before = len(tts.calls)
    assert asyncio.run(go()), "the request had finished before the client left: nothing to stop"
    deadline = time.monotonic() + 5
    while not worker.idle and time.monotonic() < deadline:
        time.sleep(0.05)
    assert worker.idle, "the model is still working for a client that left"
    if endpoint != "chat":
        started = len(tts.calls) - before
        assert started <= 8, f"{started} of ~22 pieces were started after a 1 s request"


def test_the_server_answers_normally_after_the_abuse(server: str) -> None:
    async def go() -> tuple[int, Any]:
        async with aiohttp.ClientSession() as client:
            return await post(
                client, server + "/v1/audio/speech", {"input": "Still here.", "response_format": "pcm"}
            )

    status, body = asyncio.run(go())
    audio = from_pcm16(body)
    assert status == 200 and audio.size / 24_000 > 0.4
