"""Function calling in OpenAI Realtime terms, independent of the transport: the events that announce
a model's call (a `function_call` output item, its argument deltas, done), the checks on a client's
`function_call_output` item, and the calls still waiting for one."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from rejoinder.stages.llm import Message, ToolCall, ToolChoice
from rejoinder.tools.client import ClientTool, FieldError, parse_tool_choice, parse_tools

ARGUMENT_DELTA_CHARS = 64
MAX_OUTPUT_CHARS = 16_000


@dataclass(frozen=True)
class SessionTools:
    tools: list[ClientTool]
    choice: ToolChoice


def parse_session_tools(session: dict[str, Any], current: SessionTools | None = None) -> SessionTools | None:
    """`tools` / `tool_choice` of a session.update (either may come alone); None if neither is given.
    Raises FieldError whose `param` is e.g. "session.tools[0].parameters"."""
    if "tools" not in session and "tool_choice" not in session:
        return None
    tools = (
        parse_tools(session["tools"], "session.tools")
        if "tools" in session
        else (current.tools if current else [])
    )
    choice = session.get("tool_choice", current.choice if current else "auto")
    return SessionTools(tools, parse_tool_choice(choice, [t.name for t in tools], "session.tool_choice"))


def function_call_item(call: ToolCall, item_id: str, status: str = "completed") -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "function_call",
        "status": status,
        "call_id": call.call_id,
        "name": call.name,
        "arguments": call.arguments if status == "completed" else "",
    }


def function_call_events(
    call: ToolCall, response_id: str, item_id: str, output_index: int
) -> list[dict[str, Any]]:
    """The server events for one call, in order; each dict has its "type" (event_id left to the sender)."""
    base = {"response_id": response_id, "item_id": item_id, "output_index": output_index}
    events: list[dict[str, Any]] = [
        {
            "type": "response.output_item.added",
            "response_id": response_id,
            "output_index": output_index,
            "item": function_call_item(call, item_id, "in_progress"),
        }
    ]
    args = call.arguments
    for start in range(0, len(args), ARGUMENT_DELTA_CHARS):
        events.append(
            {
                "type": "response.function_call_arguments.delta",
                **base,
                "call_id": call.call_id,
                "delta": args[start : start + ARGUMENT_DELTA_CHARS],
            }
        )
    events.append(
        {
            "type": "response.function_call_arguments.done",
            **base,
            "call_id": call.call_id,
            "name": call.name,
            "arguments": args,
        }
    )
    events.append(
        {
            "type": "response.output_item.done",
            "response_id": response_id,
            "output_index": output_index,
            "item": function_call_item(call, item_id),
        }
    )
    return events


@dataclass
class PendingCalls:
    """Calls the model made to client tools, waiting for their function_call_output items. A call
    id is answered once; an output for an id never issued is refused."""

    waiting: dict[str, ToolCall] = field(default_factory=dict)
    answered: set[str] = field(default_factory=set)

    def add(self, calls: Iterable[ToolCall]) -> None:
        for call in calls:
            self.waiting[call.call_id] = call

    def output(self, item: dict[str, Any], where: str = "item") -> Message:
        """The tool message for a client's `function_call_output` item."""
        call_id = item.get("call_id")
        if not isinstance(call_id, str) or not call_id:
            raise FieldError(f"{where}.call_id", "is required")
        if call_id in self.answered:
            raise FieldError(f"{where}.call_id", f"{call_id!r} already has its output")
        if call_id not in self.waiting:
            known = ", ".join(self.waiting) or "none is waiting"
            raise FieldError(
                f"{where}.call_id", f"no function call {call_id!r} is waiting for output ({known})"
            )
        output = item.get("output")
        if not isinstance(output, str):
            raise FieldError(f"{where}.output", "must be a string (JSON text or plain text)")
        if len(output) > MAX_OUTPUT_CHARS:
            raise FieldError(f"{where}.output", f"at most {MAX_OUTPUT_CHARS} characters")
        del self.waiting[call_id]
        self.answered.add(call_id)
        return {"role": "tool", "tool_call_id": call_id, "content": output}

    @property
    def complete(self) -> bool:
        """Every call of the last response has its output: a response.create may answer from them."""
        return not self.waiting
