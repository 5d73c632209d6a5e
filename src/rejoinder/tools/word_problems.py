"""Short reasoning questions whose words decide the computation, answered from a reckoning tool
(tools/reckoning.py) without the model: days of the week ("If yesterday was Sunday, what day is
tomorrow?"), a clock time plus a duration ("A train leaves at 9 AM and the trip takes 90
minutes. When does it arrive?"), which of two numbers or amounts is larger ("Which is bigger,
9.11 or 9.9?", "Which is heavier, a kilogram of feathers or a kilogram of steel?").

Why: these are the questions the 1.5B model gets wrong most often (measured: docs/accuracy.md),
and confidently: it counts weekdays from the wrong end, adds 90 minutes as an hour, and calls 9.11
larger than 9.9. Each parser takes only a question it reads completely:
one anchor, one quantity, one asked-for thing; anything more (two durations, an unknown word
where a number should be) leaves the turn to the model."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from rejoinder.stages.llm import ToolCall
from rejoinder.tools.reckoning import UNITS, WEEKDAYS, unit_name
from rejoinder.tools.tool import ToolResult

WEEKDAY_AFTER = "weekday_after"
CLOCK_AFTER = "clock_after"
COMPARE = "compare_amounts"


@dataclass(frozen=True)
class Reckoning:
    """A tool call and how to say its result (None when the result cannot be said)."""

    tool: str
    arguments: dict[str, object]
    say: Callable[[ToolResult], str | None]

    def call(self, new_id: Callable[[], str]) -> ToolCall:
        return ToolCall(new_id(), self.tool, json.dumps(self.arguments))


def plan_reckoning(text: str, offered: frozenset[str]) -> Reckoning | None:
    """The reckoning that answers `text` (numbers already written as digits), or None."""
    clean = " ".join(text.replace("’", "'").split())
    for tool, parse in _PARSERS:
        if tool in offered:
            found = parse(clean)
            if found is not None:
                return found
    return None


def _said(result: ToolResult, sentence: Callable[[str], str]) -> str | None:
    if not result.ok:
        return cannot(result)
    return sentence(result.output.strip()) if result.output.strip() else None


def cannot(result: ToolResult) -> str | None:
    """The tool's own reason for refusing, as a sentence (None when it gave none)."""
    reason = (result.error or "").removeprefix(f"{result.name}: ").rstrip(".")
    return f"I can't work that out: {reason}." if reason else None


# --- days of the week --------------------------------------------------------------------------

_DAY = "(?:" + "|".join(WEEKDAYS) + ")"
_COUNT = r"(?:\d{1,5}|an?|one)"
_SHIFT = (
    r"the day after tomorrow|the day before yesterday|tomorrow|yesterday|today|"
    rf"(?:in )?{_COUNT} (?:days?|weeks?)(?: and {_COUNT} days?)?(?: (?:from (?:now|today)|later|ago|"
    r"before today|earlier|"
    r"after today|hence|time))?"
)
_NAMED = {
    "today": 0,
    "tomorrow": 1,
    "yesterday": -1,
    "the day after tomorrow": 2,
    "the day before yesterday": -2,
}


def _offset(phrase: str) -> int | None:
    """Days from today for "tomorrow", "3 days ago", "in 2 weeks"; None for a bare "3 days"
    (which way is not said)."""
    phrase = phrase.lower()
    if phrase in _NAMED:
        return _NAMED[phrase]
    found = re.match(rf"(in )?({_COUNT}) (day|week)s?(?: and ({_COUNT}) days?)?(?: (.+))?$", phrase)
    if found is None:
        return None
    days = _count(found[2]) * (7 if found[3] == "week" else 1) + (_count(found[4]) if found[4] else 0)
    after = found[5] or ""
    if after in ("ago", "before today", "earlier"):
        return -days
    if found[1] or after:
        return days
    return None


def _count(word: str) -> int:
    return 1 if word.lower() in ("a", "an", "one") else int(word)


