"""Scripted stand-ins for every stage, with timings, so session, transport and server behaviour
can be tested in seconds without model packages (and programs embedding Rejoinder can do the same).

Speech is simulated with tones: `tone(i, seconds)` is "utterance i" to FakeSTT, which answers
script[i]; FakeVAD hears any tone as speech. FakeLLM writes a reply word by word (and, given
`tool_calls`, calls tools first), FakeTTS speaks each word as a short tone.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import numpy as np

from rejoinder.audio import SAMPLE_RATE
from rejoinder.errors import ContextOverflow
from rejoinder.stages.llm import GenerationParams, Message, OpenAITool, ToolCall, ToolChoice
from rejoinder.stages.stt import Transcript

BASE_HZ, STEP_HZ = 300.0, 100.0
"""Utterance i is a tone at BASE_HZ + i * STEP_HZ."""


def tone(index: int, seconds: float, amplitude: float = 0.3, rate: int = SAMPLE_RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate), dtype=np.float32) / rate
    return (amplitude * np.sin(2 * np.pi * (BASE_HZ + index * STEP_HZ) * t)).astype(np.float32)


def silence(seconds: float, rate: int = SAMPLE_RATE) -> np.ndarray:
    return np.zeros(int(seconds * rate), np.float32)


class FakeVAD:
    """Speech wherever a frame is louder than `level` (RMS)."""

    name = "fake"
    sample_rate = SAMPLE_RATE
    frame_samples = 512

    def __init__(self, config: Any = None, level: float = 0.02) -> None:
        self.level = level

    def stream(self) -> FakeVADStream:
        return FakeVADStream(self.level, self.frame_samples)


class FakeVADStream:
    def __init__(self, level: float, frame: int) -> None:
        self.level, self.frame = level, frame

    def probabilities(self, frames: np.ndarray) -> np.ndarray:
        blocks = frames.reshape(-1, self.frame)
        rms = np.sqrt(np.mean(blocks.astype(np.float64) ** 2, axis=1))
        return (rms > self.level).astype(np.float32)


class FakeSTT:
    """Transcribes utterance i (its dominant tone) as script[i], after `delay_s`."""

    name = "fake"

    def __init__(self, config: Any = None, script: Sequence[str] = ("hello",), delay_s: float = 0.05) -> None:
        self.script, self.delay_s = list(script), delay_s
        self.calls = 0

    async def transcribe(self, audio: np.ndarray) -> Transcript:
        self.calls += 1
        await asyncio.sleep(self.delay_s)
        if audio.size < 256 or float(np.max(np.abs(audio))) < 0.01:
            return Transcript("", "en", audio.size / SAMPLE_RATE)
        spectrum = np.abs(np.fft.rfft(audio))
        hz = float(np.argmax(spectrum)) * SAMPLE_RATE / audio.size
        index = round((hz - BASE_HZ) / STEP_HZ)
        text = self.script[index] if 0 <= index < len(self.script) else ""
        return Transcript(text, "en", audio.size / SAMPLE_RATE)


Reply = str | Callable[[Sequence[Message]], str]
ToolScript = Sequence[ToolCall] | Callable[[Sequence[Message]], Sequence[ToolCall]]
"""The calls a tool-capable FakeLLM makes when a user's message (not a tool result) is last."""


class FakeLLM:
    """Writes `reply` (or reply(messages)) one word per `delay_s`; records every prompt. With
    `tool_calls` it declares tool support: `stream_chat` first makes the scripted calls (those of
    offered tools), then, once the results are in the prompt, writes the reply. Given a JSON
    response format, it writes the reply as {"reply": ...} (whatever the schema asks)."""

    name = "fake"
    supports_json_output = True

    def __init__(
        self,
        config: Any = None,
        reply: Reply = "Hello there.",
        delay_s: float = 0.02,
        tool_calls: ToolScript | None = None,
        context: int | None = None,
    ) -> None:
        self.reply, self.delay_s = reply, delay_s
        self.context = context
        """Refuse prompts longer than this, counting a UTF-8 byte as a token (llama.cpp's check)."""
        self.tool_calls = tool_calls
        self.supports_tools = tool_calls is not None
        self.calls: list[list[Message]] = []
        self.offered: list[list[str]] = []
        """The tool names offered to each stream_chat."""
        self.finished = 0
        self.fail = False

    async def stream_chat(
        self,
        messages: Sequence[Message],
        params: GenerationParams,
        tools: Sequence[OpenAITool],
        tool_choice: ToolChoice = "auto",
    ) -> AsyncIterator[str | ToolCall]:
        names = [t["function"]["name"] for t in tools]
        self.offered.append(names)
        script = self.tool_calls or ()
        if messages and messages[-1]["role"] == "user" and names and tool_choice != "none":
            planned = script(messages) if callable(script) else script
            calls = [c for c in planned if c.name in names]
            if calls:
                self.calls.append(list(messages))
                for call in calls:
                    await asyncio.sleep(self.delay_s)
                    yield call
                return
        async for word in self.stream(messages, params):
            yield word

    async def stream(self, messages: Sequence[Message], params: GenerationParams) -> AsyncIterator[str]:
        self.calls.append(list(messages))
        if self.fail:
            raise RuntimeError("model crashed")
        size = sum(len(m["content"].encode()) for m in messages)
        if self.context is not None and size > self.context:
            raise ContextOverflow(f"the prompt is {size} tokens; the model's context holds {self.context}")
        text = self.reply(messages) if callable(self.reply) else self.reply
        if params.response_format:  # a JSON format: the reply as the one string of an object
            text = json.dumps({"reply": text})
        words = text.split(" ")
        hit_limit = len(words) > params.max_tokens
        words = words[: params.max_tokens]  # one word = one token
        for word in words:
            await asyncio.sleep(self.delay_s)
            yield word + " "
        self.finished += 1
        if params.usage is not None:  # as llama.cpp does: a stream that ran to its end
            read = sum(len(m["content"].split()) for m in messages)
            params.usage.add({"prompt_tokens": read, "completion_tokens": len(words)})
            params.usage.hit_limit = params.usage.hit_limit or hit_limit


class FakeTTS:
    """Each word becomes `word_s` of tone, one chunk per word, the first after `delay_s`."""

    name = "fake"
    sample_rate = 22_050

    def __init__(self, config: Any = None, word_s: float = 0.15, delay_s: float = 0.01) -> None:
        self.word_s, self.delay_s = word_s, delay_s
        self.calls: list[str] = []

    async def stream(self, text: str) -> AsyncIterator[np.ndarray]:
        self.calls.append(text)
        for _ in text.split():
            await asyncio.sleep(self.delay_s)
            yield tone(0, self.word_s, 0.2, self.sample_rate)
