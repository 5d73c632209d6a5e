"""/v1/chat/completions with `tools`, through the official openai SDK: tool calls come back as the
SDK expects (whole and streamed), tool results go back in, bad definitions get a 400 naming the field."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import openai
import pytest

from rejoinder.config import Config
from rejoinder.engine import Engine
from rejoinder.stages.llm import GenerationParams, Message, ToolCall
from scripted import ScriptedLLM
from server_helpers import running_server


class LookupLLM:
    """Calls the first offered tool for a user message; answers from a tool result."""

    name = "lookup"
    supports_tools = True

    def __init__(self) -> None:
        self.seen: list[tuple[list[Message], list[str], str]] = []

    async def stream(self, messages: Sequence[Message], params: GenerationParams) -> AsyncIterator[str]:
        yield "plain answer"

    async def stream_chat(
        self,
        messages: Sequence[Message],
        params: GenerationParams,
        tools: Sequence[dict[str, Any]],
        tool_choice: str = "auto",
    ) -> AsyncIterator[str | ToolCall]:
        self.seen.append((list(messages), [t["function"]["name"] for t in tools], tool_choice))
        last = messages[-1]
        if last["role"] == "tool":
            for word in f"Your order: {last['content']}".split(" "):
                yield word + " "
            return
        yield ToolCall("call_1", tools[0]["function"]["name"], json.dumps({"order_id": "A1"}))
        yield ToolCall("call_2", tools[0]["function"]["name"], json.dumps({"order_id": "B2"}))


TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "lookup_order",
            "description": "Look up an order.",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string"}},
                "required": ["order_id"],
            },
        },
    }
]
LLM = LookupLLM()


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with running_server(Engine.from_stages(Config(), llm=LLM)) as base:
        yield base


def test_tool_calls_whole_and_streamed_then_the_answer_from_results(server: str) -> None:
    client = openai.OpenAI(base_url=server + "/v1", api_key="unused")
    messages: list[Any] = [{"role": "user", "content": "Where are my orders?"}]
    whole = client.chat.completions.create(model="x", messages=messages, tools=TOOLS)
    choice = whole.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    calls = choice.message.tool_calls or []
    assert [(c.id, c.function.name, json.loads(c.function.arguments)) for c in calls] == [  # type: ignore[union-attr]
        ("call_1", "lookup_order", {"order_id": "A1"}),
        ("call_2", "lookup_order", {"order_id": "B2"}),
    ]
    streamed = list(client.chat.completions.create(model="x", messages=messages, tools=TOOLS, stream=True))
    deltas = [c.choices[0].delta for c in streamed if c.choices]
    stream_calls = [tc for d in deltas for tc in (d.tool_calls or [])]
    assert [(tc.index, tc.id, tc.function.name) for tc in stream_calls] == [  # type: ignore[union-attr]
        (0, "call_1", "lookup_order"),
        (1, "call_2", "lookup_order"),
    ]
    assert streamed[-1].choices[0].finish_reason == "tool_calls"
    follow_up = [
        *messages,
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": "call_1", "content": "shipped"},
    ]
    answer = client.chat.completions.create(model="x", messages=follow_up, tools=TOOLS, tool_choice="auto")
    assert (
        answer.choices[0].message.content == "Your order: shipped "
        and answer.choices[0].finish_reason == "stop"
    )
    sent = LLM.seen[-1][0]
    assert sent[1]["tool_calls"][0]["id"] == "call_1" and sent[2] == {
        "role": "tool",
        "tool_call_id": "call_1",
        "content": "shipped",
    }
    client.chat.completions.create(
        model="x",
        messages=messages,
        tools=TOOLS,
        tool_choice={"type": "function", "function": {"name": "lookup_order"}},
    )
    assert LLM.seen[-1][2] == "lookup_order"


@pytest.mark.parametrize(
    ("tools", "tool_choice", "message"),
    [
        ([{"type": "function", "function": {"name": "bad name"}}], None, "tools[0].function.name"),
        (
            [{"type": "function", "function": {"name": "f", "parameters": {"type": 5}}}],
            None,
            "tools[0].function.parameters",
        ),
        (TOOLS, {"type": "function", "function": {"name": "other"}}, "tool_choice.name: 'other'"),
        ("nope", None, "tools: must be an array"),
    ],
)
def test_bad_tool_definitions_get_a_400_naming_the_field(
    server: str, tools: Any, tool_choice: Any, message: str
) -> None:
    client = openai.OpenAI(base_url=server + "/v1", api_key="unused", max_retries=0)
    extra = {} if tool_choice is None else {"tool_choice": tool_choice}
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(
            model="x", messages=[{"role": "user", "content": "hi"}], tools=tools, **extra
        )
    assert message in str(info.value)


def test_a_backend_without_tools_refuses_them_clearly() -> None:
    with running_server(Engine.from_stages(Config(), llm=ScriptedLLM("hello there"))) as base:
        client = openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0)
        with pytest.raises(openai.BadRequestError, match="LLM backend cannot call tools"):
            client.chat.completions.create(
                model="x", messages=[{"role": "user", "content": "hi"}], tools=TOOLS
            )
        plain = client.chat.completions.create(
            model="x", messages=[{"role": "user", "content": "hi"}], tools=TOOLS, tool_choice="none"
        )
        assert plain.choices[0].message.content == "hello there "
