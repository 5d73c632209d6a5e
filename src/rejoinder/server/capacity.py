"""How many live sessions this server serves well, and where that figure comes from.

The figure is the load test's capacity (`rejoinder bench --ramp --json > ramp.json`, then
`serve --capacity-from ramp.json`), or given outright (`--capacity N`); without either it is
`--max-sessions`. Past it a new session is refused with `server_at_capacity`, so the sessions
already talking keep their latency; none is ever dropped to make room.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from rejoinder.errors import BadInputError

AT_CAPACITY = "server_at_capacity"
"""The error code a refused client gets (Realtime `error` event, or HTTP 503 body)."""
RETRY_AFTER_S = 5


@dataclass(frozen=True)
class Capacity:
    sessions: int
    source: str
    """'configured', 'measured' (from a ramp's JSON) or 'max_sessions'."""
    bound_ms: float | None = None
    """For a measured capacity: the voice-to-voice p95 it held."""


def from_ramp_file(path: Path) -> Capacity:
    """The capacity `rejoinder bench --ramp --json` measured."""
    try:
        data = json.loads(path.read_text())
        sessions, bound = int(data["capacity"]), float(data["bound_ms"])
    except OSError as exc:
        raise BadInputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError):
        raise BadInputError(f"{path}: not the JSON of `rejoinder bench --ramp --json`") from None
    if sessions < 1:
        raise BadInputError(f"{path}: the ramp measured no capacity (0 clients held the bound)")
    return Capacity(sessions, "measured", bound)


def resolve(capacity: int | None, capacity_from: Path | None, max_sessions: int) -> Capacity:
    if capacity is not None and capacity_from is not None:
        raise BadInputError("give --capacity or --capacity-from, not both")
    if capacity_from is not None:
        return from_ramp_file(capacity_from)
    if capacity is not None:
        return Capacity(capacity, "configured")
    return Capacity(max_sessions, "max_sessions")
