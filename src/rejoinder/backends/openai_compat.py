"""Stages served by any OpenAI-compatible server: vLLM, llama.cpp server, Ollama, faster-whisper
servers, a hosted API, or another `rejoinder serve`. Async all the way: no worker thread needed."""

from __future__ import annotations

import io
import os
import wave
from collections.abc import AsyncIterator, Sequence
from typing import Any

import numpy as np

from rejoinder.audio import PCM_RATE, from_pcm16, to_pcm16
from rejoinder.config import LLMConfig, STTConfig, TTSConfig
from rejoinder.errors import BadInputError
from rejoinder.stages.llm import GenerationParams, Message, OpenAITool, ToolCall, ToolChoice, wire_messages
from rejoinder.stages.stt import Transcript


def _client(base_url: str | None, api_key: str | None) -> Any:
    from openai import AsyncOpenAI

    if not base_url and not os.environ.get("OPENAI_BASE_URL"):
        raise BadInputError("the 'openai' backend needs a server: give --base-url (or set OPENAI_BASE_URL)")
    return AsyncOpenAI(
        base_url=base_url,
        api_key=api_key or os.environ.get("OPENAI_API_KEY") or "none",
        max_retries=1,
        timeout=60,
    )


def wav_bytes(audio: np.ndarray, rate: int = 16_000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(to_pcm16(audio))
    return buffer.getvalue()


class OpenAILLM:
    name = "openai"
    supports_tools = True

    def __init__(self, config: LLMConfig) -> None:
        self.config = config
        self.client = _client(config.base_url, config.api_key)

    async def stream(self, messages: Sequence[Message], params: GenerationParams) -> AsyncIterator[str]:
        seed = params.seed if params.seed is not None else self.config.seed
        extra: dict[str, Any] = {} if seed is None else {"seed": seed}
        response = await self.client.chat.completions.create(
            model=self.config.model,
            messages=wire_messages(messages),
            stream=True,
            temperature=params.temperature,
            top_p=params.top_p,
            max_tokens=params.max_tokens,
            **extra,
        )
        try:
            async for chunk in response:
                for choice in chunk.choices:
                    if choice.delta and choice.delta.content:
                        yield choice.delta.content
        finally:
            await response.close()  # leaving early closes the HTTP stream: the server stops generating

    async def stream_chat(
        self,
        messages: Sequence[Message],
        params: GenerationParams,
        tools: Sequence[OpenAITool],
        tool_choice: ToolChoice = "auto",
    ) -> AsyncIterator[str | ToolCall]:
        from rejoinder.backends.tool_stream import ToolCallAssembler, tools_request

        seed = params.seed if params.seed is not None else self.config.seed
        extra: dict[str, Any] = {
            **tools_request(tools, tool_choice),
            **({} if seed is None else {"seed": seed}),
        }
        if "tool_choice" in extra and extra["tool_choice"] == "required" and len(extra["tools"]) == 1:
            extra["tool_choice"] = {
                "type": "function",
                "function": {"name": extra["tools"][0]["function"]["name"]},
            }
        assembler = ToolCallAssembler()
        response = await self.client.chat.completions.create(
            model=self.config.model,
            messages=wire_messages(messages),
            stream=True,
            temperature=params.temperature,
            top_p=params.top_p,
            max_tokens=params.max_tokens,
            **extra,
        )
        try:
            async for chunk in response:
                for choice in chunk.choices:
                    if choice.delta:
                        for item in assembler.feed_delta(choice.delta.model_dump(exclude_none=True)):
                            yield item
            for item in assembler.finish():
                yield item
        finally:
            await response.close()


class OpenAISTT:
    name = "openai"

    def __init__(self, config: STTConfig) -> None:
        self.config = config
        self.client = _client(config.base_url, config.api_key)

    async def transcribe(self, audio: np.ndarray) -> Transcript:
        if audio.size == 0:
            return Transcript("", self.config.language, 0.0)
        extra: dict[str, Any] = {"language": self.config.language} if self.config.language else {}
        result = await self.client.audio.transcriptions.create(
            model=self.config.model, file=("speech.wav", wav_bytes(audio), "audio/wav"), **extra
        )
        return Transcript(result.text.strip(), self.config.language, audio.size / 16_000)


class OpenAITTS:
    name = "openai"
    sample_rate = PCM_RATE

    def __init__(self, config: TTSConfig) -> None:
        self.config = config
        self.client = _client(config.base_url, config.api_key)

    async def stream(self, text: str) -> AsyncIterator[np.ndarray]:
        """Raw PCM (24 kHz, 16-bit, mono, as the OpenAI API sends it), chunk by chunk as it arrives."""
        async with self.client.audio.speech.with_streaming_response.create(
            model=self.config.model,
            voice=self.config.voice,
            input=text,
            response_format="pcm",
            speed=self.config.speed,
        ) as response:
            carry = b""
            async for data in response.iter_bytes(4800):
                data, carry = carry + data, b""
                if len(data) % 2:
                    data, carry = data[:-1], data[-1:]
                if data:
                    yield from_pcm16(data)
