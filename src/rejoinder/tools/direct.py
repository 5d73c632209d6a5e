"""Requests whose words alone decide the tool call, answered from the tool's result without the
model: the present time or date here or in a place that names a time zone ("What time is it?",
"What time is it in Tokyo?"), a bare arithmetic question ("What is 17 times 23?", "How much is
15 percent of 80?") and the short reckoning of tools/word_problems.py (days of the week, a clock
time plus a duration, which of two numbers or amounts is larger).

Why: on 2 CPU cores the strong tier needs seconds to read the tool prompt, more to write the call,
and more again to phrase a one-line result (measured: 4-13 s to first audio, docs/tools.md), and it
sometimes answers the time from an earlier turn instead of calling the clock. Here the tool still
computes the answer (the call and result are in the turn log and the history as if the model had
made them); only the sentence around the result is fixed. Anything else in the request ("... in
dollars", a place that is no time zone, a word the parser does not know) leaves the turn to the
model."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from rejoinder.stages.llm import ToolCall
from rejoinder.tools.calculator import CalculationError, evaluate
from rejoinder.tools.intent import asks_for_local_now, asks_for_now_in
from rejoinder.tools.tool import ToolResult
from rejoinder.tools.word_problems import cannot, plan_reckoning

CLOCK = "current_datetime"
CALCULATOR = "calculate"


@dataclass(frozen=True)
class DirectPlan:
    """The call to make, and the sentence to say from its result (None: the call failed in a way
    the sentence cannot explain; the caller apologises)."""

    call: ToolCall
    say: Callable[[ToolResult], str | None]


def plan_direct(text: str, offered: frozenset[str]) -> DirectPlan | None:
    """The direct call for `text` when one of the `offered` tools answers it alone, else None."""
    if CLOCK in offered and asks_for_local_now(text):
        return DirectPlan(_call(CLOCK, "{}"), lambda result: clock_sentence(text, result))
    place = asks_for_now_in(text) if CLOCK in offered else None
    if place is not None and _is_zone(place):
        arguments = json.dumps({"timezone": place})
        return DirectPlan(_call(CLOCK, arguments), lambda result: clock_sentence(text, result, place))
    if CALCULATOR in offered:
        parsed = spoken_arithmetic(text)
        if parsed is not None:
            expression, spoken = parsed
            arguments = json.dumps({"expression": expression})
            return DirectPlan(_call(CALCULATOR, arguments), lambda result: sum_sentence(spoken, result))
    reckoning = plan_reckoning(_digits(text), offered)
    if reckoning is not None:
        return DirectPlan(reckoning.call(_new_id), reckoning.say)
    return None


def _new_id() -> str:
    return f"call_{uuid.uuid4().hex[:12]}"


def _call(name: str, arguments: str) -> ToolCall:
    return ToolCall(_new_id(), name, arguments)


_NUMBER_WORDS = (
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "  # noqa: SIM905
    "seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety oh o".split()
)
_HYPHENED = re.compile(rf"\b({'|'.join(_NUMBER_WORDS)})-({'|'.join(_NUMBER_WORDS)})\b", re.IGNORECASE)


def _digits(text: str) -> str:
    """Numbers said in words written as digits ("ninety minutes" -> "90 minutes", a clock time
    as the STT hyphenates it, "seven-thirty", -> "7 30")."""
    from text_to_num import alpha2digit

    spaced = _HYPHENED.sub(r"\1 \2", text.strip())
    return str(alpha2digit(spaced, "en", threshold=0))


# --- the clock ---------------------------------------------------------------------------------

_NOW = re.compile(r"^(?P<weekday>\w+) (?P<day>\d+) (?P<month>\w+) (?P<year>\d{4}), (?P<h>\d\d):(?P<m>\d\d)")
"""The start of builtins.current_datetime's output: "Tuesday 24 November 2026, 17:19 (...)"."""


def _is_zone(place: str) -> bool:
    """Whether the clock knows the place as a time zone (an IANA name or its city)."""
    from rejoinder.tools.builtins import resolve_zone
    from rejoinder.tools.tool import ToolError

    try:
        return resolve_zone(place) is not None
    except ToolError:
        return False


def clock_sentence(question: str, result: ToolResult, place: str | None = None) -> str | None:
    found = _NOW.match(result.output) if result.ok else None
    if found is None:
        return None
    where = f"In {place.title()}, it's" if place else "It's"
    if re.search(r"\btime\b", question, re.IGNORECASE):
        hour, minute = int(found["h"]), int(found["m"])
        half = "AM" if hour < 12 else "PM"
        return f"{where} {(hour % 12) or 12}:{minute:02d} {half}."
    if place:
        return f"{where} {found['weekday']}, {found['day']} {found['month']} {found['year']}."
    return f"Today is {found['weekday']}, {found['day']} {found['month']} {found['year']}."


