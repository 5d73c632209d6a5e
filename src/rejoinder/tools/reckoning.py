"""Tools for the everyday reckoning that small models get wrong when they say it in one go:
counting days of the week, adding a duration to a clock time, and comparing two numbers or two
amounts of the same kind ("a kilogram" and "a pound"). Direct answers use them
(tools/word_problems.py); they touch nothing outside the process."""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from rejoinder.tools.tool import ToolError

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MAX_DAYS = 100_000
MAX_MINUTES = 7 * 24 * 60
MAX_DIGITS = 30


def weekday_index(name: str) -> int:
    for index, day in enumerate(WEEKDAYS):
        if name.strip().lower() in (day.lower(), day[:3].lower()):
            return index
    raise ToolError(f"{name!r} is not a day of the week")


def weekday_after(weekday: str, days: int) -> str:
    """The day of the week that comes `days` days after `weekday` (a negative number: before).

    Args:
        weekday: A day of the week, such as Monday.
        days: How many days later; negative for earlier.
    """
    if abs(days) > MAX_DAYS:
        raise ToolError(f"at most {MAX_DAYS} days either way")
    return WEEKDAYS[(weekday_index(weekday) + days) % 7]


@dataclass(frozen=True)
class ClockTime:
    minutes: int
    """Since midnight (on the 12-hour dial: since 12 o'clock)."""
    dial: str
    """"ampm" (said with AM or PM, noon, midnight), "24h" ("15:45", "0:30") or "12h" ("7:30",
    either half of the day): the answer is said on the same dial."""

    def spoken(self) -> str:
        hour, minute = divmod(self.minutes, 60)
        if self.dial == "24h":
            return f"{hour}:{minute:02d}"
        clock = f"{(hour % 12) or 12}" + (f":{minute:02d}" if minute or self.dial == "12h" else "")
        return clock if self.dial == "12h" else f"{clock} {'AM' if hour < 12 else 'PM'}"


_CLOCK = re.compile(
    r"^\s*(?:(?P<word>noon|midday|midnight)|(?P<h>\d{1,2})(?:[:.\s](?P<m>\d{2}))?\s*"
    r"(?P<half>a\.?\s?m\.?|p\.?\s?m\.?|o'?clock)?)\s*$",
    re.IGNORECASE,
)
_DAY = 24 * 60


def parse_clock(text: str) -> ClockTime:
    """ "9 AM", "9:30 p.m.", "7 30", "15:45", "noon"; raises ToolError on anything else."""
    found = _CLOCK.match(text)
    if found is None:
        raise ToolError(f"{text!r} is not a clock time (say it like 9:30 AM or 21:30)")
    if found["word"]:
        return ClockTime(12 * 60 if found["word"].lower() in ("noon", "midday") else 0, "ampm")
    hour, minute = int(found["h"]), int(found["m"] or 0)
    half = (found["half"] or "").lower().replace(".", "").replace(" ", "")
    if minute > 59 or hour > 23 or (half in ("am", "pm") and not 1 <= hour <= 12):
        raise ToolError(f"{text!r} is not a clock time")
    if half in ("am", "pm"):
        return ClockTime((hour % 12 + (12 if half == "pm" else 0)) * 60 + minute, "ampm")
    if hour == 0 or hour > 12:
        return ClockTime(hour * 60 + minute, "24h")
    return ClockTime((hour % 12) * 60 + minute, "12h")


def clock_after(time: str, minutes: int) -> str:
    """The clock time `minutes` minutes after `time` (a negative number: before).

    Args:
        time: A clock time, such as 9:30 AM, 7:30 or 21:15.
        minutes: How many minutes later; negative for earlier.
    """
    if abs(minutes) > MAX_MINUTES:
        raise ToolError(f"at most {MAX_MINUTES} minutes (a week) either way")
    start = parse_clock(time)
    total = start.minutes + minutes
    if start.dial == "12h":  # which half of the day is unknown: no day to count either
        return ClockTime(total % (12 * 60), "12h").spoken()
    days = total // _DAY
    later = {0: "", 1: " the next day", -1: " the day before"}.get(
        days, f" {abs(days)} days {'later' if days > 0 else 'earlier'}"
    )
    return ClockTime(total % _DAY, start.dial).spoken() + later


# --- amounts -----------------------------------------------------------------------------------