def _weekday(text: str) -> Reckoning | None:
    days = re.findall("|".join(WEEKDAYS), text, re.IGNORECASE)
    if len(days) != 1:
        return None
    day = next(d for d in WEEKDAYS if d.lower() == days[0].lower())
    return _from_anchor(text, day) or _around(text, day)


def _from_anchor(text: str, day: str) -> Reckoning | None:
    """ "If yesterday was Sunday, what day is tomorrow?": the anchor, then the day asked for."""
    anchor = re.search(
        rf"\b(?P<ref>{_SHIFT}) (?:is|was|were|will be|would be|'s|is going to be) {_DAY}\b"
        rf"|\bit(?:'s| is| was| were| will be) {_DAY}(?: (?P<ref2>{_SHIFT}))?\b",
        text,
        re.IGNORECASE,
    )
    if anchor is None:
        return None
    rest = text[: anchor.start()] + " " + text[anchor.end() :]
    asked = re.search(
        rf"\bwhat(?:'s| is| was)?(?: day(?: of the week)?| weekday)?(?: is| was| will| would)?(?: it)?"
        rf"(?: be)? (?P<target>{_SHIFT})\b",
        rest,
        re.IGNORECASE,
    )
    start = _offset(anchor["ref"] or anchor["ref2"] or "today")
    target = _offset(asked["target"]) if asked else None
    if start is None or target is None or asked is None:
        return None
    phrase = asked["target"]
    return Reckoning(
        WEEKDAY_AFTER,
        {"weekday": day, "days": target - start},
        lambda result: _said(result, lambda name: _day_sentence(phrase, target, name)),
    )


def _around(text: str, day: str) -> Reckoning | None:
    """ "What day comes after Friday?", "What day is 3 days before Monday?"."""
    around = re.search(
        rf"\bwhat(?: day(?: of the week)?| weekday)?(?: is| was| comes| will be| would be)?(?: it)? "
        rf"(?:(?P<n>{_COUNT}) (?P<unit>days?|weeks?)|the day) (?P<dir>after|before|from) (?:a )?{_DAY}\b"
        rf"|\bwhat(?: day)? comes (?P<dir2>after|before) {_DAY}\b",
        text,
        re.IGNORECASE,
    )
    if around is None:
        return None
    n = around["n"]
    count = (1 if n is None else _count(n)) * (7 if (around["unit"] or "").startswith("week") else 1)
    where = (around["dir"] or around["dir2"]).lower().replace("from", "after")
    phrase = f"{n} {around['unit']}" if n else "The day"
    return Reckoning(
        WEEKDAY_AFTER,
        {"weekday": day, "days": -count if where == "before" else count},
        lambda result: _said(
            result, lambda name: f"{phrase[0].upper()}{phrase[1:]} {where} {day} is {name}."
        ),
    )


def _day_sentence(phrase: str, offset: int, name: str) -> str:
    phrase = phrase.lower()
    if phrase in _NAMED:
        verb = "was" if offset < 0 else "is"
        return f"{phrase[0].upper()}{phrase[1:]} {verb} {name}."
    if offset < 0:
        return f"{phrase[0].upper()}{phrase[1:]}, it was {name}."
    return f"{phrase[0].upper()}{phrase[1:]}, it will be {name}."


# --- clock time plus a duration ----------------------------------------------------------------

