"""OpenAI-style JSON bodies for the errors aiohttp raises itself (no route, wrong method).

Found by probing with the openai SDK: an unknown path, `GET /v1/chat/completions` and
`/v1/audio/translations` answered aiohttp's text/plain "404: Not Found" / "405: Method Not
Allowed", so clients that read `error.message` got nothing to show. The OpenAI endpoints this
server does not serve are named, with what to use instead.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from rejoinder.server.errors import error_response

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

NOT_SERVED = {
    "/v1/audio/translations": "translation is not supported: the STT transcribes in the language "
    "spoken; use /v1/audio/transcriptions",
    "/v1/embeddings": "embeddings are not supported by this server",
    "/v1/completions": "legacy completions are not supported; use /v1/chat/completions",
    "/v1/responses": "the Responses API is not supported; use /v1/chat/completions or /v1/realtime",
    "/v1/images/generations": "image generation is not supported by this server",
    "/v1/moderations": "moderation is not supported by this server",
}
"""OpenAI endpoints a client may try here, and why they get a 404."""


def _message(request: web.Request, exc: web.HTTPException) -> str:
    if exc.status == 404:
        reason = NOT_SERVED.get(request.path.rstrip("/"))
        return f"{request.path}: {reason}" if reason else f"no such endpoint: {request.method} {request.path}"
    if exc.status == 405 and isinstance(exc, web.HTTPMethodNotAllowed):
        allowed = ", ".join(sorted(exc.allowed_methods))
        return f"{request.method} is not allowed on {request.path}; use {allowed}"
    return f"{request.path}: {exc.reason}"


@web.middleware
async def json_errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """aiohttp's own 4xx (router misses, wrong methods) as OpenAI-style JSON error bodies."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or request.headers.get("Upgrade", "").lower() == "websocket":
            raise
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status, "invalid_request_error")
        response = error_response(_message(request, exc), exc.status, code)
        if isinstance(exc, web.HTTPMethodNotAllowed):
            response.headers["Allow"] = ", ".join(sorted(exc.allowed_methods))
        return response