UNITS: dict[str, tuple[str, Fraction]] = {
    # mass, in grams ("ton" read as the metric tonne: the US and UK tons differ by a tenth)
    "gram": ("mass", Fraction(1)), "kilogram": ("mass", Fraction(1000)), "kilo": ("mass", Fraction(1000)),
    "tonne": ("mass", Fraction(1_000_000)), "ton": ("mass", Fraction(1_000_000)),
    "pound": ("mass", Fraction(45359237, 100000)), "ounce": ("mass", Fraction(45359237, 1600000)),
    "stone": ("mass", Fraction(45359237 * 14, 100000)),
    # length, in millimetres
    "millimetre": ("length", Fraction(1)), "centimetre": ("length", Fraction(10)),
    "metre": ("length", Fraction(1000)), "kilometre": ("length", Fraction(1_000_000)),
    "inch": ("length", Fraction(254, 10)), "foot": ("length", Fraction(3048, 10)),
    "yard": ("length", Fraction(9144, 10)), "mile": ("length", Fraction(1_609_344)),
    # volume, in millilitres
    "millilitre": ("volume", Fraction(1)), "litre": ("volume", Fraction(1000)),
    "gallon": ("volume", Fraction(3785411784, 1000000)), "pint": ("volume", Fraction(473176473, 1000000)),
    # time, in seconds
    "second": ("time", Fraction(1)), "minute": ("time", Fraction(60)), "hour": ("time", Fraction(3600)),
    "day": ("time", Fraction(86400)), "week": ("time", Fraction(604800)),
}  # fmt: skip
_SPELLINGS = {
    "kg": "kilogram", "kgs": "kilogram", "g": "gram", "lb": "pound", "lbs": "pound", "oz": "ounce",
    "km": "kilometre", "m": "metre", "cm": "centimetre", "mm": "millimetre", "feet": "foot",
    "inches": "inch", "ft": "foot", "l": "litre", "ml": "millilitre", "tons": "ton", "min": "minute",
    "mins": "minute", "hr": "hour", "hrs": "hour", "sec": "second", "secs": "second",
}  # fmt: skip


def unit_name(word: str) -> str | None:
    """The table's name for a unit word ("kilograms", "meter", "lbs", "feet"), or None."""
    word = word.lower().strip(".")
    for name in (word, word[:-1] if word.endswith("s") else "", word[:-2] if word.endswith("es") else ""):
        name = _SPELLINGS.get(name, name)
        name = name[:-2] + "re" if name.endswith(("meter", "liter")) else name
        if name in UNITS:
            return name
    return None


_AMOUNT = re.compile(
    r"^\s*(?P<n>-?\d+(?:\.\d+)?(?:/[1-9]\d*)?|an?|one)?\s*(?P<unit>[a-z.]+)?\s*$", re.IGNORECASE
)


def parse_amount(text: str) -> tuple[Fraction, str | None]:
    """(value, unit) for "9.11", "3/4", "1 kilogram", "a pound", "2.5 miles"; unit None for a bare
    number."""
    found = _AMOUNT.match(text)
    if found is None or not (found["n"] or found["unit"]):
        raise ToolError(f"{text!r} is not a number or an amount with a unit")
    number = found["n"] or "1"
    if sum(ch.isdigit() for ch in number) > MAX_DIGITS:  # checked before any arithmetic
        raise ToolError(f"numbers of at most {MAX_DIGITS} digits")
    value = Fraction(1) if number.lower() in ("a", "an", "one") else Fraction(number)
    if not found["unit"]:
        return value, None
    unit = unit_name(found["unit"])
    if unit is None:
        raise ToolError(f"unknown unit {found['unit']!r}")
    return value, unit


def compare_amounts(first: str, second: str) -> str:
    """Compare two numbers, or two amounts of the same kind ("1 kilogram" and "2 pounds").

    Args:
        first: A number (9.11, -3, 3/4) or an amount with its unit.
        second: A number (9.11, -3, 3/4) or an amount with its unit.

    Returns "first", "second" or "same": which is the larger.
    """
    (a, unit_a), (b, unit_b) = parse_amount(first), parse_amount(second)
    if (unit_a is None) != (unit_b is None):
        raise ToolError("give both with a unit, or both as bare numbers")
    if unit_a is not None and unit_b is not None:
        kind_a, scale_a = UNITS[unit_a]
        kind_b, scale_b = UNITS[unit_b]
        if kind_a != kind_b:
            raise ToolError(f"a {unit_a} is a {kind_a} and a {unit_b} a {kind_b}: they do not compare")
        a, b = a * scale_a, b * scale_b
    return "first" if a > b else "second" if b > a else "same"