_HALF = r"(?:a\.? ?m\.?|p\.? ?m\.?)"
_TIME = re.compile(
    rf"\b(?:noon|midday|midnight|\d{{1,2}}[:.]\d{{2}}(?: ?{_HALF}| o'?clock)?|\d{{1,2}}(?: \d{{2}})? ?{_HALF}"
    rf"|\d{{1,2}} o'?clock|(?<=\bat )\d{{1,2}}(?: \d{{2}})?\b(?! (?:hours?|minutes?|mins?|hrs?)\b)"
    rf"|(?<=\bit is )\d{{1,2}}(?: \d{{2}})?\b(?! (?:hours?|minutes?)\b)"
    rf"|(?<=\bit's )\d{{1,2}}(?: \d{{2}})?\b(?! (?:hours?|minutes?)\b))",
    re.IGNORECASE,
)
_DURATION = re.compile(
    r"\b(?:(?P<half_an>half an) hour|(?P<quarter>a quarter of an) hour"
    r"|(?P<n>\d+(?:\.\d+)?|an?|one) (?:and a half )?(?P<unit>hours?|hrs?|minutes?|mins?)"
    r"(?P<and_half> and a half)?"
    r"(?:,? (?:and )?(?P<m>\d+) (?:minutes?|mins?))?)\b",
    re.IGNORECASE,
)
_BACK_ASKED = re.compile(r"\b(?:ago|earlier|before)\b", re.IGNORECASE)
_STARTS = r"start|begin|leave|depart|set off|go|head out"
_ENDS = (
    r"end|finish|arrive|land|get (?:there|in|home|back)|be (?:over|done|there|ready|back)|stop|close|"
    r"wake up|take it out|come out|be finished"
)
_SAID_CLOCK = [  # clock times said in words, after numbers became digits: "half past 4" -> "4:30"
    (re.compile(r"\b(?:a )?quarter past (\d{1,2})\b", re.I), lambda m: f"{m[1]}:15"),
    (re.compile(r"\bhalf past (\d{1,2})\b", re.I), lambda m: f"{m[1]}:30"),
    (re.compile(r"\b(?:a )?quarter to (\d{1,2})\b", re.I), lambda m: f"{(int(m[1]) - 2) % 12 + 1}:45"),
]


def _minutes(found: re.Match[str]) -> float:
    if found["half_an"]:
        return 30
    if found["quarter"]:
        return 15
    n = found["n"].lower()
    value = 1.0 if n in ("a", "an", "one") else float(n)
    if " and a half " in found.group(0) or found["and_half"]:
        value += 0.5
    scale = 60 if found["unit"].lower().startswith("h") else 1
    return value * scale + int(found["m"] or 0)


def _clock(text: str) -> Reckoning | None:
    for pattern, said in _SAID_CLOCK:
        text = pattern.sub(said, text)
    question = re.search(r"\b((?:so |and )?(?:when|what time|at what time)\b[^.!?]*)", text, re.I)
    times = _TIME.findall(text)
    durations = list(_DURATION.finditer(text))
    if question is None or len(times) != 1 or len(durations) != 1:
        return None
    asked = question.group(1)
    given = text[: question.start(1)] + text[question.end(1) :]
    if _BACK_ASKED.search(asked) or (
        re.search(rf"\b(?:{_STARTS})\b", asked, re.I) and re.search(rf"\b(?:{_ENDS})s?\b", given, re.I)
    ):
        sign = -1
    elif re.search(rf"\b(?:{_ENDS})s?\b|\bwill it be\b|\bis it\b.*\b(?:in|later|from now)\b", asked, re.I):
        sign = 1
    else:
        return None
    minutes = _minutes(durations[0])
    if not float(minutes).is_integer():
        return None
    start = times[0].strip()
    length = durations[0].group(0)
    joined = "minus" if sign < 0 else "plus"
    return Reckoning(
        CLOCK_AFTER,
        {"time": start, "minutes": int(minutes) * sign},
        lambda result: _said(result, lambda value: f"{value}: {_spoken_clock(start)} {joined} {length}."),
    )


def _spoken_clock(text: str) -> str:
    return re.sub(
        r"^(\d{1,2}) (\d{2})\b",
        r"\1:\2",
        re.sub(r"(?i)\b([ap])\.? ?m\.?", lambda m: m[1].upper() + "M", text),
    )


# --- which is larger -------------------------------------------------------------------------

