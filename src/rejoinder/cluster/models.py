"""Model deployments: one loaded model per replica, shared by every session that calls it.

Plain classes: `cluster.app` turns them into Ray Serve deployments with the settings' replicas,
CPUs and autoscaling. Streams are async generators, so Serve streams them item by item and a
caller that stops early cancels the generator here, which stops the model's thread.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence

import numpy as np

from rejoinder import logs, registry
from rejoinder.config import Config, LLMConfig
from rejoinder.engine import Engine
from rejoinder.stages.capabilities import can_prefill
from rejoinder.stages.llm import GenerationParams, Message
from rejoinder.stages.stt import Transcript


class STTModel:
    def __init__(self, config: Config, log_level: str = "warning") -> None:
        logs.setup(log_level)
        self.engine = Engine.load(config, ("stt",))

    async def transcribe(self, audio: np.ndarray) -> Transcript:
        return await self.engine.stt.transcribe(audio)


class LLMModel:
    """One LLM tier's model (tiers on the same model file share one deployment)."""

    def __init__(self, config: LLMConfig, log_level: str = "warning") -> None:
        logs.setup(log_level)
        self.llm = registry.create("llm", config.backend, config)
        if can_prefill(self.llm):
            self.llm.prefill([{"role": "system", "content": config.system_prompt}])

    async def stream(self, messages: Sequence[Message], params: GenerationParams) -> AsyncIterator[str]:
        async with contextlib.aclosing(self.llm.stream(messages, params)) as pieces:
            async for piece in pieces:
                yield piece

    async def prefill(self, messages: Sequence[Message], conversation: str | None = None) -> None:
        if can_prefill(self.llm):
            await self.llm.prefill_async(messages, conversation)


class TTSModel:
    def __init__(self, config: Config, log_level: str = "warning") -> None:
        logs.setup(log_level)
        self.engine = Engine.load(config, ("tts",))

    def sample_rate(self) -> int:
        return self.engine.tts.sample_rate

    async def stream(self, text: str) -> AsyncIterator[np.ndarray]:
        async with contextlib.aclosing(self.engine.tts.stream(text)) as chunks:  # type: ignore[type-var]
            async for chunk in chunks:
                yield chunk
