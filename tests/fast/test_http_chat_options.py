"""Chat options about the answer's shape, through the official `openai` SDK on fake stages:
`stream_options.include_usage` ends the stream with the usage, `parallel_tool_calls=False` gets
one call, and output audio is a 400 naming the field. Found by probing: no usage chunk came,
several calls came, and `modalities=["text", "audio"]` got text only with a 200."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from fake_engine import fake_engine
from rejoinder.backends.fake import FakeLLM
from rejoinder.stages.llm import ToolCall
from server_helpers import running_server

HI: Any = [{"role": "user", "content": "Where are my orders A1 and B2?"}]
TOOL: Any = {
    "type": "function",
    "function": {
        "name": "lookup_order",
        "description": "an order's status",
        "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}},
    },
}
CALLS = [
    ToolCall("call_1", "lookup_order", '{"order_id": "A1"}'),
    ToolCall("call_2", "lookup_order", '{"order_id": "B2"}'),
]


def client(base: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0)


def test_include_usage_ends_the_stream_with_a_usage_chunk_with_and_without_tools() -> None:
    engine = fake_engine(llm=FakeLLM(reply="Rome is the capital of Italy.", tool_calls=CALLS))
    with running_server(engine) as base:
        sdk = client(base)
        plain = list(
            sdk.chat.completions.create(
                model="x", messages=HI, stream=True, stream_options={"include_usage": True}
            )
        )
        tooled = list(
            sdk.chat.completions.create(
                model="x", messages=HI, tools=[TOOL], stream=True, stream_options={"include_usage": True}
            )
        )
        without = list(sdk.chat.completions.create(model="x", messages=HI, stream=True))
    for chunks, finish in ((plain, "stop"), (tooled, "tool_calls")):
        last, before = chunks[-1], chunks[-2]
        assert last.choices == [] and "usage" in last.model_fields_set, last  # null: not counted
        assert before.choices[0].finish_reason == finish
    assert plain[-1].usage is not None and plain[-1].usage.completion_tokens == 6  # six words
    assert all(c.choices and c.usage is None for c in without)


def test_parallel_tool_calls_false_gets_one_call() -> None:
    engine = fake_engine(llm=FakeLLM(reply="Rome.", tool_calls=CALLS))
    with running_server(engine) as base:
        sdk = client(base)
        one = sdk.chat.completions.create(model="x", messages=HI, tools=[TOOL], parallel_tool_calls=False)
        both = sdk.chat.completions.create(model="x", messages=HI, tools=[TOOL], parallel_tool_calls=True)
        streamed = list(
            sdk.chat.completions.create(
                model="x", messages=HI, tools=[TOOL], parallel_tool_calls=False, stream=True
            )
        )
    assert [c.id for c in one.choices[0].message.tool_calls or []] == ["call_1"]
    assert [c.id for c in both.choices[0].message.tool_calls or []] == ["call_1", "call_2"]
    deltas = [tc for c in streamed if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert [d.id for d in deltas] == ["call_1"] and streamed[-1].choices[0].finish_reason == "tool_calls"


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"modalities": ["text", "audio"], "audio": {"voice": "alloy", "format": "wav"}}, "modalities"),
        ({"audio": {"voice": "alloy", "format": "wav"}}, "audio"),
        ({"stream_options": {"include_usage": True}}, "stream_options"),  # without stream
        ({"stream": True, "stream_options": {"include_usage": "yes"}}, "include_usage"),
        ({"stream": True, "stream_options": {"chunk_size": 3}}, "stream_options"),
        ({"parallel_tool_calls": "no"}, "parallel_tool_calls"),
        ({"stream": "false"}, "stream"),
        ({"presence_penalty": 1.5}, "presence_penalty"),
        ({"frequency_penalty": -1}, "frequency_penalty"),
        ({"prediction": {"type": "content", "content": "Hello"}}, "prediction"),
        ({"web_search_options": {}}, "web_search_options"),
        ({"reasoning_effort": "high"}, "reasoning_effort"),
    ],
)
def test_options_it_cannot_honour_raise_bad_request_naming_the_field(
    extra: dict[str, Any], param: str
) -> None:
    with running_server(fake_engine()) as base, pytest.raises(openai.BadRequestError) as raised:
        client(base).chat.completions.create(model="x", messages=HI, **extra)
    error = raised.value.body
    assert isinstance(error, dict) and error["param"] == param and param in error["message"], error


def test_a_reply_cut_at_max_tokens_finishes_with_length() -> None:
    """It said "stop", whole or cut; the fake model writes one token per word (six here)."""
    with running_server(fake_engine()) as base:
        sdk = client(base)
        cut = sdk.chat.completions.create(model="x", messages=HI, max_tokens=3)
        whole = sdk.chat.completions.create(model="x", messages=HI, max_tokens=16)
        streamed = list(sdk.chat.completions.create(model="x", messages=HI, max_tokens=3, stream=True))
    assert cut.choices[0].finish_reason == "length" and cut.choices[0].message.content == "Rome is the "
    assert whole.choices[0].finish_reason == "stop"
    assert streamed[-1].choices[0].finish_reason == "length"


def test_zero_penalties_and_the_fields_that_change_nothing_pass() -> None:
    extra: Any = {"presence_penalty": 0, "frequency_penalty": 0.0, "user": "u1", "seed": 3}
    with running_server(fake_engine()) as base:
        reply = client(base).chat.completions.create(
            model="x", messages=HI, metadata={"a": "b"}, store=False, reasoning_effort=None, **extra
        )
    assert reply.choices[0].message.content == "Rome is the capital of Italy. "
