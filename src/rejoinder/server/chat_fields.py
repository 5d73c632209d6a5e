"""Chat `stop` and `response_format`, honoured rather than refused.

`stop` is cut here, over any backend's stream: the text before the first stop sequence is sent,
and the stream is closed there (llama.cpp stops at its next token). `response_format` goes to a
backend that constrains its sampling to it (llama.cpp: a grammar); others refuse it by name.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from rejoinder.server.limits import RequestError
from rejoinder.stages.llm import supports_json_output
from rejoinder.streams import close_stream

MAX_STOPS = 4
"""OpenAI's limit on stop sequences."""
MAX_STOP_CHARS = 256


def stop_sequences(body: dict[str, Any]) -> tuple[str, ...]:
    """`stop`: a string or up to four strings; null or empty means none."""
    value = body.get("stop")
    if value is None or value == "" or value == []:
        return ()
    stops = [value] if isinstance(value, str) else value
    if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
        raise RequestError("'stop' must be a string or an array of strings", param="stop")
    if len(stops) > MAX_STOPS or any(len(s) > MAX_STOP_CHARS for s in stops):
        raise RequestError(
            f"'stop' takes at most {MAX_STOPS} sequences of up to {MAX_STOP_CHARS} characters", param="stop"
        )
    if any(not s for s in stops):
        raise RequestError("'stop' sequences must not be empty", param="stop")
    return tuple(dict.fromkeys(stops))


def response_format(body: dict[str, Any], llm: object) -> dict[str, Any] | None:
    """OpenAI's `response_format`: None for text; `json_object` or `json_schema` for a backend
    that can keep to it."""
    value = body.get("response_format")
    if value is None or value == {} or (isinstance(value, dict) and value.get("type") == "text"):
        return None
    if not isinstance(value, dict) or value.get("type") not in ("json_object", "json_schema"):
        raise RequestError(
            "'response_format' must be an object whose type is text, json_object or json_schema",
            param="response_format",
        )
    if value["type"] == "json_schema":
        schema = value.get("json_schema")
        if not isinstance(schema, dict) or not isinstance(schema.get("schema", {}), dict):
            raise RequestError(
                '\'response_format\': json_schema needs an object {"name": ..., "schema": {...}}',
                param="response_format",
            )
    if not supports_json_output(llm):
        raise RequestError(
            "'response_format': this server's LLM backend cannot constrain its output to JSON; leave it out",
            param="response_format",
        )
    return value


async def cut_at_stop(pieces: AsyncIterator[str], stops: tuple[str, ...]) -> AsyncIterator[str]:
    """The text before the first stop sequence. What could still be the start of one is held
    back until the next piece shows it is not."""
    if not stops:
        async for piece in pieces:
            yield piece
        return
    hold = max(len(s) for s in stops) - 1
    pending = ""
    try:
        async for piece in pieces:
            pending += piece
            found = [i for i in (pending.find(s) for s in stops) if i >= 0]
            if found:
                if min(found):
                    yield pending[: min(found)]
                return
            safe = len(pending) - hold
            if safe > 0:
                yield pending[:safe]
                pending = pending[safe:]
        if pending:
            yield pending
    finally:
        await close_stream(pieces)  # the model stops writing what nobody reads
