"""Stage objects whose work runs in Ray Serve model deployments, reached through handles.

A session host builds its Engine from these: the Session, Responder and Realtime protocol code
cannot tell them from local models. Leaving a stream early cancels the call in the model
replica, which stops generation or synthesis there as it would locally.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, ClassVar

import numpy as np

from rejoinder.stages.capabilities import Capability
from rejoinder.stages.llm import GenerationParams, Message
from rejoinder.stages.stt import Transcript


async def _stream(response: Any) -> AsyncIterator[Any]:
    """Items of a DeploymentResponseGenerator; cancels the remote call if we stop early."""
    finished = False
    try:
        async for item in response:
            yield item
        finished = True
    finally:
        if not finished:
            response.cancel()


class RemoteSTT:
    name = "remote"

    def __init__(self, handle: Any) -> None:
        self._handle = handle

    async def transcribe(self, audio: np.ndarray) -> Transcript:
        result: Transcript = await self._handle.transcribe.remote(audio)
        return result


class RemoteLLM:
    capabilities: ClassVar[frozenset[Capability]] = frozenset({"prefill"})
    name = "remote"

    def __init__(self, handle: Any) -> None:
        self._handle = handle
        self._streaming = handle.options(stream=True)

    def stream(self, messages: Sequence[Message], params: GenerationParams) -> AsyncIterator[str]:
        return _stream(self._streaming.stream.remote(list(messages), params))

    def prefill(self, messages: Sequence[Message], conversation: str | None = None) -> None:
        self._handle.prefill.remote(list(messages), conversation)  # fire and forget: a cache warm-up

    async def prefill_async(self, messages: Sequence[Message], conversation: str | None = None) -> None:
        await self._handle.prefill.remote(list(messages), conversation)


class RemoteTTS:
    name = "remote"

    def __init__(self, handle: Any, sample_rate: int) -> None:
        self._streaming = handle.options(stream=True)
        self.sample_rate = sample_rate

    def stream(self, text: str) -> AsyncIterator[np.ndarray]:
        return _stream(self._streaming.stream.remote(text))
