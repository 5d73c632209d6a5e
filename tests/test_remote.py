"""OpenAI-compatible endpoints of `rejoinder serve`, and the `remote` preset pointed at them."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import numpy as np
import pytest

from helpers import SAMPLES
from rejoinder.audio import from_pcm16, read_audio
from rejoinder.config import DEFAULT_SYSTEM_PROMPT
from rejoinder.engine import Engine
from server_helpers import running_server
from test_cli import assert_one_line_error, cli


@pytest.fixture(scope="module")
def server(engine: Engine):  # type: ignore[no-untyped-def]
    with running_server(engine) as base:
        yield base


def test_official_client_against_our_endpoints(server: str) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=server + "/v1", api_key="unused")
    assert any(m.id.startswith("llamacpp:") for m in client.models.list().data)
    messages = [
        {"role": "system", "content": DEFAULT_SYSTEM_PROMPT},
        {"role": "user", "content": "What is the capital of Italy?"},
    ]
    whole = client.chat.completions.create(model="x", messages=messages, max_tokens=32, seed=0)  # type: ignore[arg-type]
    streamed = client.chat.completions.create(
        model="x", messages=messages, max_tokens=32, seed=0, stream=True
    )  # type: ignore[arg-type]
    pieces = [c.choices[0].delta.content or "" for c in streamed if c.choices]
    assert "rome" in (whole.choices[0].message.content or "").lower()
    assert len([p for p in pieces if p]) > 3 and "".join(pieces) == whole.choices[0].message.content
    with open(SAMPLES / "capital_of_italy.wav", "rb") as f:
        text = client.audio.transcriptions.create(model="whisper-1", file=f).text
    assert "capital of italy" in text.lower()
    pcm = client.audio.speech.create(
        model="tts-1", voice="alloy", input="Hello there.", response_format="pcm"
    )
    audio = from_pcm16(pcm.content)
    assert audio.size / 24_000 > 0.4 and float(np.abs(audio).max()) > 0.1


def test_bad_requests_get_openai_style_errors(server: str) -> None:
    async def go() -> list[tuple[int, str]]:
        out = []
        async with aiohttp.ClientSession() as client:
            for path, body in [
                ("/v1/chat/completions", "{nope"),
                ("/v1/chat/completions", json.dumps({"messages": []})),
                (
                    "/v1/chat/completions",
                    json.dumps({"messages": [{"role": "user", "content": "x"}], "temperature": 9}),
                ),
                ("/v1/audio/speech", json.dumps({"input": "🙂"})),
                ("/v1/audio/speech", json.dumps({"input": "hi", "response_format": "ogg"})),
            ]:
                async with client.post(
                    server + path, data=body, headers={"Content-Type": "application/json"}
                ) as r:
                    out.append((r.status, (await r.json())["error"]["message"]))
            form = aiohttp.FormData()
            form.add_field("file", b"not audio at all" * 50, filename="x.wav")
            async with client.post(server + "/v1/audio/transcriptions", data=form) as r:
                out.append((r.status, (await r.json())["error"]["message"]))
        return out

    results = asyncio.run(go())
    assert [status for status, _ in results] == [400] * 6
    assert all(message for _, message in results)


def test_remote_preset_gives_the_same_answer_as_local(server: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    question = SAMPLES / "capital_of_italy.wav"
    local = cli("reply", question, "-o", tmp_path / "local.wav", "--json")
    remote = cli(
        "reply",
        question,
        "-o",
        tmp_path / "remote.wav",
        "--json",
        "--preset",
        "remote",
        "--base-url",
        server + "/v1",
    )
    assert local.returncode == 0 and remote.returncode == 0, remote.stderr
    [mine], [theirs] = json.loads(local.stdout)["turns"], json.loads(remote.stdout)["turns"]
    assert theirs["transcript"] == mine["transcript"]
    assert theirs["reply"] == mine["reply"]  # same model, same prompt, same seed
    spoken = read_audio(tmp_path / "remote.wav")
    assert spoken.size / 16_000 > 0.8


def test_remote_preset_without_a_server_is_a_clear_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = cli("reply", SAMPLES / "hello.wav", "-o", tmp_path / "o.wav", "--preset", "remote")
    assert_one_line_error(result, 2, "--base-url")


def test_real_model_keeps_to_a_json_schema_stops_at_stop_and_speaks_mp3(server: str) -> None:
    """llama.cpp's grammar holds the small model to the schema, `stop` cuts its reply, and Piper's
    speech comes back as mp3, which ffmpeg decodes to about the pcm's length."""
    import io

    import av
    from openai import OpenAI

    client = OpenAI(base_url=server + "/v1", api_key="unused")
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
        "required": ["city", "population"],
    }
    answer = client.chat.completions.create(
        model="x",
        messages=[{"role": "user", "content": "Give the capital of Italy and its population."}],
        response_format={"type": "json_schema", "json_schema": {"name": "city", "schema": schema}},
        max_tokens=60,
    )
    data = json.loads(answer.choices[0].message.content or "")
    assert isinstance(data["city"], str) and isinstance(data["population"], int)
    ask = [{"role": "user", "content": "Name three colours."}]
    options: dict[str, Any] = {"model": "x", "messages": ask, "max_tokens": 40, "seed": 0, "temperature": 0}
    free = client.chat.completions.create(**options).choices[0].message.content or ""
    stop = free.split()[len(free.split()) // 2]  # a word from the middle of the reply
    cut = client.chat.completions.create(**options, stop=[stop]).choices[0]
    assert len(free.split()) >= 4 and cut.message.content == free[: free.index(stop)], (free, stop)
    assert cut.finish_reason == "stop"
    mp3 = client.audio.speech.create(model="tts-1", voice="alloy", input="Hello there, how are you?").content
    pcm = client.audio.speech.create(
        model="tts-1", voice="alloy", input="Hello there, how are you?", response_format="pcm"
    ).content
    with av.open(io.BytesIO(mp3)) as container:
        assert container.format.name == "mp3"
        samples = sum(frame.samples for frame in container.decode(audio=0))
    assert abs(samples - len(pcm) / 2) < 0.1 * 24_000
