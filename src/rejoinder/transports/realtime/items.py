"""The conversation as the client sees it: every item by id, in order, so that each one is
announced once (`conversation.item.added`, then `.done`) with the item before it, and a client can
`conversation.item.retrieve` or `.delete` it (found by probing: neither existed, committed audio
and replies were never announced, and `previous_item_id` skipped the replies)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from rejoinder.session import Session
from rejoinder.transports.realtime.wire import ProtocolError, Wire, expect

MAX_ITEMS = 512
"""Items a connection remembers for retrieve and delete (the history keeps fewer)."""


def user_audio(item_id: str, transcript: str | None = None) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "message",
        "role": "user",
        "status": "completed",
        "content": [{"type": "input_audio", "transcript": transcript}],
    }


def text_of(item: dict[str, Any]) -> str:
    """A message item's words, as the history holds them."""
    parts = item.get("content") or []
    return " ".join(str(p.get("text") or p.get("transcript") or "") for p in parts).strip()


class Items:
    def __init__(self, wire: Wire, session: Session) -> None:
        self.wire, self.session = wire, session
        self._items: dict[str, dict[str, Any]] = {}
        self._previous: dict[str, str | None] = {}
        self.last: str | None = None
        """The newest item: the next one's `previous_item_id`."""
        self.is_running: Callable[[str], bool] = lambda item_id: False
        """An item of a response still being written (the responses family tells)."""
        self.on_delete: Callable[[str], None] = lambda item_id: None

    def check_new(self, item_id: str) -> None:
        """A client's item id must be new (before any work is done for the item)."""
        if item_id in self._items:
            raise ProtocolError(
                f"an item with id {item_id[:80]!r} already exists", "invalid_value", "item.id"
            )

    def check_end(self, previous: Any) -> None:
        """A client's item goes at the end of the conversation: `previous_item_id` may be absent,
        the last item, or "root" while there is none (found by probing: any other value, an
        unknown id too, was ignored and the item went at the end)."""
        if previous is None or previous == self.last or (previous == "root" and self.last is None):
            return
        expect(previous, str, "previous_item_id", "a string")
        if previous != "root" and previous not in self._items:
            raise ProtocolError(
                f"no item {previous[:80]!r} in the conversation", "item_not_found", "previous_item_id"
            )
        raise ProtocolError(
            "items are added at the end of the conversation: previous_item_id must be the last "
            "item or left out",
            "invalid_value",
            "previous_item_id",
        )

    async def add(self, item: dict[str, Any], done: bool = True) -> None:
        """A new item: `conversation.item.added`, and `.done` unless it is still being written."""
        item_id = item["id"]
        self.check_new(item_id)
        previous, self.last = self.last, item_id
        self._items[item_id], self._previous[item_id] = copy.deepcopy(item), previous
        while len(self._items) > MAX_ITEMS:
            old = next(iter(self._items))
            del self._items[old], self._previous[old]
        await self.wire.send("conversation.item.added", previous_item_id=previous, item=item)
        if done:
            await self.done(item)

    async def done(self, item: dict[str, Any]) -> None:
        """An item finished: its final form is what retrieve answers."""
        item_id = item["id"]
        if item_id not in self._items:
            return
        self._items[item_id] = copy.deepcopy(item)
        await self.wire.send("conversation.item.done", previous_item_id=self._previous[item_id], item=item)

    def update(self, item_id: str, change: Callable[[dict[str, Any]], None]) -> None:
        """A later fact about an item (its transcript, a truncated reply), kept without an event."""
        if item_id in self._items:
            change(self._items[item_id])

    def transcribed(self, item_id: str, transcript: str) -> None:
        self.update(item_id, lambda item: item.update(content=user_audio(item_id, transcript)["content"]))

    # ---- client events ------------------------------------------------------------------------
    async def retrieve(self, message: dict[str, Any]) -> None:
        item = self._items.get(self._item_id(message))
        assert item is not None
        await self.wire.send("conversation.item.retrieved", item=item)

    async def delete(self, message: dict[str, Any]) -> None:
        """Out of the conversation and out of the history the model reads (or the words waiting
        for a response); a reply still being written is cancelled first, by the client."""
        item_id = self._item_id(message)
        if self.is_running(item_id):
            raise ProtocolError(
                "the item is still being written; cancel its response first", "invalid_value", "item_id"
            )
        item = self._items.pop(item_id)
        previous = self._previous.pop(item_id)
        for later, before in self._previous.items():
            if before == item_id:
                self._previous[later] = previous
        if self.last == item_id:
            self.last = previous
        self.on_delete(item_id)
        self.session.responder.forget(_message_of(item))
        await self.wire.send("conversation.item.deleted", item_id=item_id)

    def _item_id(self, message: dict[str, Any]) -> str:
        item_id = expect(message.get("item_id"), str, "item_id", "a string")
        if item_id not in self._items:
            raise ProtocolError(f"no item {item_id[:80]!r} in the conversation", "item_not_found", "item_id")
        return item_id


def _message_of(item: dict[str, Any]) -> dict[str, Any] | None:
    """The history message an item became (None: an item the history holds no words of)."""
    if item.get("type") == "function_call_output":
        return {"role": "tool", "tool_call_id": item.get("call_id"), "content": item.get("output")}
    if item.get("type") == "message" and (text := text_of(item)):
        return {"role": item.get("role"), "content": text}
    return None
