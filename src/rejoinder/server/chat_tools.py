"""`tools` and `tool_choice` on /v1/chat/completions, answered as OpenAI clients expect: the
assistant message's `tool_calls` (finish_reason "tool_calls"), streamed as `delta.tool_calls`."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web

from rejoinder.errors import BadInputError
from rejoinder.server.chat_content import content_text
from rejoinder.server.chat_options import ChatOptions, finish_reason
from rejoinder.server.sse import stream_events
from rejoinder.stages.llm import (
    GenerationParams,
    Message,
    OpenAITool,
    TokenUsage,
    ToolCall,
    ToolChoice,
    supports_tools,
)
from rejoinder.streams import close_stream
from rejoinder.tools.client import FieldError, parse_tool_choice, parse_tools

Chunk = Callable[[dict[str, Any], "str | None"], bytes]


def chat_tools(body: dict[str, Any], llm: object) -> tuple[list[OpenAITool], ToolChoice]:
    """The request's tools (validated) and choice; no tools, or "none" -> ([], "none")."""
    raw = body.get("tools")
    if raw is None or raw == []:
        if body.get("tool_choice") not in (None, "none", "auto"):
            raise FieldError("tool_choice", f"{body.get('tool_choice')!r:.60} needs 'tools'")
        return [], "none"
    tools = parse_tools(raw, "tools")
    choice = parse_tool_choice(body.get("tool_choice"), [t.name for t in tools])
    if choice == "none":
        return [], "none"
    if not supports_tools(llm):
        raise FieldError("tools", f"the {getattr(llm, 'name', 'configured')} LLM backend cannot call tools")
    return [t.openai() for t in tools], choice


def tool_message(m: dict[str, Any], where: str = "messages") -> Message:
    """A `tool` result message, or an assistant message that made tool calls."""
    content = content_text(m.get("content"), where)
    if m.get("role") == "tool":
        if not isinstance(m.get("tool_call_id"), str):
            raise BadInputError("a tool message needs its tool_call_id")
        return {"role": "tool", "tool_call_id": m["tool_call_id"], "content": content}
    calls = m.get("tool_calls")
    if m.get("role") != "assistant" or not isinstance(calls, list):
        raise BadInputError("tool_calls belong to assistant messages")
    items = []
    for i, c in enumerate(calls):
        fn = c.get("function") if isinstance(c, dict) else None
        if (
            not isinstance(fn, dict)
            or not isinstance(c.get("id"), str)
            or not isinstance(fn.get("name"), str)
        ):
            raise BadInputError(f"tool_calls[{i}] needs an id and a function name")
        args = fn.get("arguments", "{}")
        items.append(
            ToolCall(c["id"], fn["name"], args if isinstance(args, str) else json.dumps(args)).as_item()
        )
    return {"role": "assistant", "content": content, "tool_calls": items}


async def complete_with_tools(
    request: web.Request,
    llm: Any,
    messages: list[Message],
    params: GenerationParams,
    tools: list[OpenAITool],
    choice: ToolChoice,
    options: ChatOptions,
    chunk: Chunk,
    envelope: dict[str, Any],
    trailer: Callable[[], bytes],
) -> web.StreamResponse:
    """One completion that may call tools; `chunk(delta, finish)` frames a streamed event,
    `envelope` holds id/object/created/model for the whole response and `trailer()` is sent
    after the finish chunk (the usage, when asked for)."""
    items = _at_most(llm.stream_chat(messages, params, tools, choice), options.max_tool_calls)
    if not options.stream:
        text: list[str] = []
        calls: list[ToolCall] = []
        async for item in items:
            if isinstance(item, ToolCall):
                calls.append(item)
            else:
                text.append(item)
        message: dict[str, Any] = {"role": "assistant", "content": "".join(text) or (None if calls else "")}
        if calls:
            message["tool_calls"] = [dict(c.as_item()) for c in calls]
        return web.json_response(
            {
                **envelope,
                "object": "chat.completion",
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "finish_reason": finish_reason(params.usage, params.max_tokens, bool(calls)),
                    }
                ],
                "usage": chat_usage(params.usage),
            }
        )
    count = 0

    async def write(response: web.StreamResponse, item: str | ToolCall) -> None:
        nonlocal count
        if isinstance(item, ToolCall):
            call = {"index": count, **item.as_item()}
            await response.write(chunk({"tool_calls": [call]}, None))
            count += 1
        else:
            await response.write(chunk({"content": item}, None))

    return await stream_events(
        request,
        items,
        write,
        chunk({"role": "assistant", "content": ""}, None),
        lambda: chunk({}, finish_reason(params.usage, params.max_tokens, count > 0)) + trailer(),
    )


async def _at_most(items: AsyncIterator[str | ToolCall], calls: int | None) -> AsyncIterator[str | ToolCall]:
    """`items` ending after `calls` tool calls (parallel_tool_calls false: one; None: all); the
    model's stream is closed there, so its generation stops."""
    made = 0
    try:
        async for item in items:
            if isinstance(item, ToolCall):
                if calls is not None and made >= calls:
                    return
                made += 1
            yield item
    finally:
        await close_stream(items)


def chat_usage(usage: TokenUsage | None) -> dict[str, Any] | None:
    """The model's own token count for a chat completion (None where the backend does not
    count: zeros here used to read as a measurement)."""
    if usage is None or not usage.calls:
        return None
    total = usage.input_tokens + usage.output_tokens
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": total,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
    }
