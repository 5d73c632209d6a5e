"""Chat LLM with a token stream, and the optional tool-calling capability."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypedDict, runtime_checkable

from typing_extensions import NotRequired


class ToolCallFunction(TypedDict):
    name: str
    arguments: str
    """JSON text, as OpenAI sends it."""


class ToolCallItem(TypedDict):
    """One entry of an assistant message's `tool_calls` (OpenAI chat format)."""

    id: str
    type: Literal["function"]
    function: ToolCallFunction


class Message(TypedDict):
    role: str
    content: str
    tool_calls: NotRequired[list[ToolCallItem]]
    """Assistant messages that called tools."""
    tool_call_id: NotRequired[str]
    """Tool messages: the call this is the result of."""


@dataclass
class TokenUsage:
    """The tokens a response's model calls read and wrote, as the backend counted them (llama.cpp's
    own usage report; a call stopped before its end reports nothing)."""

    input_tokens: int = 0
    cached_tokens: int = 0
    """Of the input, read from the prompt cache."""
    output_tokens: int = 0
    calls: int = 0
    hit_limit: bool = False
    """A call ended because it had written its max_tokens (OpenAI's finish_reason "length")."""

    def add(self, usage: Mapping[str, Any]) -> None:
        """One call's OpenAI-style usage (prompt_tokens, completion_tokens, prompt_tokens_details)."""
        details = usage.get("prompt_tokens_details") or {}
        self.input_tokens += int(usage.get("prompt_tokens") or 0)
        self.output_tokens += int(usage.get("completion_tokens") or 0)
        self.cached_tokens += int(details.get("cached_tokens") or 0) if isinstance(details, dict) else 0
        self.calls += 1


@dataclass(frozen=True)
class GenerationParams:
    temperature: float = 0.1
    top_p: float = 0.9
    max_tokens: int = 64
    seed: int | None = None
    """Sampling seed; None leaves it to the backend's configuration."""
    conversation: str | None = None
    """Whose request this is: a backend with a prompt cache per conversation (llama.cpp's slots)
    keeps it warm for the next turn; None for a request from no conversation."""
    usage: TokenUsage | None = field(default=None, compare=False)
    """Where a backend that counts tokens adds this call's (None: nobody asks)."""
    response_format: Mapping[str, Any] | None = field(default=None, compare=False)
    """OpenAI's `json_object` or `json_schema` format, for a backend that `supports_json_output`
    (llama.cpp turns it into a grammar the sampler keeps to); None for free text."""


@dataclass(frozen=True)
class ToolCall:
    """A complete function call the model asked for; `arguments` is JSON text, unvalidated."""

    call_id: str
    name: str
    arguments: str

    def as_item(self) -> ToolCallItem:
        return {
            "id": self.call_id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }


ToolChoice = str
""""auto", "none", "required", or the name of the one function the model must call."""

OpenAITool = dict[str, Any]
"""One entry of an OpenAI chat `tools` list:
{"type": "function", "function": {name, description, parameters}}."""


class LLM(Protocol):
    name: str

    def stream(self, messages: Sequence[Message], params: GenerationParams) -> AsyncIterator[str]:
        """Text pieces as the model writes them. Closing the iterator early stops generation."""
        ...


@runtime_checkable
class ToolCallingLLM(Protocol):
    """An LLM that declares `supports_tools = True` and can stream a tool-capable chat."""

    name: str
    supports_tools: bool

    def stream(self, messages: Sequence[Message], params: GenerationParams) -> AsyncIterator[str]: ...

    def stream_chat(
        self,
        messages: Sequence[Message],
        params: GenerationParams,
        tools: Sequence[OpenAITool],
        tool_choice: ToolChoice = "auto",
    ) -> AsyncIterator[str | ToolCall]:
        """Text pieces as they are written, and each complete `ToolCall` once its arguments are whole."""
        ...


def supports_tools(llm: object) -> bool:
    """Declared, not guessed: only a backend that says `supports_tools = True` gets tools."""
    return getattr(llm, "supports_tools", False) is True and callable(getattr(llm, "stream_chat", None))


def supports_json_output(llm: object) -> bool:
    """Declared, like tools: only a backend that constrains its sampling gets a response format."""
    return getattr(llm, "supports_json_output", False) is True


def wire_messages(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """Messages as an OpenAI-style request body wants them (assistant tool calls with null-able content)."""
    out: list[dict[str, Any]] = []
    for m in messages:
        d: dict[str, Any] = {"role": m["role"], "content": m["content"]}
        if "tool_calls" in m:
            d["tool_calls"] = [dict(c, function=dict(c["function"])) for c in m["tool_calls"]]
        if "tool_call_id" in m:
            d["tool_call_id"] = m["tool_call_id"]
        out.append(d)
    return out
