"""Ray Serve's ingress speaks ASGI; the server is aiohttp. Each session host runs the very same
aiohttp app (routes, auth, admission, metrics) on a loopback port of its own and this bridge
forwards what Serve's proxy hands it: HTTP requests streamed both ways, and WebSockets pumped
message by message for the connection's life (so a session stays on the replica it reached)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.websockets import WebSocket, WebSocketDisconnect

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "upgrade",
    "te",
    "trailer",
    "content-length",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-extensions",
    "sec-websocket-protocol",
    "sec-websocket-accept",
}


def _headers(items: Any) -> dict[str, str]:
    return {k: v for k, v in items if k.lower() not in HOP_BY_HOP}


def _target(base: str, path: str, query: str) -> str:
    return f"{base}{path}" + (f"?{query}" if query else "")


async def forward_http(client: aiohttp.ClientSession, base: str, request: Request) -> Response:
    async def body() -> AsyncIterator[bytes]:
        async for chunk in request.stream():
            if chunk:
                yield chunk

    upstream = await client.request(
        request.method,
        _target(base, request.url.path, request.url.query),
        headers=_headers(request.headers.items()),
        data=body() if request.method in ("POST", "PUT", "PATCH") else None,
        allow_redirects=False,
    )
    return StreamingResponse(
        upstream.content.iter_any(),
        status_code=upstream.status,
        headers=_headers(upstream.headers.items()),
        background=BackgroundTask(upstream.release),
    )


async def forward_socket(client: aiohttp.ClientSession, base: str, ws: WebSocket) -> None:
    offered = [p.strip() for p in ws.headers.get("sec-websocket-protocol", "").split(",") if p.strip()]
    try:
        upstream = await client.ws_connect(
            _target(base, ws.url.path, ws.url.query),
            protocols=offered,
            headers=_headers(ws.headers.items()),
            max_msg_size=0,  # the inner server enforces the protocol's limits
            autoping=True,
        )
    except aiohttp.WSServerHandshakeError as exc:  # refused before the upgrade (auth, origin)
        await ws.accept()
        error = {"type": "invalid_request_error", "code": "refused", "message": exc.message}
        await ws.send_text(json.dumps({"type": "error", "error": error}))
        await ws.close(code=1008)
        return
    await ws.accept(subprotocol=upstream.protocol)

    async def client_to_server() -> None:
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    return
                if message.get("text") is not None:
                    await upstream.send_str(message["text"])
                elif message.get("bytes") is not None:
                    await upstream.send_bytes(message["bytes"])

    async def server_to_client() -> None:
        async for msg in upstream:
            if msg.type == aiohttp.WSMsgType.TEXT:
                await ws.send_text(msg.data)
            elif msg.type == aiohttp.WSMsgType.BINARY:
                await ws.send_bytes(msg.data)
            else:
                break

    tasks = [asyncio.create_task(client_to_server()), asyncio.create_task(server_to_client())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await upstream.close()
        with contextlib.suppress(Exception):  # already closed by the client
            await ws.close(code=upstream.close_code or 1000)
