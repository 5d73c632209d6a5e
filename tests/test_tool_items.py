"""Realtime function-calling pieces: session.update tools, the function_call events, and the
function_call_output checks."""

from __future__ import annotations

import json

import pytest

from rejoinder.stages.llm import ToolCall
from rejoinder.tools.client import FieldError
from rejoinder.tools.realtime_items import PendingCalls, function_call_events, parse_session_tools

TOOL = {
    "type": "function",
    "name": "lookup_order",
    "description": "Find an order.",
    "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}},
}


def test_session_update_tools_and_choice() -> None:
    assert parse_session_tools({"instructions": "x"}) is None
    first = parse_session_tools({"tools": [TOOL], "tool_choice": "required"})
    assert (
        first is not None and [t.name for t in first.tools] == ["lookup_order"] and first.choice == "required"
    )
    only_choice = parse_session_tools({"tool_choice": {"type": "function", "name": "lookup_order"}}, first)
    assert (
        only_choice is not None and only_choice.tools == first.tools and only_choice.choice == "lookup_order"
    )
    with pytest.raises(FieldError) as info:
        parse_session_tools({"tools": [{**TOOL, "parameters": {"type": "object", "properties": 3}}]})
    assert info.value.param == "session.tools[0].parameters/properties"
    with pytest.raises(FieldError) as info:
        parse_session_tools({"tool_choice": {"type": "function", "name": "nope"}}, first)
    assert info.value.param == "session.tool_choice.name" and "'nope' is not one of the tools" in str(
        info.value
    )


def test_function_call_events_follow_the_realtime_order() -> None:
    call = ToolCall("call_1", "lookup_order", json.dumps({"order_id": "A" * 100}))
    events = function_call_events(call, "resp_1", "item_1", 0)
    types = [e["type"] for e in events]
    assert types[0] == "response.output_item.added" and types[-2:] == [
        "response.function_call_arguments.done",
        "response.output_item.done",
    ]
    deltas = [e["delta"] for e in events if e["type"] == "response.function_call_arguments.delta"]
    assert len(deltas) > 1 and "".join(deltas) == call.arguments
    added, done = events[0]["item"], events[-1]["item"]
    assert added == {
        "id": "item_1",
        "type": "function_call",
        "status": "in_progress",
        "call_id": "call_1",
        "name": "lookup_order",
        "arguments": "",
    }
    assert done["status"] == "completed" and done["arguments"] == call.arguments
    assert all(e["item_id"] == "item_1" and e["call_id"] == "call_1" for e in events[1:-1])


def test_function_call_output_is_matched_to_a_waiting_call_once() -> None:
    pending = PendingCalls()
    pending.add([ToolCall("call_1", "lookup_order", "{}"), ToolCall("call_2", "lookup_order", "{}")])
    message = pending.output(
        {"type": "function_call_output", "call_id": "call_1", "output": '{"status": "shipped"}'}
    )
    assert message == {"role": "tool", "tool_call_id": "call_1", "content": '{"status": "shipped"}'}
    assert not pending.complete
    for item, param, text in [
        ({"call_id": "call_1", "output": "x"}, "item.call_id", "already has its output"),
        ({"call_id": "call_9", "output": "x"}, "item.call_id", "no function call 'call_9' is waiting"),
        ({"output": "x"}, "item.call_id", "is required"),
        ({"call_id": "call_2", "output": {"a": 1}}, "item.output", "must be a string"),
    ]:
        with pytest.raises(FieldError) as info:
            pending.output(item)
        assert info.value.param == param and text in str(info.value)
    pending.output({"call_id": "call_2", "output": "delivered"})
    assert pending.complete