# --- arithmetic --------------------------------------------------------------------------------

_ASK = r"(?:what(?:'s|s| is| are| does| do)?|how much(?: is| does)?)"
_LEAD = re.compile(
    r"^(?:(?:so|ok|okay|hey|um|uh|well|now|and|quick question)\b[,\s]*)*(?:please[,\s]+)?"
    r"(?:(?:(?:can|could|would) you (?:please )?(?:tell me|work out|calculate|compute|do)|tell me)"
    rf"\s+(?:{_ASK}\s+)?"
    rf"|(?:{_ASK}|calculate|compute|work out)\s+)",
    re.IGNORECASE,
)
_TAIL = re.compile(
    r"(?:[\s,]+(?:please|exactly|equal|equals|make|makes|come to|give|give me|is|are|for me))*\W*$", re.I
)
_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d+)?)|(?P<op>plus|\+|minus|-|−|times|multiplied by|x|×|\*|divided by|over|/|÷|"
    r"to the power of|raised to the power of|raised to|\^|percent of|per cent of|% of)|"
    r"(?P<post>squared|cubed)|(?P<neg>negative))(?=\W|\d|$)",
    re.IGNORECASE,
)
_SYMBOL = {
    "plus": "+", "+": "+", "minus": "-", "-": "-", "−": "-", "times": "*", "multiplied by": "*",
    "x": "*", "×": "*", "*": "*", "divided by": "/", "over": "/", "/": "/", "÷": "/",
    "to the power of": "**", "raised to the power of": "**", "raised to": "**", "^": "**",
    "percent of": "/ 100 *", "per cent of": "/ 100 *", "% of": "/ 100 *",
}  # fmt: skip
_WORD = {"+": "plus", "-": "minus", "*": "times", "/": "divided by", "**": "to the power of"}
MAX_OPERANDS = 6


def spoken_arithmetic(text: str) -> tuple[str, str] | None:
    """("17 * 23", "17 times 23") for "What is seventeen times twenty-three?"; None unless the
    whole request is numbers and operators after its opening words."""
    digits = re.sub(r"(?<=\d),(?=\d{3}\b)", "", _digits(text))
    digits = re.sub(r"(?<=\d)\s*[x×]\s*(?=\d)", " times ", digits)  # "17x23"
    lead = _LEAD.match(digits)
    if lead is None:
        return None
    body = _TAIL.sub("", digits[lead.end() :])
    body = re.sub(r"^the (?:result|answer|value) of\s+", "", body, flags=re.IGNORECASE)
    expression: list[str] = []
    spoken: list[str] = []
    position, operands, want_operand = 0, 0, True
    while position < len(body):
        token = _TOKEN.match(body, position)
        if token is None:
            return None
        position = token.end()
        kind = token.lastgroup
        value = token.group(kind or "").lower()
        if want_operand and kind == "num":
            expression.append(value)
            spoken.append(value)
            operands, want_operand = operands + 1, False
        elif want_operand and (kind == "neg" or (kind == "op" and _SYMBOL[value] == "-")):
            expression.append("-")
            spoken.append("minus")
        elif not want_operand and kind == "post":
            expression.append("** 2" if value == "squared" else "** 3")
            spoken.append(value)
        elif not want_operand and kind == "op":
            symbol = _SYMBOL[value]
            expression.append(symbol)
            spoken.append("percent of" if symbol.startswith("/ 100") else _WORD[symbol])
            want_operand = True
        else:
            return None
    if want_operand or operands > MAX_OPERANDS or len(expression) < 2:
        return None  # a lone number, or an operator with nothing after it
    return " ".join(expression), " ".join(spoken)


def sum_sentence(spoken: str, result: ToolResult) -> str | None:
    if not result.ok:
        return cannot(result)
    try:
        value = evaluate(result.output)
    except CalculationError:
        return None
    return f"{spoken} is {_rounded(value)}."


def _rounded(value: float) -> str:
    """Exact integers as they are; other results to three decimals (or four significant digits),
    said as "about"."""
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    text = f"{value:.3f}" if abs(value) >= 0.001 else f"{value:.4g}"
    text = text.rstrip("0").rstrip(".") if "e" not in text else text
    return text if float(text) == value else f"about {text}"
