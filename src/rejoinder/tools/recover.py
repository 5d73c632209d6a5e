"""Tool calls written as text. Small models (Qwen2.5-Coder among them) often write the call as bare
or fenced JSON instead of their template's <tool_call> tags, which llama.cpp's parser then passes
through as content. A spoken reply never starts with '{', a code fence or a tag, so a reply that
does is held back until it is either a complete call (emitted at once, no need to wait for the end)
or plainly not one (released as text). Plain replies pass through with no delay."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from rejoinder.stages.llm import ToolCall

OPENERS = ("{", "[", "```", "<")
"""A spoken reply never starts with these; models wrap calls in fences, <tool_call>, even <tools>."""
MAX_HELD_CHARS = 4000
"""Past this much held text nothing is a tool call: release it rather than hold memory."""


def new_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


def _strip_wrappers(text: str) -> str:
    """Remove fences, tags and list brackets around JSON objects, keeping the objects in place."""
    for token in ("```json", "```"):
        text = text.replace(token, " " * len(token))  # same length: offsets stay valid
    return re.sub(r"</?[A-Za-z_]+>", lambda m: " " * len(m.group()), text)


def _as_call(value: Any) -> ToolCall | None:
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("function"), dict):  # {"type": "function", "function": {...}}
        value = value["function"]
    name = value.get("name")
    args = value.get("arguments", value.get("parameters"))
    if not isinstance(name, str) or not name or args is None:
        return None
    if isinstance(args, str):
        text = args
    elif isinstance(args, dict):
        text = json.dumps(args, ensure_ascii=False)
    else:
        return None
    return ToolCall(new_call_id(), name, text)


class TextToolCalls:
    """Feed text pieces; get back text to pass on and tool calls found in held-back text."""

    def __init__(self) -> None:
        self._held = ""
        self._mode = "undecided"  # undecided | text | calls
        self._scan = 0
        self.found = 0

    def feed(self, piece: str) -> list[str | ToolCall]:
        if self._mode == "text":
            return [piece]
        self._held += piece
        if self._mode == "undecided":
            head = self._held.lstrip()
            if not head:
                return []
            if any(head.startswith(o) for o in OPENERS):
                self._mode = "calls"
            elif any(o.startswith(head) for o in OPENERS):
                return []  # "`" or "<tool" so far: cannot tell yet
            else:
                self._mode = "text"
                text, self._held = self._held, ""
                return [text]
        if len(self._held) > MAX_HELD_CHARS:
            self._mode = "text"
            text, self._held = self._held, ""
            return [text]
        return list(self._extract())

    def _extract(self) -> list[str | ToolCall]:
        """Complete JSON objects after the scan point that are calls; held text stays held. Every '{'
        is tried, so a call inside a stray wrapper ('{{"name": ...}}') is found too; the scan point
        moves past each call found, so no object is reported twice."""
        out: list[str | ToolCall] = []
        text = _strip_wrappers(self._held)
        decoder = json.JSONDecoder()
        start = text.find("{", self._scan)
        while start >= 0:
            try:
                value, end = decoder.raw_decode(text, start)
            except json.JSONDecodeError:
                end = -1  # incomplete so far, or not JSON from here
            call = _as_call(value) if end > 0 else None
            if call is not None:
                out.append(call)
                self.found += 1
                self._scan = end
                start = text.find("{", end)
            else:
                start = text.find("{", start + 1)
        return out

    def finish(self) -> list[str]:
        """At the end of the reply: held text that held no call is text after all."""
        held, self._held = self._held, ""
        if self._mode == "calls" and self.found:
            rest = _strip_wrappers(held)[self._scan :].strip(" \n`[],}")
            return [rest] if rest else []
        return [held] if held.strip() else []
