"""Sending server events and reporting client mistakes: what every event family shares."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

MAX_EVENT_BYTES = 1 << 20

Send = Callable[[dict[str, Any]], Awaitable[None]]


class ProtocolError(Exception):
    """A client event the server cannot honour; becomes an `error` event, the session goes on."""

    def __init__(self, message: str, code: str = "invalid_event", param: str | None = None) -> None:
        super().__init__(message)
        self.code, self.param = code, param


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


def expect(value: Any, kind: type | tuple[type, ...], param: str, what: str) -> Any:
    """`value` if it is of `kind` (bool is never a number here), else a ProtocolError naming it."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        raise ProtocolError(f"{param} must be {what}", "invalid_value", param)
    if not isinstance(value, kinds):
        raise ProtocolError(f"{param} must be {what}", "invalid_value", param)
    return value


class Wire:
    """One client's outgoing events; stops quietly once the client has gone."""

    def __init__(self, send: Send, on_error: Callable[[], None] | None = None) -> None:
        self._send = send
        self._on_error = on_error
        self.closed = False

    async def send(self, type_: str, **fields: Any) -> None:
        if self.closed:
            return
        try:
            await self._send({"type": type_, "event_id": new_id("event"), **fields})
        except (ConnectionError, RuntimeError):  # the client vanished: stop talking to it
            self.closed = True

    async def error(
        self,
        message: str,
        code: str = "invalid_event",
        param: str | None = None,
        event_id: str | None = None,
        kind: str = "invalid_request_error",
    ) -> None:
        if self._on_error and kind == "invalid_request_error":
            self._on_error()
        await self.send(
            "error",
            error={"type": kind, "code": code, "message": message, "param": param, "event_id": event_id},
        )
