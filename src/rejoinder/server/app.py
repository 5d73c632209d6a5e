"""The aiohttp app: /health, /metrics, the page, /v1/realtime (WebSocket), /v1/realtime/calls (WebRTC)."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from aiohttp import web

from rejoinder.engine import Engine
from rejoinder.server.errors import error_response
from rejoinder.server.metrics import Metrics
from rejoinder.server.security import SecuritySettings, install_security
from rejoinder.transports.realtime import RealtimeConnection
from rejoinder.transports.websocket import MAX_FRAME, serve_socket

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class ServerSettings:
    api_key: str | None = None
    max_sessions: int = 4
    model_name: str = "rejoinder"
    security: SecuritySettings = field(default_factory=SecuritySettings)


ENGINE = web.AppKey("engine", Engine)
SETTINGS = web.AppKey("settings", ServerSettings)
METRICS = web.AppKey("metrics", Metrics)
SESSIONS: web.AppKey[set[Any]] = web.AppKey("sessions", set)


def _key_from(request: web.Request) -> str | None:
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    for proto in request.headers.get("Sec-WebSocket-Protocol", "").split(","):
        proto = proto.strip()
        if proto.startswith("openai-insecure-api-key."):
            return proto.removeprefix("openai-insecure-api-key.")
    return None  # never from the URL: security_middleware refuses ?api_key=


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    public = request.path in ("/", "/health") or request.path.startswith("/static/")
    if settings.api_key and not public:
        given = _key_from(request) or ""
        if not hmac.compare_digest(given.encode(), settings.api_key.encode()):
            return error_response("missing or wrong API key", 401, "invalid_api_key")
    return await handler(request)


class SessionSlots:
    """Admission control: at most max_sessions conversations at once."""

    def __init__(self, app: web.Application) -> None:
        self.app = app

    def refusal(self) -> web.Response | None:
        """The answer for one client too many, or None if there is room."""
        limit = self.app[SETTINGS].max_sessions
        if len(self.app[SESSIONS]) < limit:
            return None
        self.app[METRICS].sessions_rejected.inc()
        return error_response(f"session limit reached ({limit}); try again later", 503, "session_limit")


def new_connection(app: web.Application, send: Any, transport: str, **options: Any) -> RealtimeConnection:
    metrics = app[METRICS]
    metrics.sessions_total.labels(transport).inc()
    return RealtimeConnection(
        app[ENGINE],
        send,
        model=app[SETTINGS].model_name,
        on_turn=metrics.observe_turn,
        on_error=metrics.protocol_errors.inc,
        **options,
    )


async def realtime_ws(request: web.Request) -> web.StreamResponse:
    app = request.app
    refusal = SessionSlots(app).refusal()
    if refusal is not None:
        return refusal
    protocols = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
    ws = web.WebSocketResponse(
        max_msg_size=MAX_FRAME, protocols=[p for p in protocols if p == "realtime"], heartbeat=30
    )
    await ws.prepare(request)
    app[SESSIONS].add(ws)
    app[METRICS].sessions_active.inc()
    try:
        await serve_socket(ws, lambda send: new_connection(app, send, "websocket"))
    except Exception:
        log.exception("realtime session crashed")
    finally:
        app[SESSIONS].discard(ws)
        app[METRICS].sessions_active.dec()
        if not ws.closed:
            await ws.close()
    return ws


async def health(request: web.Request) -> web.Response:
    app = request.app
    return web.json_response(
        {
            "status": "ok",
            "sessions": len(app[SESSIONS]),
            "max_sessions": app[SETTINGS].max_sessions,
            "preset": app[ENGINE].config.preset,
        }
    )


async def metrics(request: web.Request) -> web.Response:
    return web.Response(body=request.app[METRICS].render(), content_type="text/plain", charset="utf-8")


async def index(request: web.Request) -> web.Response:
    page = resources.files("rejoinder").joinpath("server", "static", "index.html").read_text()
    return web.Response(text=page, content_type="text/html")


def create_app(engine: Engine, settings: ServerSettings | None = None) -> web.Application:
    app = web.Application(middlewares=[auth_middleware], client_max_size=32 << 20)
    app[ENGINE] = engine
    app[SETTINGS] = settings or ServerSettings()
    app[METRICS] = Metrics()
    app[SESSIONS] = set()
    install_security(app, app[SETTINGS].security, app[SETTINGS].api_key)
    app.router.add_get("/", index)
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/v1/realtime", realtime_ws)
    static = resources.files("rejoinder").joinpath("server", "static")
    app.router.add_static("/static/", str(static))
    from rejoinder.transports.webrtc import add_routes as add_webrtc

    add_webrtc(app, new_connection, SessionSlots)
    from rejoinder.server.openai_api import add_routes as add_openai_api

    add_openai_api(app, ENGINE)
    app.on_shutdown.append(_close_sessions)
    return app


async def _close_sessions(app: web.Application) -> None:
    sessions: set[Any] = app[SESSIONS]
    for session in list(sessions):
        await session.close()
