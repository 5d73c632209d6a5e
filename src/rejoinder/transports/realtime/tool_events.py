"""Function calling over the Realtime protocol, the OpenAI way: the client's tools in session.update,
each model call as a `function_call` output item (added, argument deltas, done) of the turn's
response, in-process results as `function_call_output` conversation items, and the client's own
`function_call_output` items, after which `response.create` answers from them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rejoinder.events import ToolCalled, ToolReturned
from rejoinder.session import Session
from rejoinder.tools.client import FieldError
from rejoinder.tools.realtime_items import (
    SessionTools,
    function_call_events,
    function_call_item,
    parse_session_tools,
)
from rejoinder.transports.realtime.items import Items
from rejoinder.transports.realtime.wire import ProtocolError, Wire, new_id

if TYPE_CHECKING:
    from rejoinder.transports.realtime.responses import Responses


class ToolEvents:
    def __init__(self, wire: Wire, session: Session, items: Items) -> None:
        self.wire, self.session, self.items = wire, session, items
        self.responses: Responses | None = None

    @property
    def _state(self) -> Any:
        return self.session.responder.tools

    # ---- session.update ------------------------------------------------------------------------
    def parse(self, session: dict[str, Any]) -> SessionTools | None:
        """`tools` / `tool_choice` of a session.update checked (a bad one is a ProtocolError naming
        the field), not applied; pure, so that it can run off the event loop: 128 large schemas
        take over a second to check."""
        state = self._state
        try:
            return parse_session_tools(session, SessionTools(state.client, state.choice))
        except FieldError as exc:
            raise ProtocolError(str(exc), "invalid_value", exc.param) from None

    def apply(self, parsed: SessionTools | None) -> None:
        if parsed is not None:
            self._state.client, self._state.choice = parsed.tools, parsed.choice

    def settings(self) -> tuple[Any, Any]:
        """The client's tools and tool choice, for a refused session.update to put back."""
        return self._state.client, self._state.choice

    def restore(self, saved: tuple[Any, Any]) -> None:
        self._state.client, self._state.choice = saved

    def describe(self) -> dict[str, Any]:
        state = self._state
        choice: Any = state.choice
        if choice not in ("auto", "none", "required"):
            choice = {"type": "function", "name": choice}
        tools = [
            {"type": "function", "name": t.name, "description": t.description, "parameters": t.parameters}
            for t in state.client
        ]
        return {"tools": tools, "tool_choice": choice}

    # ---- the client's function_call_output -----------------------------------------------------
    async def output(self, item: dict[str, Any]) -> None:
        """A client's `function_call_output` item into the history."""
        state = self._state
        given = item.get("id")
        item_id = given if isinstance(given, str) and given else new_id("item")
        self.items.check_new(item_id)
        try:
            message = state.pending.output(item, "item")
        except FieldError as exc:
            raise ProtocolError(str(exc), "invalid_value", exc.param) from None
        self.session.history.append(message)
        body = {
            "id": item_id,
            "type": "function_call_output",
            "status": "completed",
            "call_id": message["tool_call_id"],
            "output": message["content"],
        }
        await self.items.add(body)

    # ---- session events -> server events -------------------------------------------------------
    async def called(self, event: ToolCalled) -> None:
        assert self.responses is not None
        response = await self.responses.response_for(event.turn)
        index, item_id = response.next_index, new_id("item")
        response.next_index += 1
        for body in function_call_events(event.call, response.id, item_id, index):
            kind = body.pop("type")
            await self.wire.send(kind, **body)
        call = function_call_item(event.call, item_id)
        response.items.append((index, call))
        await self.items.add(call)
        if event.client:
            self._state.pending.add([event.call])

    async def returned(self, event: ToolReturned) -> None:
        result = event.result
        body = {
            "id": new_id("item"),
            "type": "function_call_output",
            "status": "completed",
            "call_id": result.call_id,
            "output": result.output,
        }
        await self.items.add(body)
