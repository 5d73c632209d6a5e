"""/v1/audio/speech in every format OpenAI offers. Found with the openai SDK: its default format,
mp3, and opus, aac and flac were refused with a 400, and `instructions` and `stream_format` were
silently ignored."""

from __future__ import annotations

import asyncio
import base64
import io
import json
from typing import Any

import aiohttp
import av
import numpy as np
import openai
import pytest
from test_http_fields import assert_refused, post_all

from fake_engine import fake_engine
from rejoinder.audio import PCM_RATE, from_pcm16
from rejoinder.backends.fake import FakeTTS
from rejoinder.server.speech_formats import SPEECH_FORMATS, AvEncoder
from server_helpers import running_server

SPEECH = {"model": "tts-1", "voice": "alloy", "input": "Hello there. How are you today?"}
WORDS = len(SPEECH["input"].split())
SPOKEN_S = WORDS * 0.15  # the fake TTS speaks 0.15 s of tone a word
CONTAINERS = {"mp3": "mp3", "opus": "ogg", "aac": "aac", "flac": "flac"}


def engine(delay_s: float = 0.01) -> Any:
    return fake_engine(tts=FakeTTS(word_s=0.15, delay_s=delay_s))


def decoded(raw: bytes) -> tuple[str, float, float]:
    """(container name, seconds, RMS) of encoded audio, read back with ffmpeg's decoders."""
    with av.open(io.BytesIO(raw)) as container:
        frames = [f.to_ndarray().astype(np.float64).ravel() for f in container.decode(audio=0)]
        rate = container.streams.audio[0].rate
        name = container.format.name
    samples = np.concatenate(frames)
    if np.abs(samples).max() > 2:  # integer samples
        samples = samples / 32768
    return name, samples.size / rate, float(np.sqrt(np.mean(samples**2)))


@pytest.mark.parametrize("fmt", ["mp3", "opus", "aac", "flac"])
def test_each_compressed_format_decodes_to_the_spoken_audio(fmt: str) -> None:
    with running_server(engine()) as base:
        [(status, kind, raw)] = asyncio.run(
            post_all(base, "/v1/audio/speech", [{**SPEECH, "response_format": fmt}])
        )
        [(_, _, pcm)] = asyncio.run(
            post_all(base, "/v1/audio/speech", [{**SPEECH, "response_format": "pcm"}])
        )
    assert status == 200 and kind == SPEECH_FORMATS[fmt].content_type, (status, raw[:200])
    name, seconds, rms = decoded(raw)
    reference = from_pcm16(pcm)
    assert CONTAINERS[fmt] in name
    # encoders pad a frame or two at the ends; lossy coding keeps the level
    assert abs(seconds - SPOKEN_S) < 0.12 and abs(reference.size / PCM_RATE - SPOKEN_S) < 0.02, seconds
    assert abs(rms - float(np.sqrt(np.mean(reference.astype(np.float64) ** 2)))) < 0.03, rms


def test_no_format_named_gets_mp3_as_from_openai() -> None:
    with running_server(engine()) as base:
        client = openai.OpenAI(base_url=base + "/v1", api_key="unused")
        raw = client.audio.speech.create(model="tts-1", voice="alloy", input=SPEECH["input"]).content
    name, seconds, _ = decoded(raw)
    assert "mp3" in name and abs(seconds - SPOKEN_S) < 0.12


def test_mp3_is_sent_while_the_speech_is_still_being_made() -> None:
    text = " ".join(["word"] * 30)  # 4.5 s of audio over 6 s of synthesis

    async def arrivals(base: str) -> tuple[list[float], bytes]:
        loop = asyncio.get_running_loop()
        async with (
            aiohttp.ClientSession() as client,
            client.post(base + "/v1/audio/speech", json={"input": text}) as r,
        ):
            start, times, data = loop.time(), [], b""
            async for block in r.content.iter_any():
                times.append(loop.time() - start)
                data += block
        return times, data

    with running_server(engine(delay_s=0.2)) as base:
        times, data = asyncio.run(arrivals(base))
    assert times[0] < times[-1] / 2, times  # the first bytes long before the last
    assert abs(decoded(data)[1] - 4.5) < 0.12


@pytest.mark.parametrize("fmt", ["pcm", "mp3", "wav"])
def test_server_sent_events_carry_the_same_audio_in_deltas_then_done(fmt: str) -> None:
    async def events(base: str) -> tuple[str, list[dict[str, Any]]]:
        async with aiohttp.ClientSession() as client:
            body = {**SPEECH, "response_format": fmt, "stream_format": "sse"}
            async with client.post(base + "/v1/audio/speech", json=body) as r:
                text = await r.text()
                lines = [line[6:] for line in text.splitlines() if line.startswith("data: ")]
                return r.content_type, [json.loads(line) for line in lines]

    with running_server(engine()) as base:
        kind, got = asyncio.run(events(base))
        [(_, _, whole)] = asyncio.run(
            post_all(base, "/v1/audio/speech", [{**SPEECH, "response_format": fmt}])
        )
    assert kind == "text/event-stream"
    assert [e["type"] for e in got[:-1]] == ["speech.audio.delta"] * (len(got) - 1) and len(got) > 1
    assert got[-1] == {"type": "speech.audio.done"}
    audio = b"".join(base64.b64decode(e["audio"]) for e in got[:-1])
    if fmt == "mp3":  # the encoder's tag holds no time: the streams match but for the first bytes
        assert abs(decoded(audio)[1] - decoded(whole)[1]) < 0.01
    else:
        assert audio == whole


def test_formats_and_fields_the_server_cannot_honour_are_refused_naming_them() -> None:
    bad = [
        ({**SPEECH, "response_format": "ogg"}, "response_format"),
        ({**SPEECH, "response_format": 3}, "response_format"),
        ({**SPEECH, "stream_format": "chunks"}, "stream_format"),
        ({**SPEECH, "instructions": "Speak like a pirate."}, "instructions"),
        ({**SPEECH, "instructions": 5}, "instructions"),
    ]
    good = [{**SPEECH, "instructions": ""}, {**SPEECH, "stream_format": "audio", "response_format": "pcm"}]
    with running_server(engine()) as base:
        answers = asyncio.run(post_all(base, "/v1/audio/speech", [body for body, _ in bad] + good))
    for answer, (_, param) in zip(answers, bad, strict=False):
        assert_refused(answer, param)
    assert b"mp3, opus, aac, flac, wav, pcm" in answers[0][2]
    assert [(status, kind) for status, kind, _ in answers[len(bad) :]] == [
        (200, "audio/mpeg"),
        (200, "audio/pcm"),
    ]


def test_an_encoder_closed_by_a_client_that_left_takes_no_more_audio() -> None:
    encoder = AvEncoder(SPEECH_FORMATS["opus"])
    block = (np.sin(np.arange(PCM_RATE) / PCM_RATE * 2 * np.pi * 220) * 8000).astype(np.int16).tobytes()
    assert encoder.push(block)  # a second of audio makes whole pages
    encoder.close()
    assert encoder.push(block) == b"" and encoder.finish() == b""
    encoder.close()  # twice is harmless
