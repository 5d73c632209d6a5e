"""Scripted and recording stages for session tests (the real VAD, STT and TTS stay in place)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import numpy as np

from rejoinder.stages.llm import GenerationParams, Message, ToolCall


class ScriptedLLM:
    name = "scripted"

    def __init__(self, reply: str, delay_s: float = 0.03, fail: bool = False) -> None:
        self.reply, self.delay_s, self.fail = reply, delay_s, fail
        self.calls: list[list[Message]] = []
        self.finished = 0

    async def stream(self, messages: Sequence[Message], params: GenerationParams) -> AsyncIterator[str]:
        self.calls.append(list(messages))
        if self.fail:
            raise RuntimeError("model crashed")
        for word in self.reply.split(" ")[: params.max_tokens]:  # one word = one token
            await asyncio.sleep(self.delay_s)
            yield word + " "
        self.finished += 1


class RecordingLLM:
    """Wraps the real LLM and records the prompts it was given."""

    name = "recording"

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.calls: list[list[Message]] = []

    def stream(self, messages: Sequence[Message], params: GenerationParams) -> AsyncIterator[str]:
        self.calls.append(list(messages))
        return self.inner.stream(messages, params)  # type: ignore[attr-defined,no-any-return]


class RecordingTTS:
    """Wraps the real TTS and records the texts it was asked to say."""

    name = "recording"

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.sample_rate: int = inner.sample_rate  # type: ignore[attr-defined]
        self.calls: list[str] = []

    def stream(self, text: str) -> AsyncIterator[np.ndarray]:
        self.calls.append(text)
        return self.inner.stream(text)  # type: ignore[attr-defined,no-any-return]


class ScriptedToolLLM:
    """A tool-capable LLM that plays one scripted response per call: text pieces and ToolCalls."""

    name = "scripted-tools"
    supports_tools = True

    def __init__(self, responses: list[list[str | ToolCall]], delay_s: float = 0.01) -> None:
        self.responses, self.delay_s = list(responses), delay_s
        self.calls: list[tuple[list[Message], list[str], str]] = []
        """(messages, offered tool names, tool_choice) per request."""

    async def stream(self, messages: Sequence[Message], params: GenerationParams) -> AsyncIterator[str]:
        async for item in self.stream_chat(messages, params, [], "none"):
            if isinstance(item, str):
                yield item

    async def stream_chat(
        self,
        messages: Sequence[Message],
        params: GenerationParams,
        tools: Sequence[dict[str, Any]],
        tool_choice: str = "auto",
    ) -> AsyncIterator[str | ToolCall]:
        self.calls.append(([dict(m) for m in messages], [t["function"]["name"] for t in tools], tool_choice))  # type: ignore[misc]
        response = self.responses.pop(0) if self.responses else ["(no more scripted responses)"]
        for item in response:
            await asyncio.sleep(self.delay_s)
            yield item