_NUMBER = r"(?:minus |negative |-)?\d+(?:\.\d+)?(?:/\d+)?"
_MORE = {"bigger", "larger", "greater", "higher", "more", "heavier", "longer", "farther", "further"}
_LESS = {"smaller", "less", "lower", "lesser", "lighter", "shorter"}
_KIND = {
    "heavier": {"mass"},
    "lighter": {"mass"},
    "longer": {"length", "time"},
    "shorter": {"length", "time"},
    "farther": {"length"},
    "further": {"length"},
}
_VERB_KIND = {"weighs": {"mass"}, "lasts": {"time"}, "takes": {"time"}}
_WORDS = "|".join(sorted(_MORE | _LESS))
_SIDE = rf"(?P<{{0}}>(?P<{{0}}n>{_NUMBER}|an?|one)(?: (?P<{{0}}u>[a-z]+\.?))?)(?: of (?P<{{0}}s>[a-z' -]+?))?"
_PICK = re.compile(
    r"\b(?:which(?: number| one| 1| of (?:these|them|the two)(?: numbers)?)?|what(?:'s| is)?) "
    rf"(?P<verb>is|weighs|lasts|takes) (?P<cmp>{_WORDS})(?: number)?[,:;?.!]? "
    + _SIDE.format("a")
    + " or "
    + _SIDE.format("b")
    + r"\W*$",
    re.IGNORECASE,
)
_YES_NO = re.compile(
    rf"^(?:\w+,? )?(?P<verb>is|does) {_SIDE.format('a')} (?:weigh )?(?P<cmp>{_WORDS}) than "
    + _SIDE.format("b")
    + r"\W*$",
    re.IGNORECASE,
)


def _number(said: str) -> str:
    return re.sub(r"^(?:minus|negative) ", "-", said.strip(), flags=re.IGNORECASE)


def _comparison(text: str) -> Reckoning | None:
    """Which of two numbers, or two amounts of the same kind, is larger ("Which is bigger, 9.11
    or 9.9?", "Which weighs more, 2 kilograms of rice or 5 pounds of sugar?", "Is a meter longer
    than a yard?")."""
    found = _PICK.search(text)
    yes_no = None if found is not None else _YES_NO.search(text)
    found = found or yes_no
    if found is None:
        return None
    word, verb = found["cmp"].lower(), found["verb"].lower()
    units = [unit_name(found["au"]) if found["au"] else None, unit_name(found["bu"]) if found["bu"] else None]
    counted = [found[f"{side}n"].lower() for side in "ab"]
    if any(u is None and found[f"{side}u"] for u, side in zip(units, "ab", strict=True)):
        return None  # a word that is no unit: "a dog", "the sun"
    if units[0] is None and units[1] is None:
        if any(n in ("a", "an", "one") for n in counted) or word in _KIND or verb in _VERB_KIND:
            return None
        kind = "number"
    elif None in units or UNITS[units[0]][0] != UNITS[units[1]][0]:  # type: ignore[index]
        return None
    else:
        kind = UNITS[units[0]][0]  # type: ignore[index]
        if kind not in _KIND.get(word, {kind}) or kind not in _VERB_KIND.get(verb, {kind}):
            return None
    first, second = (
        _number(found[side])
        if kind == "number"
        else found[side] + (f" of {found[side + 's']}" if found[side + "s"] else "")
        for side in "ab"
    )
    more = word in _MORE
    verb_said = {"weighs": "weighs", "lasts": "lasts", "takes": "takes", "does": "weighs"}.get(verb, "is")
    same = {"number": "they are the same number", "mass": "they weigh the same"}

    def sentence(which: str) -> str:
        if which == "same":
            equal = f"{same.get(kind, 'they are the same')}. {_cap(first)} and {second} are equal."
            return ("No, " if yes_no is not None else "Neither: ") + equal
        winner, loser = (first, second) if (which == "first") == more else (second, first)
        said = f"{winner} {verb_said} {word}" + (f" than {loser}." if kind == "number" else ".")
        if yes_no is None:
            return _cap(said)
        return ("Yes, " if winner == first else "No, ") + said

    return Reckoning(
        COMPARE,
        {"first": _number(found["a"]), "second": _number(found["b"])},
        lambda result: _said(result, sentence),
    )


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


_PARSERS: tuple[tuple[str, Callable[[str], Reckoning | None]], ...] = (
    (WEEKDAY_AFTER, _weekday),
    (CLOCK_AFTER, _clock),
    (COMPARE, _comparison),
)
