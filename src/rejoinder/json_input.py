"""JSON from clients (HTTP bodies, Realtime events), refused with one clear message when it is not
plain, valid text that everything downstream accepts.

Found by probing the server: 100,000 nested brackets made Python's parser raise RecursionError
(an HTTP 500, a Realtime `server_error`), and a lone UTF-16 surrogate escape ("\\ud800" is valid
JSON) was accepted, then failed inside llama.cpp's JSON and the TTS for every later turn. An
integer of more than 4,300 digits made Python's int conversion raise a plain ValueError (again a
500 and a `server_error`).
"""

from __future__ import annotations

import json
import sys
from typing import Any

MAX_DEPTH = 64
"""Deeper than any request or event this server understands (a tool's JSON schema included)."""


class BadJSON(ValueError):
    """The text is not JSON this server accepts; the message says why, for the client."""


def loads(raw: str | bytes) -> Any:
    """Parse `raw`; BadJSON if it is not valid JSON, nests deeper than MAX_DEPTH, holds a number
    Python will not convert, or a string that is not valid Unicode."""
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise BadJSON(f"not valid JSON ({exc.msg}, line {exc.lineno})") from None
    except UnicodeDecodeError:
        raise BadJSON("not valid JSON (not UTF-8 text)") from None
    except RecursionError:
        raise BadJSON(f"JSON nested deeper than {MAX_DEPTH} levels") from None
    except ValueError:  # not a JSONDecodeError: an integer longer than sys.get_int_max_str_digits()
        raise BadJSON(f"a number has more than {sys.get_int_max_str_digits()} digits") from None
    check(value)
    return value


def check(value: Any) -> None:
    """BadJSON if `value` nests deeper than MAX_DEPTH or holds an unpaired surrogate, anywhere
    (keys included); iterative, so no input can exhaust the stack."""
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            _check_text(item)
        elif isinstance(item, dict | list):
            if depth >= MAX_DEPTH:
                raise BadJSON(f"JSON nested deeper than {MAX_DEPTH} levels")
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)


def _check_text(text: str) -> None:
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        code = ord(text[exc.start])
        raise BadJSON(
            f"a string holds an unpaired UTF-16 surrogate (\\u{code:04x}); text must be valid Unicode"
        ) from None
