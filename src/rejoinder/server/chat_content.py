"""Message content of /v1/chat/completions: text, or text parts, and nothing the model cannot read.

Found by probing with the openai SDK: an `image_url`, `input_audio` or `file` part was dropped and
the model answered the words around it ("What is this?" got a guess about a plant, with a 200),
and a `tool` message whose `tool_call_id` no earlier assistant message had made reached the model
as if it answered something. Both are now a 400 naming the message.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rejoinder.server.limits import RequestError
from rejoinder.stages.llm import Message


def content_text(content: Any, where: str) -> str:
    """The text of a message's `content` (a string, null, or a list of text parts); any other
    part is refused, naming it, since the text model cannot see images, audio or files."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise RequestError(f"{where}.content must be a string or an array of text parts", param="messages")
    texts = []
    for i, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind != "text":
            shown = kind if isinstance(kind, str) else type(part).__name__
            raise RequestError(
                f"{where}.content[{i}]: a {shown[:40]!r} part cannot be read by this server's text model; "
                "send text parts only",
                param="messages",
            )
        text = part.get("text")
        if not isinstance(text, str):
            raise RequestError(f"{where}.content[{i}].text must be a string", param="messages")
        texts.append(text)
    return " ".join(texts)


def check_tool_results(messages: Sequence[Message]) -> None:
    """Every `tool` message answers a call an earlier assistant message made, as OpenAI requires."""
    called: set[str] = set()
    for i, message in enumerate(messages):
        for call in message.get("tool_calls") or []:
            called.add(str(call["id"]))
        if message["role"] == "tool" and message.get("tool_call_id") not in called:
            raise RequestError(
                f"messages[{i}]: a 'tool' message must answer a tool call of an earlier assistant "
                f"message; no call has the id {str(message.get('tool_call_id'))[:64]!r}",
                param="messages",
            )
