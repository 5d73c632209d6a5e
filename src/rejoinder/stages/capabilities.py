"""Optional things a backend can do beyond its stage protocol, declared by the backend in
`capabilities` rather than guessed from its attributes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Protocol, TypeGuard

import numpy as np

from rejoinder.stages.llm import Message
from rejoinder.stages.stt import Transcript

Capability = Literal["prefill", "warmup", "transcribe_blocking", "slots"]


class Prefilling(Protocol):
    """An LLM that can compute its prompt cache ahead of a turn."""

    def prefill(self, messages: Sequence[Message], conversation: str | None = None) -> None: ...

    async def prefill_async(self, messages: Sequence[Message], conversation: str | None = None) -> None: ...


class Slotted(Protocol):
    """An LLM with several prompt caches (llama.cpp slots), each worth filling before first use."""

    async def warm_slots(self, messages: Sequence[Message]) -> int: ...

    def forget(self, conversation: str) -> None:
        """The conversation ended: its cache may go first."""


class WarmingUp(Protocol):
    def warmup(self) -> None: ...


class BlockingSTT(Protocol):
    def transcribe_blocking(self, audio: np.ndarray) -> Transcript: ...


def has(backend: Any, capability: Capability) -> bool:
    return capability in getattr(type(backend), "capabilities", frozenset())


def can_prefill(backend: Any) -> TypeGuard[Prefilling]:
    return has(backend, "prefill")


def can_warm_up(backend: Any) -> TypeGuard[WarmingUp]:
    return has(backend, "warmup")


def has_slots(backend: Any) -> TypeGuard[Slotted]:
    return has(backend, "slots")


def can_transcribe_blocking(backend: Any) -> TypeGuard[BlockingSTT]:
    return has(backend, "transcribe_blocking")
