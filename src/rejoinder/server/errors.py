"""OpenAI-style error bodies for HTTP answers."""

from __future__ import annotations

from aiohttp import web


def error_response(
    message: str, status: int = 400, code: str = "invalid_request_error", param: str | None = None
) -> web.Response:
    body = {"error": {"message": message, "type": "invalid_request_error", "code": code, "param": param}}
    return web.json_response(body, status=status)
