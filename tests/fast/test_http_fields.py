"""OpenAI request fields the HTTP model endpoints cannot honour are refused with a 400 naming the
field, not silently ignored. Found by probing: `n: 3` got one choice, `speed` 0, 100 and "fast"
were spoken at the usual rate, `voice: {"id": "x"}` was accepted, and `model: {"a": 1}` came back
as the Python text "{'a': 1}"."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from fake_engine import fake_engine
from server_helpers import running_server

HI = [{"role": "user", "content": "Hi"}]


async def post_all(base: str, path: str, bodies: list[dict[str, Any]]) -> list[tuple[int, str, bytes]]:
    """Each body posted in turn: (status, content type, raw answer)."""
    out = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(30)) as client:
        for body in bodies:
            async with client.post(base + path, json=body) as r:
                out.append((r.status, r.content_type, await r.read()))
    return out


def assert_refused(answer: tuple[int, str, bytes], param: str) -> None:
    """An OpenAI-style 400 whose `param` and message name the field, in words (no pydantic URL)."""
    status, _, raw = answer
    assert status == 400, (param, status, raw[:200])
    error = json.loads(raw)["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param, error
    assert param in error["message"] and "http" not in error["message"], error


def test_speech_speed_the_tts_cannot_honour_is_refused_naming_speed() -> None:
    speech = {"model": "tts-1", "voice": "alloy", "input": "Hello there."}
    bad: list[Any] = [0, 100, "fast", True, 0.1, 1.5, 0.25, 4.0]
    good = [{**speech}, {**speech, "speed": 1.0}, {**speech, "speed": 1}, {**speech, "speed": None}]
    with running_server(fake_engine()) as base:
        answers = asyncio.run(
            post_all(base, "/v1/audio/speech", [{**speech, "speed": s} for s in bad] + good)
        )
    for answer in answers[: len(bad)]:
        assert_refused(answer, "speed")
    assert b"only 1.0 is supported" in answers[bad.index(1.5)][2]  # in range, but not this TTS's rate
    assert b"0.25 to 4.0" in answers[bad.index("fast")][2]
    for status, kind, raw in answers[len(bad) :]:
        assert status == 200 and kind == "audio/mpeg" and len(raw) > 0, (status, raw[:200])


def test_speech_speed_follows_the_rate_the_server_tts_was_configured_with() -> None:
    engine = fake_engine()
    engine.config.tts.speed = 1.5
    speech = {"voice": "alloy", "input": "Hello there.", "response_format": "wav"}
    with running_server(engine) as base:
        answers = asyncio.run(
            post_all(base, "/v1/audio/speech", [{**speech, "speed": 1.0}, {**speech, "speed": 1.5}])
        )
    assert_refused(answers[0], "speed")
    assert b"only 1.5 is supported" in answers[0][2]
    assert answers[1][0] == 200 and answers[1][1] == "audio/wav", answers[1][2][:200]


def test_speech_voice_and_model_that_are_not_strings_are_refused() -> None:
    speech = {"model": "tts-1", "voice": "alloy", "input": "Hello there."}
    bodies = [
        {**speech, "voice": {"id": "x"}},
        {**speech, "voice": 5},
        {**speech, "model": {"a": 1}},
        {**speech, "model": ["tts-1"]},
        speech,
        {"input": "Hello there."},  # neither given: the loaded voice speaks
    ]
    with running_server(fake_engine()) as base:
        answers = asyncio.run(post_all(base, "/v1/audio/speech", bodies))
    for answer, param in zip(answers[:4], ["voice", "voice", "model", "model"], strict=True):
        assert_refused(answer, param)
    for status, kind, raw in answers[4:]:
        assert status == 200 and kind == "audio/mpeg" and len(raw) > 0, (status, raw[:200])


def test_chat_n_other_than_one_is_refused_naming_n() -> None:
    chat = {"messages": HI, "max_tokens": 16}
    bad = [3, 0, -1, 1.5, "1", True, [1]]
    bodies = [{**chat, "n": n} for n in bad] + [{**chat, "n": 3, "stream": True}]
    bodies += [{**chat, "n": 1}, {**chat, "n": None}, chat]
    with running_server(fake_engine()) as base:
        answers = asyncio.run(post_all(base, "/v1/chat/completions", bodies))
    for answer in answers[: len(bad) + 1]:
        assert_refused(answer, "n")
    assert b"only n=1" in answers[0][2] and b"must be an integer" in answers[bad.index(1.5)][2]
    for status, _, raw in answers[len(bad) + 1 :]:
        assert status == 200, raw[:200]
        choices = json.loads(raw)["choices"]
        assert (
            len(choices) == 1 and choices[0]["message"]["content"].strip() == "Rome is the capital of Italy."
        )


def test_chat_model_that_is_not_a_string_is_refused_and_a_string_is_echoed() -> None:
    chat = {"messages": HI, "max_tokens": 16}
    bad = [{"a": 1}, 5, ["x"], True]
    bodies = [{**chat, "model": m} for m in bad] + [{**chat, "model": {"a": 1}, "stream": True}]
    bodies += [{**chat, "model": "my-model"}, {**chat, "model": "my-model", "stream": True}, chat]
    with running_server(fake_engine()) as base:
        answers = asyncio.run(post_all(base, "/v1/chat/completions", bodies))
    for answer in answers[: len(bad) + 1]:
        assert_refused(answer, "model")
    whole, streamed, unnamed = answers[len(bad) + 1 :]
    assert whole[0] == 200 and json.loads(whole[2])["model"] == "my-model"
    events = [
        json.loads(line[6:]) for line in streamed[2].decode().split("\n\n") if line.startswith("data: {")
    ]
    assert streamed[0] == 200 and events and all(e["model"] == "my-model" for e in events)
    assert unnamed[0] == 200 and json.loads(unnamed[2])["model"] == "rejoinder"


def test_chat_usage_is_the_models_own_count() -> None:
    """It was all zeros, which read as a measurement; the fake counts a word as a token."""

    with running_server(fake_engine("One two three.")) as base:
        [(status, _, raw)] = asyncio.run(post_all(base, "/v1/chat/completions", [{"messages": HI}]))
    assert status == 200
    usage = json.loads(raw)["usage"]
    assert usage["completion_tokens"] == 3 and usage["prompt_tokens"] == 1  # "Hi"
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_chat_fields_the_server_does_not_honour_are_refused_naming_them() -> None:
    """Found with the openai SDK: `logprobs`, `top_logprobs` and `logit_bias` got a 200 that
    ignored them (no logprobs came back)."""
    chat = {"messages": HI, "max_tokens": 16}
    bad: list[tuple[str, Any]] = [("logprobs", True), ("top_logprobs", 3), ("logit_bias", {"50256": -100})]
    good: list[tuple[str, Any]] = [("logprobs", False), ("logit_bias", None), ("logit_bias", {})]
    bodies = [{**chat, name: value} for name, value in bad + good]
    bodies.append({**chat, "stream": True, "logprobs": True})
    with running_server(fake_engine()) as base:
        answers = asyncio.run(post_all(base, "/v1/chat/completions", bodies))
    for answer, (name, _) in zip(answers[: len(bad)], bad, strict=True):
        assert_refused(answer, name)
    assert_refused(answers[-1], "logprobs")
    for status, _, raw in answers[len(bad) : -1]:
        assert status == 200, raw[:200]
        assert json.loads(raw)["choices"][0]["message"]["content"].strip() == "Rome is the capital of Italy."


def test_chat_parts_the_text_model_cannot_read_are_refused_naming_the_part() -> None:
    """An image, audio or file part was dropped and the words around it answered with a 200."""
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    audio = {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}
    file = {"type": "file", "file": {"file_id": "file-1"}}
    text = {"type": "text", "text": "What is this?"}
    bad: list[Any] = [
        [text, image],
        [audio],
        [text, file],
        ["just a string"],
        [{"type": "text", "text": 5}],
        7,
    ]
    bodies: list[dict[str, Any]] = [
        {"messages": [{"role": "user", "content": c}], "max_tokens": 8} for c in bad
    ]
    good = [
        {"messages": [{"role": "user", "content": [text, {"type": "text", "text": "Say it."}]}]},
        {"messages": [{"role": "developer", "content": "Be brief."}, {"role": "user", "content": "Hi"}]},
        {"messages": [{"role": "user", "content": ""}]},
    ]
    with running_server(fake_engine()) as base:
        answers = asyncio.run(post_all(base, "/v1/chat/completions", bodies + good))
    for answer in answers[: len(bad)]:
        assert_refused(answer, "messages")
    assert b"messages[0].content[1]: a 'image_url' part" in answers[0][2]
    assert b"'input_audio'" in answers[1][2] and b"'file'" in answers[2][2]
    for status, _, raw in answers[len(bad) :]:
        assert status == 200, raw[:200]


def test_a_tool_message_that_answers_no_call_is_refused() -> None:
    """A tool result whose id no earlier assistant message had called reached the model."""
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    asked = {"role": "assistant", "content": None, "tool_calls": [call]}
    user = {"role": "user", "content": "Hi"}
    bodies: list[dict[str, Any]] = [
        {"messages": [user, {"role": "tool", "tool_call_id": "call_x", "content": "42"}]},
        {"messages": [user, {"role": "tool", "tool_call_id": "call_1", "content": "42"}, asked]},  # before
        {"messages": [user, asked, {"role": "tool", "tool_call_id": "call_1", "content": "42"}]},
    ]
    with running_server(fake_engine()) as base:
        answers = asyncio.run(post_all(base, "/v1/chat/completions", bodies))
    assert_refused(answers[0], "messages")
    assert b"messages[1]" in answers[0][2] and b"call_x" in answers[0][2]
    assert_refused(answers[1], "messages")
    assert answers[2][0] == 200, answers[2][2][:200]


def test_chat_sampling_fields_are_checked_one_by_one_naming_each() -> None:
    """One message for four fields with `param: null`; null (the default) was refused, `true` read
    as 1.0 and 1.5 tokens cut to 1; a tool_choice error had no param either."""
    chat: dict[str, Any] = {"messages": HI, "max_tokens": 8}
    bad: list[tuple[dict[str, Any], str]] = [
        ({"temperature": 3}, "temperature"),
        ({"temperature": "hot"}, "temperature"),
        ({"temperature": True}, "temperature"),
        ({"top_p": 0}, "top_p"),
        ({"seed": "abc"}, "seed"),
        ({"seed": 1.7}, "seed"),
        ({"max_tokens": 1.5}, "max_tokens"),
        ({"max_completion_tokens": 0}, "max_completion_tokens"),
        ({"tool_choice": "required"}, "tool_choice"),
        ({"max_tokens": 10**400}, "max_tokens"),  # an OverflowError and a 500 after the merge
        ({"seed": 10**400}, "seed"),
        ({"seed": 2**63}, "seed"),
        ({"temperature": 10**400}, "temperature"),
    ]
    good = [
        {"temperature": None, "top_p": None, "seed": None},
        {"temperature": 0, "seed": 7, "max_tokens": 8.0},
        {"seed": 2**63 - 1},
    ]
    bodies = [{**chat, **extra} for extra, _ in bad] + [{**chat, **extra} for extra in good]
    with running_server(fake_engine()) as base:
        answers = asyncio.run(post_all(base, "/v1/chat/completions", bodies))
    for answer, (_, param) in zip(answers, bad, strict=False):
        assert_refused(answer, param)
    for status, _, raw in answers[len(bad) :]:
        assert status == 200, raw[:200]
