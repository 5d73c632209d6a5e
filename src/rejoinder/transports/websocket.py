"""WebSocket transport for /v1/realtime: moves messages between the socket and a RealtimeConnection."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web

from rejoinder.transports.realtime import MAX_EVENT_BYTES, RealtimeConnection
from rejoinder.transports.realtime.wire import Send

log = logging.getLogger(__name__)

MAX_FRAME = MAX_EVENT_BYTES * 4
"""aiohttp closes the socket above this; between MAX_EVENT_BYTES and it, the client gets an error event."""


def socket_sender(ws: web.WebSocketResponse) -> Send:
    async def send(event: dict[str, Any]) -> None:
        if ws.closed:
            raise ConnectionError("socket closed")
        await ws.send_str(json.dumps(event))

    return send


async def serve_socket(
    ws: web.WebSocketResponse, connection: RealtimeConnection, on_activity: Callable[[], None]
) -> None:
    """Until the client goes away (or the server closes the socket)."""
    try:
        await connection.start()
        async for msg in ws:
            on_activity()
            if msg.type == WSMsgType.TEXT:
                await connection.handle(msg.data)
            elif msg.type == WSMsgType.BINARY:
                await connection.error("binary frames are not part of the protocol; send JSON text events")
            elif msg.type == WSMsgType.ERROR:
                log.info("websocket error", extra={"error": str(ws.exception())})
                break
    finally:
        await connection.close()
