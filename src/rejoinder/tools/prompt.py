"""The system prompt for a turn that offers tools. The chat template lists the tools themselves;
this says when to use one, which is what small models get wrong (they call a tool for every
question, or answer "I can't tell the time").

The base has no example reply, and the built-in tools' descriptions have no example values: small
models copy examples. Measured on Qwen2.5-Coder-0.5B, the default prompt's example sentence ("The
capital of Spain is Madrid, ...") was repeated verbatim as the answer to a third of the requests once
the tool list made the prompt long, and "e.g. (17 * 23) + 4" in the calculator's description was
sent as the expression for "What should I cook for dinner?"."""

from __future__ import annotations

TOOL_BASE_PROMPT = (
    "You are a friendly voice assistant whose words are spoken aloud. "
    "Reply in one or two short, plain sentences."
)
TOOL_GUIDANCE = (
    "You do not know the current time or date. Use a tool only when the user asks for the current "
    "time or date, a calculation with numbers they give, something only a tool can look up, or says "
    "goodbye; never guess the time or calculate in your head. Answer everything else yourself, "
    "directly, without a tool."
)


def tool_system_prompt(base: str = TOOL_BASE_PROMPT, guidance: str = TOOL_GUIDANCE) -> str:
    return f"{base.rstrip()}\n\n{guidance}" if guidance else base
