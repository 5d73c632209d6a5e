"""The official `openai` SDK's realtime client, unmodified, completes a function-call round trip
against a running server on fake stages: it defines a tool, gets the model's function_call item,
sends the function_call_output, asks for a response and hears the answer made from it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from openai import AsyncOpenAI

from fake_engine import fake_engine
from fast.test_realtime_tools import ORDER_TOOL, answer_from_tool
from rejoinder.backends.fake import FakeLLM
from rejoinder.stages.llm import ToolCall
from server_helpers import running_server


def test_the_openai_sdk_completes_a_function_call_round_trip() -> None:
    call = ToolCall("call_7", "lookup_order", '{"order_id": "A1234"}')
    engine = fake_engine(llm=FakeLLM(reply=answer_from_tool, tool_calls=[call], delay_s=0.005))
    seen: dict[str, Any] = {"types": []}

    async def go(base: str) -> None:
        client = AsyncOpenAI(base_url=base + "/v1", api_key="unused")
        async with client.realtime.connect(model="rejoinder") as conn:
            await conn.session.update(
                session={"type": "realtime", "tools": [ORDER_TOOL], "tool_choice": "auto"}
            )
            await conn.conversation.item.create(
                item={
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": "Where is my order A1234?"}],
                }
            )
            await conn.response.create()
            async with asyncio.timeout(20):
                async for event in conn:
                    seen["types"].append(event.type)
                    if event.type == "response.function_call_arguments.done":
                        seen["call"] = (event.call_id, event.name, json.loads(event.arguments))
                    elif event.type == "response.output_audio_transcript.delta":
                        seen["text"] = seen.get("text", "") + event.delta
                    elif event.type == "error":
                        seen["error"] = event.error.message
                    elif event.type == "response.done" and "output" not in seen:
                        seen["output"] = [item.type for item in event.response.output or []]
                        await conn.conversation.item.create(
                            item={
                                "type": "function_call_output",
                                "call_id": event.response.output[0].call_id,  # type: ignore[union-attr]
                                "output": json.dumps({"status": "shipped"}),
                            }
                        )
                        await conn.response.create()
                    elif event.type == "response.done":
                        seen["final"] = event.response.status
                        break

    with running_server(engine) as base:
        asyncio.run(go(base))
    assert "error" not in seen, seen["error"]
    assert seen["call"] == ("call_7", "lookup_order", {"order_id": "A1234"})
    assert seen["output"] == ["function_call"]
    assert seen["text"].strip() == "Your order is shipped." and seen["final"] == "completed"
    order = [
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.done",
    ]
    positions = [seen["types"].index(kind) for kind in order]
    assert positions == sorted(positions)


def test_end_conversation_closes_the_socket_after_the_goodbye() -> None:
    import aiohttp

    from rejoinder.tools import ToolSet

    engine = fake_engine(
        llm=FakeLLM(reply="Goodbye, take care.", tool_calls=[ToolCall("c1", "end_conversation", "{}")])
    )
    engine.tools = ToolSet.builtins()
    kinds: list[str] = []

    async def go(base: str) -> None:
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(base.replace("http", "ws") + "/v1/realtime") as ws,
        ):
            item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Bye!"}]}
            await ws.send_str(json.dumps({"type": "conversation.item.create", "item": item}))
            await ws.send_str(json.dumps({"type": "response.create"}))
            async with asyncio.timeout(20):
                async for msg in ws:
                    kinds.append(json.loads(msg.data)["type"])
            assert ws.closed

    with running_server(engine) as base:
        asyncio.run(go(base))
    assert kinds[-1] == "response.done" and "response.output_audio.delta" in kinds
