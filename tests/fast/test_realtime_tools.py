"""Function calling over the Realtime protocol on fakes, every server event validated against the
official `openai` SDK's models: a client tool round trip (function_call item, the client's
function_call_output, response.create, the spoken answer), and an in-process tool run by the server."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fake_engine import fake_engine
from fast.test_fake_realtime import Client
from rejoinder.backends.fake import FakeLLM
from rejoinder.stages.llm import Message, ToolCall
from rejoinder.tools import ToolSet
from rejoinder.transports.realtime import RealtimeConnection

ORDER_TOOL = {
    "type": "function",
    "name": "lookup_order",
    "description": "Look up the status of an order by its number.",
    "parameters": {
        "type": "object",
        "properties": {"order_id": {"type": "string"}},
        "required": ["order_id"],
    },
}


def answer_from_tool(messages: list[Message]) -> str:
    last = messages[-1]
    return f"Your order is {json.loads(last['content'])['status']}." if last["role"] == "tool" else "Hello."


def tool_client(calls: list[ToolCall], tools: ToolSet | None = None) -> Client:
    engine = fake_engine(llm=FakeLLM(reply=answer_from_tool, tool_calls=calls, delay_s=0.005))
    engine.tools = tools
    client = Client()
    client.connection = RealtimeConnection(engine, client._receive)
    return client


def user_item(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def test_a_client_function_call_round_trip_sends_only_valid_events() -> None:
    call = ToolCall("call_42", "lookup_order", '{"order_id": "A1234"}')

    async def go() -> Client:
        client = tool_client([call])
        await client.connection.start()
        await client.send("session.update", session={"tools": [ORDER_TOOL], "tool_choice": "auto"})
        await client.send("conversation.item.create", item=user_item("Where is my order A1234?"))
        await client.send("response.create")
        first = (await client.until("response.done"))[0]["response"]
        assert [o["type"] for o in first["output"]] == ["function_call"]
        assert (
            first["output"][0]["call_id"] == "call_42" and first["output"][0]["arguments"] == call.arguments
        )
        output = json.dumps({"status": "shipped"})
        item = {"type": "function_call_output", "call_id": "call_42", "output": output}
        await client.send("conversation.item.create", item=item)
        await client.send("conversation.item.create", item=item)  # answered already: an error
        await client.send("response.create")
        await client.until("response.done", 2)
        await client.connection.close()
        return client

    client = asyncio.run(go())
    assert not client.invalid, client.invalid
    kinds = [e["type"] for e in client.sent]
    assert "response.function_call_arguments.delta" in kinds
    args_done = next(e for e in client.sent if e["type"] == "response.function_call_arguments.done")
    assert args_done["name"] == "lookup_order" and args_done["call_id"] == "call_42"
    updated = next(e for e in client.sent if e["type"] == "session.updated")["session"]
    assert updated["tools"][0]["name"] == "lookup_order" and updated["tool_choice"] == "auto"
    second = [e for e in client.sent if e["type"] == "response.done"][1]["response"]
    assert second["output"][0]["content"][0]["transcript"] == "Your order is shipped."
    [error] = client.errors()
    assert error["param"] == "item.call_id" and "already has its output" in error["message"]
    history = client.connection.session.history
    assert [m["role"] for m in history] == ["user", "assistant", "tool", "assistant"]


def calculate_status(order_id: str) -> str:
    """Look up the status of an order by its number."""
    return json.dumps({"status": f"packed ({order_id})"})


def test_an_in_process_tool_runs_in_the_server_and_its_result_is_an_item() -> None:
    call = ToolCall("call_1", "calculate_status", '{"order_id": "B7"}')

    async def go() -> Client:
        client = tool_client([call], ToolSet.from_functions(calculate_status))
        await client.connection.start()
        await client.send("conversation.item.create", item=user_item("Where is order B7?"))
        await client.send("response.create")
        await client.until("response.done")
        await client.connection.close()
        return client

    client = asyncio.run(go())
    assert not client.invalid, client.invalid
    done = next(e for e in client.sent if e["type"] == "response.done")["response"]
    assert [o["type"] for o in done["output"]] == ["function_call", "message"]
    assert done["output"][1]["content"][0]["transcript"] == "Your order is packed (B7)."
    done_items = [e["item"] for e in client.sent if e["type"] == "conversation.item.done"]
    assert [o["type"] for o in done_items] == ["message", "function_call", "function_call_output", "message"]
    outputs = [o for o in done_items if o["type"] == "function_call_output"]
    assert outputs[0]["call_id"] == "call_1"
    message_added = next(
        e for e in client.sent if e["type"] == "response.output_item.added" and e["item"]["type"] == "message"
    )
    assert message_added["output_index"] == 1
