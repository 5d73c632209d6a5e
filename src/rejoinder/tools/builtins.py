"""Built-in tools that are useful on a call and safe to offer any caller: the time, arithmetic,
and ending the conversation. None of them touches the network, files or processes."""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo
from collections.abc import Callable
from typing import Any

from rejoinder.tools.calculator import CalculationError, evaluate, format_number
from rejoinder.tools.tool import EndConversation, ToolError


@functools.cache
def _zone_names() -> dict[str, str]:
    """Lower-cased city part ("tokyo", "new_york") and full name -> the IANA zone name."""
    names: dict[str, str] = {}
    for name in sorted(zoneinfo.available_timezones()):
        names.setdefault(name.lower(), name)
        names.setdefault(name.rsplit("/", 1)[-1].lower(), name)
    return names


def resolve_zone(name: str) -> zoneinfo.ZoneInfo | None:
    """An IANA zone from its name or its city ("Tokyo", "new york"); None for the local zone."""
    text = name.strip()
    if text.lower() in ("", "local", "localtime"):
        return None
    key = _zone_names().get(text.lower()) or _zone_names().get(text.lower().replace(" ", "_"))
    if key is None:
        raise ToolError(
            f"unknown time zone {name!r}; use an IANA name such as Europe/Paris or America/New_York"
        )
    return zoneinfo.ZoneInfo(key)


def current_datetime(timezone: str = "") -> str:
    """Get the current date and time. Only for questions about the present time, date or day of the week.

    Args:
        timezone: The city or IANA time zone the user named; empty if they named none.
    """
    zone = resolve_zone(timezone)
    now = dt.datetime.now(zone) if zone else dt.datetime.now().astimezone()
    offset = now.strftime("%z")
    where = zone.key if zone else "local time"
    return f"{now:%A} {now.day} {now:%B %Y}, {now:%H:%M} ({where}, UTC{offset[:3]}:{offset[3:]})"


def calculate(expression: str) -> str:
    """Calculate arithmetic on numbers the user gives. Not for facts, counting or unit conversions.

    Args:
        expression: The arithmetic, written with numbers, + - * / // % ** and parentheses.
    """
    try:
        return format_number(evaluate(expression))
    except CalculationError as exc:
        raise ToolError(str(exc)) from None


def end_conversation(reason: str = "") -> EndConversation:
    """End the call. Call it when the user says goodbye or asks to hang up.

    Args:
        reason: A few words on why the call ends.
    """
    return EndConversation(reason)


BUILTINS: dict[str, Callable[..., Any]] = {
    "current_datetime": current_datetime,
    "calculate": calculate,
    "end_conversation": end_conversation,
}
