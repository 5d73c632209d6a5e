"""Sampling fields of /v1/chat/completions, each checked on its own so a 400 names the field.

Found by probing with the openai SDK: `temperature=3` and `seed="abc"` were refused with
`param: null` and one message for four fields ("temperature, top_p, max_tokens and seed must be
numbers"), `temperature: null` (the default, as JSON clients write it) was refused, `true` was
taken as 1.0, and `max_tokens: 1.5` or `seed: 1.7` were cut to whole numbers without a word.
"""

from __future__ import annotations

import math
from typing import Any

from rejoinder.server.limits import RequestError
from rejoinder.stages.llm import GenerationParams, TokenUsage

INT64 = (-(2**63), 2**63 - 1)
"""OpenAI's integer fields are 64-bit: JSON's 10**400 (found: an OverflowError and a 500) is not
one."""


def _number(body: dict[str, Any], name: str, default: float) -> float:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, int) and not isinstance(value, bool) and not INT64[0] <= value <= INT64[1]:
        raise RequestError(f"'{name}' is out of range", param=name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RequestError(f"'{name}' must be a number", param=name)
    return float(value)


def _integer(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RequestError(f"'{name}' must be an integer", param=name)
    if isinstance(value, float) and not value.is_integer():
        raise RequestError(f"'{name}' must be an integer", param=name)
    if not INT64[0] <= value <= INT64[1]:
        raise RequestError(f"'{name}' is out of range (a 64-bit integer)", param=name)
    return int(value)


def generation_params(body: dict[str, Any], defaults: Any, max_tokens_cap: int) -> GenerationParams:
    """temperature 0-2, top_p (0, 1], max_completion_tokens (or max_tokens) 1 to the cap, an
    integer seed; null or absent means the server's default."""
    temperature = _number(body, "temperature", defaults.temperature)
    if not 0 <= temperature <= 2:
        raise RequestError("'temperature' must be from 0 to 2", param="temperature")
    top_p = _number(body, "top_p", defaults.top_p)
    if not 0 < top_p <= 1:
        raise RequestError("'top_p' must be above 0 and at most 1", param="top_p")
    name = "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens"
    asked = _integer(body, name)
    max_tokens = int(defaults.max_tokens) if asked is None else asked  # 0 is refused, not the default
    if not 1 <= max_tokens <= max_tokens_cap:
        raise RequestError(f"'{name}' must be 1-{max_tokens_cap}", param=name)
    seed = _integer(body, "seed")
    if seed is None:
        seed = defaults.seed
    return GenerationParams(
        temperature=temperature, top_p=top_p, max_tokens=max_tokens, seed=seed, usage=TokenUsage()
    )
