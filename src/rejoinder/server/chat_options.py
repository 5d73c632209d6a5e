"""Chat request options about the shape of the answer: `stream`, `stream_options`, the output
`modalities`/`audio` and `parallel_tool_calls`, honoured or refused with a 400 naming the field
(fields the server does not do at all: request_fields.check_unhonoured_chat_fields).

Found by probing with the openai SDK: `stream_options={"include_usage": True}` never sent the
usage chunk, `modalities=["text", "audio"]` with `audio={...}` got text only, `parallel_tool_calls
=False` could still get several calls, and `"stream": "false"` (a string) streamed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from rejoinder.server.limits import RequestError
from rejoinder.stages.llm import TokenUsage


@dataclass(frozen=True)
class ChatOptions:
    stream: bool
    include_usage: bool
    """Streamed: end with a chunk that has no choices and the usage (OpenAI's include_usage)."""
    max_tool_calls: int | None
    """1 when parallel_tool_calls is false; None for no limit."""


def _flag(body: dict[str, Any], name: str, default: bool) -> bool:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise RequestError(f"'{name}' must be true or false", param=name)
    return value


def chat_options(body: dict[str, Any]) -> ChatOptions:
    """The answer-shape options of a chat request, checked before any model work."""
    stream = _flag(body, "stream", False)
    options = body.get("stream_options")
    include_usage = False
    if options is not None:
        if not stream:
            raise RequestError(
                "'stream_options' is only allowed when 'stream' is true", param="stream_options"
            )
        if not isinstance(options, dict):
            raise RequestError("'stream_options' must be an object", param="stream_options")
        include_usage = _flag(options, "include_usage", False)
        unknown = sorted(set(options) - {"include_usage", "include_obfuscation"})  # padding: harmless
        if unknown:
            raise RequestError(
                f"'stream_options': {', '.join(repr(k)[:40] for k in unknown)} is not supported; "
                "only include_usage is",
                param="stream_options",
            )
    modalities = body.get("modalities")
    if modalities is not None and modalities != ["text"]:
        raise RequestError(
            "'modalities': this endpoint writes text only; speak it with /v1/audio/speech, "
            "or talk over /v1/realtime",
            param="modalities",
        )
    if body.get("audio") is not None:
        raise RequestError(
            "'audio': this endpoint writes text only; speak it with /v1/audio/speech", param="audio"
        )
    parallel = _flag(body, "parallel_tool_calls", True)
    return ChatOptions(stream=stream, include_usage=include_usage, max_tool_calls=None if parallel else 1)


def usage_event(envelope: dict[str, Any], usage: dict[str, Any] | None) -> bytes:
    """The last streamed chunk that include_usage asks for: no choices, the usage (null where the
    backend does not count tokens)."""
    data = {**envelope, "object": "chat.completion.chunk", "choices": [], "usage": usage}
    return f"data: {json.dumps(data)}\n\n".encode()


def finish_reason(usage: TokenUsage | None, max_tokens: int, called_tools: bool = False) -> str:
    """ "tool_calls", "length" when the model wrote all the tokens it was allowed (it says so, or
    its own count does), else "stop". Found by probing: a reply cut at max_tokens=5 ("There's a long
    story") and a forced tool call cut mid-JSON both said "stop", so a client could not tell a
    cut answer from a whole one. A backend that does not count tokens gets "stop"."""
    if called_tools:
        return "tool_calls"
    if usage is not None and (usage.hit_limit or (usage.calls and usage.output_tokens >= max_tokens)):
        return "length"
    return "stop"
