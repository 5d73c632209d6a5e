"""Structured logging: one JSON object per line, extra fields included."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Any

from rejoinder.errors import BadInputError

_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        out.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return redact(json.dumps(out, default=str))


LEVELS = ("debug", "info", "warning", "error", "critical")


def setup(level: str = "warning", path: str | None = None) -> None:
    """Our records at `level`, and every other library's warnings and errors, as JSON lines through
    one handler: a record no handler takes would go to Python's last-resort handler, which prints
    tracebacks raw (aiohttp's for a malformed request quote its headers, API key included)."""
    if level.lower() not in LEVELS:
        raise BadInputError(f"log level {level!r} is not one of {', '.join(LEVELS)}")
    handler: logging.Handler = logging.FileHandler(path) if path else logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(client_protocol_errors)
    ours = logging.getLogger("rejoinder")
    ours.handlers[:] = [handler]
    ours.setLevel(level.upper())
    ours.propagate = False
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(logging.WARNING, ours.level))
    logging.Formatter.converter = time.gmtime


def client_protocol_errors(record: logging.LogRecord) -> bool:
    """A request that is not valid HTTP (no Host, a control byte in a header) is the client's
    fault: one line at info with the parser's reason, no traceback, and not the offending bytes."""
    exc = record.exc_info[1] if record.exc_info else None
    if exc is None or not record.name.startswith("aiohttp"):
        return True
    from aiohttp.http_exceptions import HttpProcessingError

    if not isinstance(exc, HttpProcessingError):
        return True
    if logging.getLogger("rejoinder").level > logging.INFO:
        return False
    reason = (exc.message or type(exc).__name__).strip().splitlines()[0].rstrip(":")
    record.msg, record.args = "bad HTTP request: %s %s", (exc.code, reason)
    record.levelno, record.levelname = logging.INFO, "INFO"
    record.exc_info = record.exc_text = None
    return True


# ---- secrets never reach a log -----------------------------------------------------------------
_secrets: set[str] = set()
_PATTERNS = [
    re.compile(r"(openai-insecure-api-key\.)[^\s,'\"\]]+"),
    re.compile(r"(api_key=)[^\s&'\"]+"),
    re.compile(r"((?i:bearer)\s+)[^\s,'\"]+"),
]
REDACTED = "[redacted]"


def redact(text: str) -> str:
    """`text` with known secrets and anything shaped like an API key in transit replaced."""
    for secret in _secrets:
        text = text.replace(secret, REDACTED)
    for pattern in _PATTERNS:
        text = pattern.sub(r"\1" + REDACTED, text)
    return text


def protect_secrets(*secrets: str | None) -> None:
    """Scrub every log record made from now on, whichever logger or handler takes it.

    The record factory cleans messages (aiohttp's own warnings echo WebSocket subprotocols,
    which browsers use to carry the key); JsonFormatter also cleans `extra` fields and tracebacks.
    """
    for secret in secrets:
        if secret and len(secret) >= 4:  # a shorter "key" would blank ordinary words
            _secrets.update({secret, json.dumps(secret)[1:-1]})
    factory = logging.getLogRecordFactory()
    if getattr(factory, "_rejoinder_redacts", False):
        return

    def make_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: the handler reports it as usual
            return record
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return record

    make_record._rejoinder_redacts = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(make_record)
