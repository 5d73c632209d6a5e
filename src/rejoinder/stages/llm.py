"""Chat LLM with a token stream."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol, TypedDict


class Message(TypedDict):
    role: str
    content: str


@dataclass(frozen=True)
class GenerationParams:
    temperature: float = 0.1
    top_p: float = 0.9
    max_tokens: int = 64
    seed: int | None = None
    """Sampling seed; None leaves it to the backend's configuration."""


class LLM(Protocol):
    name: str

    def stream(self, messages: Sequence[Message], params: GenerationParams) -> AsyncIterator[str]:
        """Text pieces as the model writes them. Closing the iterator early stops generation."""
        ...
