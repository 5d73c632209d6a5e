"""Checks for OpenAI request fields this server reads or cannot honour, so a client hears a 400
naming the field rather than getting an answer that quietly ignored what it asked for.

Found by probing: `n: 3` got one choice, `speed: 100` (or "fast") was spoken at the usual rate,
and `model: {"a": 1}` was echoed back as the Python text "{'a': 1}".
"""

from __future__ import annotations

import math
from typing import Any

from rejoinder.server.limits import RequestError

SPEED_RANGE = (0.25, 4.0)
"""OpenAI's bounds for /v1/audio/speech `speed`."""


def model_name(body: dict[str, Any], default: str) -> str:
    """The `model` to echo back: a string, or `default` when absent (or null)."""
    model = body.get("model")
    if model is None:
        return default
    if not isinstance(model, str):
        raise RequestError("'model' must be a string", param="model")
    return model


def check_choice_count(body: dict[str, Any]) -> None:
    """Refuse `n` other than 1: the endpoint writes exactly one choice."""
    n = body.get("n")
    if n is None:
        return
    if isinstance(n, bool) or not isinstance(n, int | float) or not float(n).is_integer():
        raise RequestError("'n' must be an integer", param="n")
    if n != 1:
        raise RequestError("'n': this server writes one choice per request; only n=1 is supported", param="n")


def check_voice(body: dict[str, Any]) -> None:
    """`voice` must be a string, as in OpenAI's API (the server speaks with the voice it loaded)."""
    voice = body.get("voice")
    if voice is not None and not isinstance(voice, str):
        raise RequestError("'voice' must be a string", param="voice")


def check_speed(body: dict[str, Any], spoken_at: float) -> None:
    """Refuse a `speed` the TTS would not honour: its rate is fixed when it loads (tts.speed), so
    only that rate (1.0 unless configured) is accepted; absent means that rate too."""
    speed = body.get("speed")
    if speed is None:
        return
    low, high = SPEED_RANGE
    if isinstance(speed, bool) or not isinstance(speed, int | float) or not low <= speed <= high:
        raise RequestError(f"'speed' must be a number from {low} to {high}", param="speed")
    if not math.isclose(speed, spoken_at, rel_tol=1e-9, abs_tol=1e-9):
        raise RequestError(
            f"'speed': only {float(spoken_at)} is supported by this server's TTS "
            "(its rate is set when it loads: tts.speed)",
            param="speed",
        )


UNHONOURED_CHAT_FIELDS = ("logprobs", "top_logprobs", "logit_bias")
"""Chat fields whose only accepted value is their default: found by probing with the openai SDK,
`logprobs: true` got none, with a 200. (`stop` and `response_format` were refused the same way
until they were honoured: chat_fields.py.)"""

ZERO_ONLY_CHAT_FIELDS = ("presence_penalty", "frequency_penalty")
"""Sampler penalties llama.cpp is not asked for: only 0 (or null) passes."""

NOT_DONE_CHAT_FIELDS = {
    "prediction": "predicted outputs are not supported",
    "web_search_options": "this server cannot search the web",
    "reasoning_effort": "the loaded models do not reason before answering",
}
"""Fields with no default worth keeping: any value but null is refused."""


def check_unhonoured_chat_fields(body: dict[str, Any]) -> None:
    """Refuse a chat field set to something this endpoint does not do, rather than answer as if
    it had been applied (found by probing: presence_penalty=1.5, prediction and
    reasoning_effort="high" got the same reply as without, with a 200). Null, false or empty
    are the defaults of the first list, and pass."""
    for name in UNHONOURED_CHAT_FIELDS:
        value = body.get(name)
        if value in (None, False, [], {}, ""):
            continue
        raise RequestError(f"'{name}' is not supported by this server; leave it out", param=name)
    for name in ZERO_ONLY_CHAT_FIELDS:
        value = body.get(name)
        if value is None or (not isinstance(value, bool) and value == 0):
            continue
        raise RequestError(
            f"'{name}' is not supported by this server's sampler; leave it out or send 0", param=name
        )
    for name, reason in NOT_DONE_CHAT_FIELDS.items():
        if body.get(name) is not None:
            raise RequestError(f"'{name}': {reason}; leave it out", param=name)
