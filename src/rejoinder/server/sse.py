"""Streamed chat completions and speech (server-sent events) that fail cleanly.

Found by probing: a prompt over the model's context is refused by the model before its first
token, but the 200 and the first event had already gone out, so the 400 was written into the
open stream and the client waited forever for `[DONE]`. The first item is now taken before the
headers are sent (a refusal is a plain 4xx), and a failure after that ends the stream with an
error event and `[DONE]`.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web

from rejoinder.errors import BadInputError

T = TypeVar("T")
log = logging.getLogger(__name__)


async def started(items: AsyncIterator[T]) -> AsyncIterator[T]:
    """`items` with its first item already taken: what the model refuses outright raises here,
    before anything is sent."""
    iterator = aiter(items)
    try:
        first = await anext(iterator)
    except StopAsyncIteration:
        return _empty()

    async def rest() -> AsyncIterator[T]:
        yield first
        async for item in iterator:
            yield item

    return rest()


async def _empty() -> AsyncIterator[Any]:
    return
    yield


async def stream_events(
    request: web.Request,
    items: AsyncIterator[T],
    write: Callable[[web.StreamResponse, T], Awaitable[None]],
    opening: bytes,
    closing: Callable[[], bytes],
) -> web.StreamResponse:
    """Sends `opening`, each item through `write`, then `closing()` and `[DONE]`; an error after
    the first item ends the stream with an OpenAI-style error event instead of `closing()`."""
    items = await started(items)
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)
    await response.write(opening)
    try:
        async for item in items:  # a client hanging up cancels this loop
            await write(response, item)
        await response.write(closing())
    except (BadInputError, RuntimeError) as exc:
        log.info("streamed completion failed", extra={"error": str(exc)})
        await response.write(f"data: {json.dumps({'error': _error(exc)})}\n\n".encode())
    await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response


async def stream_speech_events(request: web.Request, blocks: AsyncIterator[bytes]) -> web.StreamResponse:
    """/v1/audio/speech with `stream_format: "sse"`: `speech.audio.delta` events carrying the
    encoded audio in base64, then `speech.audio.done`. OpenAI's done event also reports token
    usage; this TTS has no tokens, so none is reported rather than a made-up count."""
    blocks = await started(blocks)
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)
    done: dict[str, Any] = {"type": "speech.audio.done"}
    try:
        async for block in blocks:
            if block:
                delta = {"type": "speech.audio.delta", "audio": base64.b64encode(block).decode()}
                await response.write(f"data: {json.dumps(delta)}\n\n".encode())
    except (BadInputError, RuntimeError) as exc:
        log.info("streamed speech failed", extra={"error": str(exc)})
        done = {"type": "error", "error": _error(exc)}
    await response.write(f"data: {json.dumps(done)}\n\n".encode())
    await response.write_eof()
    return response


def _error(exc: Exception) -> dict[str, Any]:
    """An OpenAI-style error object for a failure after the stream began: the caller's fault
    (BadInputError) or the server's."""
    kind = "invalid_request_error" if isinstance(exc, BadInputError) else "server_error"
    return {"message": str(exc), "type": kind, "code": kind, "param": None}
