"""What a `response.create` asks of its response, checked (a field this server cannot honour is
refused, never ignored), and what its `response.done` reports back."""

from __future__ import annotations

from typing import Any

from rejoinder.answer import ResponseOptions
from rejoinder.stages.llm import Message, TokenUsage
from rejoinder.transports.realtime.session_events import check_modalities, instructions, max_output_tokens
from rejoinder.transports.realtime.wire import ProtocolError, expect

MAX_METADATA_KEYS, MAX_METADATA_KEY, MAX_METADATA_VALUE = 16, 64, 512
"""OpenAI's bounds for a response's metadata."""


def client_metadata(response: Any) -> dict[str, str] | None:
    """A response.create's `metadata`: string keys and values within OpenAI's bounds."""
    if not isinstance(response, dict) or response.get("metadata") is None:
        return None
    metadata = expect(response["metadata"], dict, "response.metadata", "an object of strings")
    if len(metadata) > MAX_METADATA_KEYS:
        raise ProtocolError(
            f"response.metadata has {len(metadata)} keys; at most {MAX_METADATA_KEYS}",
            "invalid_value",
            "response.metadata",
        )
    for key, value in metadata.items():
        if len(key) > MAX_METADATA_KEY or not isinstance(value, str) or len(value) > MAX_METADATA_VALUE:
            raise ProtocolError(
                f"response.metadata[{key[:80]!r}] must be a string of at most {MAX_METADATA_VALUE} "
                f"characters under a key of at most {MAX_METADATA_KEY}",
                "invalid_value",
                "response.metadata",
            )
    return dict(metadata)


def usage_of(usage: TokenUsage | None) -> dict[str, Any] | None:
    """OpenAI's usage from the model's own count: text tokens (the model reads transcripts);
    None where the backend does not count."""
    if usage is None:
        return None
    return {
        "total_tokens": usage.input_tokens + usage.output_tokens,
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "input_token_details": {
            "cached_tokens": usage.cached_tokens,
            "text_tokens": usage.input_tokens,
            "audio_tokens": 0,
        },
        "output_token_details": {"text_tokens": usage.output_tokens, "audio_tokens": 0},
    }


def response_options(message: dict[str, Any]) -> ResponseOptions:
    """A response.create's own `instructions` and `max_output_tokens` (for this response only);
    what it cannot honour is refused, not ignored (found by probing: all of it was ignored)."""
    response = expect(message.get("response", {}), dict, "response", "an object")
    if response.get("conversation", "auto") != "auto" or response.get("input") is not None:
        raise ProtocolError(
            "out-of-band responses (conversation 'none', input items) are not supported; add the "
            "items to the conversation and ask for a response",
            "invalid_value",
            "response.conversation" if "conversation" in response else "response.input",
        )
    for key in ("output_modalities", "modalities"):
        if key in response:
            check_modalities(response[key], f"response.{key}")
    text = (
        instructions(response["instructions"], "response.instructions")
        if "instructions" in response
        else None
    )
    limit = (
        max_output_tokens(response["max_output_tokens"], "response.max_output_tokens")
        if "max_output_tokens" in response
        else None
    )
    return ResponseOptions(text, limit)


def nothing_to_answer(history: list[Message]) -> str | None:
    """Why a response.create with no new input has nothing to answer (None: it answers from the
    conversation). A conversation that ends with a reply is refused: llama.cpp takes a last
    assistant message as a reply to go on writing (found by probing: empty responses, then
    "Cannot have 2 or more assistant messages at the end of the list")."""
    if not history:
        return "nothing to respond to: append and commit audio or create a user item first"
    last = history[-1]
    if last["role"] == "assistant" and last.get("tool_calls"):
        return "the function calls of the last response are waiting for their function_call_output items"
    if last["role"] == "assistant":
        return (
            "the conversation ends with the assistant's reply: create a user item first (or delete "
            "the reply to have it answered again)"
        )
    return None
