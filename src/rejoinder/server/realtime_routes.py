"""The two ways into a live conversation: /v1/realtime (WebSocket) and /v1/realtime/calls
(WebRTC, an SDP offer in, the answer out). Both go through the same admission and release."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import WSCloseCode, web

from rejoinder import json_input
from rejoinder.server.capacity import AT_CAPACITY, RETRY_AFTER_S
from rejoinder.server.errors import error_response
from rejoinder.server.state import ENGINE, HOST, METRICS, SETTINGS
from rejoinder.transports.realtime import RealtimeConnection
from rejoinder.transports.realtime.wire import Wire
from rejoinder.transports.websocket import MAX_FRAME, serve_socket, socket_sender

log = logging.getLogger(__name__)

MAX_SDP_BYTES = 64 << 10


def new_connection(app: web.Application, send: Any, **options: Any) -> RealtimeConnection:
    metrics = app[METRICS]
    return RealtimeConnection(
        app[ENGINE],
        send,
        model=app[SETTINGS].model_name,
        on_turn=metrics.observe_turn,
        on_error=metrics.protocol_errors.inc,
        **options,
    )


def _refused(app: web.Application) -> web.Response | None:
    reason = app[HOST].refusal()
    if reason is None:
        return None
    response = error_response(reason, 503, AT_CAPACITY)
    response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response


async def realtime_ws(request: web.Request) -> web.StreamResponse:
    app = request.app
    offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
    ws = web.WebSocketResponse(
        max_msg_size=MAX_FRAME, protocols=[p for p in offered if p == "realtime"], heartbeat=30
    )
    refusal = app[HOST].refusal()
    await ws.prepare(request)
    if refusal is not None:  # a Realtime client reads errors as events: accept, say why, close
        await Wire(socket_sender(ws)).error(refusal, AT_CAPACITY)
        await ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=AT_CAPACITY.encode())
        return ws
    connection = new_connection(app, socket_sender(ws), on_end=ws.close)  # a tool ended the call

    async def close(reason: str) -> None:
        await connection.error(reason, "session_closed")
        await ws.close()

    lease = app[HOST].admit("websocket", close)
    try:
        await serve_socket(ws, connection, lease.touch)
    except Exception:
        log.exception("realtime session crashed")
    finally:
        app[HOST].release(lease)
        if not ws.closed:
            await ws.close()
    return ws


async def realtime_call(request: web.Request) -> web.Response:
    from rejoinder.transports.webrtc import WebRTCCall

    app = request.app
    if (refusal := _refused(app)) is not None:
        return refusal
    too_big = error_response(f"the offer exceeds {MAX_SDP_BYTES} bytes", 413, "invalid_sdp")
    if request.content_length is not None and request.content_length > MAX_SDP_BYTES:
        return too_big
    raw = bytearray()
    async for chunk in request.content.iter_any():  # chunked bodies have no length to check first
        raw += chunk
        if len(raw) > MAX_SDP_BYTES:
            return too_big
    try:
        body: Any = raw.decode()
    except UnicodeDecodeError:
        return error_response("the offer is not UTF-8 text", 400, "invalid_sdp")
    if request.content_type == "application/json":
        try:
            body = json_input.loads(body).get("sdp", "")
        except (json_input.BadJSON, AttributeError):
            body = ""
    if not isinstance(body, str) or "v=0" not in body:
        return error_response("the body must be an SDP offer", 400, "invalid_sdp")
    host = app[HOST]
    holder: dict[str, Any] = {}

    async def close(reason: str) -> None:
        await holder["call"].close(reason)

    lease = host.admit("webrtc", close)
    call = WebRTCCall(
        lambda send, **kw: new_connection(app, send, on_end=lambda: holder["call"].close(), **kw),
        on_activity=lease.touch,
        on_closed=lambda: host.release(lease),
    )
    holder["call"] = call
    try:
        answer = await call.answer(body)
    except Exception as exc:
        await call.close()
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        return error_response(f"cannot answer this offer: {reason}", 400, "invalid_sdp")
    return web.Response(text=answer, status=201, content_type="application/sdp")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v1/realtime", realtime_ws)
    app.router.add_post("/v1/realtime/calls", realtime_call)
