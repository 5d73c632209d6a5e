"""Bounds for the HTTP model endpoints, checked before any work, and the helpers that keep them.

One request must not be able to fill the server's memory or hold a model for minutes: bodies
are read with a cap (not spooled first), text is split into pieces a synthesiser handles in
bounded memory, and work stops when the client that asked for it goes away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import MultiDict

from rejoinder import json_input
from rejoinder.errors import BadInputError

log = logging.getLogger(__name__)

T = TypeVar("T")

MiB = 1 << 20


@dataclass
class ApiLimits:
    json_body_bytes: int = 1 * MiB
    """A chat or speech request body; larger ones are refused unread (413)."""
    speech_chars: int = 4096
    """Characters of /v1/audio/speech input (OpenAI's own limit)."""
    speech_piece_chars: int = 200
    """Longest piece synthesised at once (~0.6 s of Piper on 2 cores): a sentence, or a cut of one."""
    chat_prompt_chars: int = 32_000
    """All message contents of one chat request together."""
    chat_messages: int = 256
    chat_max_tokens: int = 4096
    """Upper bound on max_tokens (the model's context bounds it too)."""
    upload_bytes: int = 25 * MiB
    """A /v1/audio/transcriptions upload (OpenAI's own limit)."""
    upload_s: float = 1800.0
    """Audio duration of one transcription request."""
    form_field_bytes: int = 64 << 10
    poll_s: float = 0.2
    """How often a running request checks that its client is still there."""


API_LIMITS = web.AppKey("api_limits", ApiLimits)


class RequestError(BadInputError):
    """A request the endpoint refuses, with its HTTP status and the parameter at fault."""

    def __init__(self, message: str, status: int = 400, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.param = param


def too_large(what: str, limit: int) -> RequestError:
    return RequestError(f"{what} is larger than the limit of {limit:,} bytes", 413)


async def read_capped(request: web.Request, max_bytes: int) -> bytes:
    """The body, refused (413) as soon as it passes `max_bytes`, whatever Content-Length says."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise too_large("the request body", max_bytes)
    data = bytearray()
    async for block in request.content.iter_chunked(64 << 10):
        data += block
        if len(data) > max_bytes:
            raise too_large("the request body", max_bytes)
    return bytes(data)


async def read_json(request: web.Request, max_bytes: int) -> dict[str, Any]:
    raw = await read_capped(request, max_bytes)
    try:
        body = json_input.loads(raw)
    except json_input.BadJSON as exc:
        raise RequestError(f"the body: {exc}") from None
    if not isinstance(body, dict):
        raise RequestError("the body must be a JSON object")
    return body


def client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


class ClientGone(Exception):
    """The client that asked for this work hung up; the work was stopped."""


async def unless_client_leaves(request: web.Request, work: Awaitable[T], poll_s: float) -> T:
    """Await `work`, cancelling it (and the model jobs under it) if the client disconnects."""
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=poll_s)
            if done:
                return task.result()
            if client_gone(request):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
                log.info("client went away; its request was stopped", extra={"path": request.path})
                raise ClientGone
    finally:
        if not task.done():
            task.cancel()


async def capped_multipart(
    request: web.Request, limits: ApiLimits, file_sink: Any
) -> tuple[bool, MultiDict[str]]:
    """Read a multipart form: the 'file' part into `file_sink.write`, other fields as text.

    The body as a whole is capped at the upload limit while it is read; a field at
    form_field_bytes. Returns (whether a file part came, the other fields: a repeated one, such
    as `timestamp_granularities[]`, keeps every value). A second 'file' is refused: found by
    probing, two files were written one after the other into the same upload.
    """
    if request.content_length is not None and request.content_length > limits.upload_bytes + (64 << 10):
        raise too_large("the upload", limits.upload_bytes)
    fields: MultiDict[str] = MultiDict()
    got_file = False
    total = 0
    try:
        reader = await request.multipart()
    except ValueError as exc:  # aiohttp: no boundary, or not multipart at all
        raise RequestError(f"the body is not a multipart/form-data upload ({exc})") from None
    async for part in _parts(reader):
        name = part.name or ""
        if name == "file":
            if got_file:
                raise RequestError("send one 'file' per request; this one has two", param="file")
            got_file = True
            while block := await part.read_chunk():
                total += len(block)
                if total > limits.upload_bytes:
                    raise too_large("the upload", limits.upload_bytes)
                file_sink.write(block)
        else:
            value = bytearray()
            while block := await part.read_chunk():
                value += block
                total += len(block)
                if len(value) > limits.form_field_bytes:
                    raise RequestError(f"form field '{name}' is too long", 413, param=name)
                if total > limits.upload_bytes:
                    raise too_large("the upload", limits.upload_bytes)
            fields.add(name, value.decode("utf-8", "replace"))
    return got_file, fields


async def _parts(reader: Any) -> AsyncIterator[Any]:
    while True:
        try:
            part = await reader.next()
        except ValueError as exc:  # aiohttp: the boundary is missing from the body, a bad header
            raise RequestError(f"the multipart/form-data body is malformed ({exc})") from None
        except HttpProcessingError:  # a part's header past aiohttp's line limit (a huge filename)
            raise RequestError(
                "a form part's header is too long (a file name of thousands of characters?)", param="file"
            ) from None
        if part is None:
            return
        if not hasattr(part, "read_chunk"):
            raise RequestError("nested multipart bodies are not accepted")
        yield part
