"""Chat `stop` and `response_format` are honoured (they were refused at stop 26, and silently
ignored before that). `finish_reason` "length": test_http_chat_options.py."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest
from test_http_fields import HI, assert_refused, post_all

from fake_engine import fake_engine
from rejoinder.backends.fake import FakeLLM
from rejoinder.server.chat_fields import cut_at_stop
from server_helpers import running_server

REPLY = "Rome is the capital of Italy. It has been for a long time."


async def pieces(text: str, size: int) -> AsyncIterator[str]:
    for i in range(0, len(text), size):
        yield text[i : i + size]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 100])
def test_the_text_is_cut_before_the_first_stop_whatever_the_pieces(size: int) -> None:
    async def cut(stops: tuple[str, ...]) -> str:
        return "".join([p async for p in cut_at_stop(pieces(REPLY, size), stops)])

    assert asyncio.run(cut((". ",))) == "Rome is the capital of Italy"
    assert asyncio.run(cut(("long", "capital"))) == "Rome is the "
    assert asyncio.run(cut(("Rome",))) == ""
    assert asyncio.run(cut(("Paris",))) == REPLY
    assert asyncio.run(cut(())) == REPLY
    assert asyncio.run(cut(("time.",))) == REPLY[: -len("time.")]


def test_the_model_stream_is_closed_at_the_stop() -> None:
    written: list[str] = []
    closed: list[bool] = []

    async def model() -> AsyncIterator[str]:
        try:
            for word in REPLY.split(" "):
                written.append(word)
                yield word + " "
        finally:
            closed.append(True)

    async def go() -> str:
        return "".join([p async for p in cut_at_stop(model(), ("capital",))])

    assert asyncio.run(go()) == "Rome is the "
    assert closed == [True] and len(written) < len(REPLY.split(" "))


def test_stop_is_honoured_streamed_or_not_over_the_sdk() -> None:
    with running_server(fake_engine(reply=REPLY)) as base:
        client = openai.OpenAI(base_url=base + "/v1", api_key="unused")
        whole = client.chat.completions.create(model="x", messages=HI, stop=["."])
        streamed = client.chat.completions.create(model="x", messages=HI, stop="capital", stream=True)
        chunks = list(streamed)
    assert whole.choices[0].message.content == "Rome is the capital of Italy"
    assert whole.choices[0].finish_reason == "stop"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Rome is the "
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_a_json_response_format_reaches_a_backend_that_keeps_to_it() -> None:
    llm = FakeLLM(reply="Rome.")
    seen: list[Any] = []
    stream = llm.stream

    def recording(messages: Any, params: Any) -> AsyncIterator[str]:
        seen.append(params.response_format)
        return stream(messages, params)

    llm.stream = recording
    schema = {"type": "json_schema", "json_schema": {"name": "a", "schema": {"type": "object"}}}
    with running_server(fake_engine(llm=llm)) as base:
        client = openai.OpenAI(base_url=base + "/v1", api_key="unused")
        answer = client.chat.completions.create(
            model="x", messages=HI, response_format={"type": "json_object"}
        )
        client.chat.completions.create(model="x", messages=HI, response_format=schema)
        client.chat.completions.create(model="x", messages=HI, response_format={"type": "text"})
    assert json.loads(answer.choices[0].message.content or "") == {"reply": "Rome."}
    assert seen == [{"type": "json_object"}, schema, None]


def test_bad_stop_and_response_format_values_are_refused_naming_them() -> None:
    plain = FakeLLM(reply="Rome.")
    plain.supports_json_output = False
    chat = {"messages": HI, "max_tokens": 16}
    bad: list[tuple[str, Any]] = [
        ("stop", 5),
        ("stop", [".", 3]),
        ("stop", ["a", "b", "c", "d", "e"]),
        ("stop", ["x" * 300]),
        ("stop", ["", "."]),
        ("response_format", "json"),
        ("response_format", {"type": "xml"}),
        ("response_format", {"type": "json_schema", "json_schema": "x"}),
    ]
    with running_server(fake_engine(llm=plain)) as base:
        answers = asyncio.run(post_all(base, "/v1/chat/completions", [{**chat, n: v} for n, v in bad]))
        [no_json] = asyncio.run(
            post_all(base, "/v1/chat/completions", [{**chat, "response_format": {"type": "json_object"}}])
        )
    for answer, (name, _) in zip(answers, bad, strict=True):
        assert_refused(answer, name)
    assert_refused(no_json, "response_format")
    assert b"cannot constrain" in no_json[2]
