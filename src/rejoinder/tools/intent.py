"""A cheap rule for "this turn may need a tool": only such turns are offered the tools and sent to
a tier that can call them. Offering tools on every turn would lengthen every prompt and invite
false calls (small models call a tool for questions that need none); missing a turn here means the
model answers from its head, so the rule is broad and the model makes the final choice.

It matches the present time or date, arithmetic on numbers in the turn, ending the call, and the
words of each offered tool's name and the first sentence of its description."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

TIME = re.compile(
    r"\b(time|clock|o'?clock|date|day|today|tonight|tomorrow|yesterday|morning|afternoon|evening|"
    r"week(day)?|month|year|hour|minute|timezone|zone)s?\b",
    re.IGNORECASE,
)
OPERATION = re.compile(
    r"(\d\s*[-+*/x×÷^%]\s*\d)|\b(times|plus|minus|divided|multiplied|percent|per cent|squared|cubed|power|"
    r"sum|product|total|average|split|half|double|triple|add|subtract|multiply|divide)\b",
    re.IGNORECASE,
)
NUMBER = re.compile(r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|hundred|thousand)\b", re.I)
MATH = re.compile(r"\b(calculate|compute|calculation|arithmetic|math)\b", re.IGNORECASE)
ENDING = re.compile(
    r"\b(good\s*-?\s*bye|bye|hang up|end (the|this|our) (call|conversation|chat)|that'?s all|"
    r"i'?m done|see you|talk (to you )?later)\b",
    re.IGNORECASE,
)
_ASKING = r"^\W*((can|could) you tell me |do you know |tell me )?"
_NOW_WORDS = r"what time is it|what time it is|what'?s the time|what is the time|the time|what day it is"
_UNTIL_END = r"( now| right now| today)?(\W+please)?\W*$"
NOW_HERE = re.compile(
    rf"{_ASKING}({_NOW_WORDS}|(what'?s|what is) (today'?s date|the date today|the date)|today'?s date|"
    rf"the date|what day is (it|today)){_UNTIL_END}",
    re.IGNORECASE,
)
"""Asks for the present time or date here, and nothing else: only the clock can answer."""
NOW_THERE = re.compile(
    rf"{_ASKING}({_NOW_WORDS}|(what'?s|what is) the date|what day is it) in (?P<place>[a-z][a-z .'-]*?)"
    rf"{_UNTIL_END}",
    re.IGNORECASE,
)
"""The same, in a named place ("What time is it in Tokyo?"): the clock answers if the place names
a time zone (tools/direct.py); any other place is left to the model."""
_STOPWORD_TEXT = """
the a an and or of to for on in at by with from about into over only when what which who whom
this that these those it its their our your user users give gives given get gets use used
call calls question questions ask asks tell tells some any each one all more most other such
than then there here have has been being were was will would could should does doing done look
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


@dataclass(frozen=True)
class ToolIntent:
    """Why a turn was judged to need a tool ("time", "arithmetic", "ending", or "tool:NAME")."""

    reason: str


def _words(text: str) -> set[str]:
    return {w.rstrip("s") for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) >= 4}


def tool_keywords(name: str, description: str) -> set[str]:
    """Words that suggest a tool: its name's parts and its description's first sentence."""
    first = re.split(r"(?<=[.!?])\s", description.strip(), maxsplit=1)[0]
    words = _words(name.replace("_", " ").replace("-", " ")) | _words(first)
    return {w for w in words if w not in STOPWORDS}


def asks_for_local_now(text: str) -> bool:
    return bool(NOW_HERE.search(text.strip()))


def asks_for_now_in(text: str) -> str | None:
    """The place named in a request for the present time or date there, or None."""
    found = NOW_THERE.search(text.strip())
    return found["place"].strip() if found else None


def tool_intent(text: str, tools: Iterable[tuple[str, str]] = ()) -> ToolIntent | None:
    """The first reason `text` may need one of `tools` ((name, description) pairs), or None."""
    if TIME.search(text):
        return ToolIntent("time")
    if MATH.search(text) or (OPERATION.search(text) and NUMBER.search(text)):
        return ToolIntent("arithmetic")
    if ENDING.search(text):
        return ToolIntent("ending")
    said = _words(text)
    for name, description in tools:
        if said & tool_keywords(name, description):
            return ToolIntent(f"tool:{name}")
    return None
