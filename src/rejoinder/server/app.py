"""The aiohttp app: every route is added here, in one place. Transports never import the app.

/ (the page), /health, /metrics, /v1/realtime (WebSocket), /v1/realtime/calls (WebRTC) and the
OpenAI-compatible HTTP model endpoints."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from importlib import resources

from aiohttp import web

from rejoinder.engine import Engine
from rejoinder.server import memory, openai_api, realtime_routes
from rejoinder.server.errors import error_response
from rejoinder.server.http_errors import json_errors_middleware
from rejoinder.server.metrics import Metrics
from rejoinder.server.security import install_security
from rejoinder.server.sessions import SessionHost
from rejoinder.server.state import ENGINE, HOST, METRICS, SETTINGS, ServerSettings

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

__all__ = ["ServerSettings", "create_app"]


def _key_from(request: web.Request) -> str | None:
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    for proto in request.headers.get("Sec-WebSocket-Protocol", "").split(","):
        proto = proto.strip()
        if proto.startswith("openai-insecure-api-key."):
            return proto.removeprefix("openai-insecure-api-key.")
    return None  # never from the URL: the security middleware refuses ?api_key=


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    public = request.path in ("/", "/health") or request.path.startswith("/static/")
    if settings.api_key and not public:
        given = _key_from(request) or ""
        if not hmac.compare_digest(given.encode(), settings.api_key.encode()):
            return error_response("missing or wrong API key", 401, "invalid_api_key")
    return await handler(request)


async def health(request: web.Request) -> web.Response:
    app = request.app
    engine = app[ENGINE]
    return web.json_response(
        {
            "status": "degraded" if engine.tier_failures else "ok",
            "sessions": app[HOST].active,
            "max_sessions": app[HOST].max_sessions,
            **app[HOST].load(),
            "preset": engine.config.preset,
            "tiers": [t.name for t in engine.tiers],
            "tier_failures": engine.tier_failures,
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
    app[SETTINGS] = settings = settings or ServerSettings()
    app[METRICS] = Metrics()
    app[HOST] = SessionHost(app[METRICS], settings.admission(), settings.idle_timeout_s)
    install_security(app, settings.security, settings.api_key)
    app.middlewares.append(json_errors_middleware)  # innermost: the key is checked first
    app.router.add_get("/", index)
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics)
    app.router.add_static("/static/", str(resources.files("rejoinder").joinpath("server", "static")))
    realtime_routes.add_routes(app)
    openai_api.add_routes(app, ENGINE)
    app.on_shutdown.append(_close_sessions)
    app.cleanup_ctx.append(memory.trim_every(settings.trim_interval_s))
    return app


async def _close_sessions(app: web.Application) -> None:
    await app[HOST].close_all()
