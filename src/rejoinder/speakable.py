"""Written answer -> what a person would say: symbols, operators, units and currency in words.

LLMs write for the eye ("12 × 4 = 48", "$5.50", "30°C", "60 km/h", "3:05"); a TTS reads that
literally or drops it ("twelve four equals forty-eight", "dollar five point five zero", "thirty
degrees C", "sixty K M slash H", "three zero five"). Numbers themselves stay digits: every TTS
here reads plain numbers well. Applied to each clause after markdown is stripped
(chunking.clean_for_speech), so it never sees code or list markers.
"""

from __future__ import annotations

import re
from collections.abc import Callable

_NUM = r"\d+(?:[.,]\d+)*"
"""A number as written: 12, 3.5, 1,000,000."""

Rule = tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]


def _plural(number: str, singular: str, plural: str) -> str:
    return singular if number in ("1", "1.0") else plural


_CURRENCIES = {
    "$": ("dollar", "dollars"),
    "£": ("pound", "pounds"),
    "€": ("euro", "euros"),
    "¥": ("yen", "yen"),
}


def _money(m: re.Match[str]) -> str:
    symbol, amount, scale = m.group(1), m.group(2), (m.group(3) or "").strip()
    one, many = _CURRENCIES[symbol]
    if scale:
        return f"{amount} {scale} {many}"
    whole, _, cents = amount.partition(".")
    if len(cents) == 2 and symbol in "$£€":
        unit = _plural(whole, one, many)
        sub = ("cent", "cents") if symbol != "£" else ("penny", "pence")
        if cents == "00":
            return f"{whole} {unit}"
        return f"{whole} {unit} and {int(cents)} {_plural(str(int(cents)), *sub)}"
    return f"{amount} {_plural(amount, one, many)}"


_UNITS: dict[str, tuple[str, str]] = {
    "km/h": ("kilometer per hour", "kilometers per hour"),
    "kph": ("kilometer per hour", "kilometers per hour"),
    "mph": ("mile per hour", "miles per hour"),
    "m/s": ("meter per second", "meters per second"),
    "km²": ("square kilometer", "square kilometers"),
    "m²": ("square meter", "square meters"),
    "km": ("kilometer", "kilometers"),
    "cm": ("centimeter", "centimeters"),
    "mm": ("millimeter", "millimeters"),
    "kg": ("kilogram", "kilograms"),
    "mg": ("milligram", "milligrams"),
    "lbs": ("pound", "pounds"),
    "lb": ("pound", "pounds"),
    "oz": ("ounce", "ounces"),
    "ft": ("foot", "feet"),
    "mi": ("mile", "miles"),
    "ml": ("milliliter", "milliliters"),
    "mL": ("milliliter", "milliliters"),
    "hrs": ("hour", "hours"),
    "hr": ("hour", "hours"),
    "mins": ("minute", "minutes"),
    "min": ("minute", "minutes"),
    "secs": ("second", "seconds"),
    "sec": ("second", "seconds"),
    "ms": ("millisecond", "milliseconds"),
    "kWh": ("kilowatt hour", "kilowatt hours"),
    "kW": ("kilowatt", "kilowatts"),
    "GHz": ("gigahertz", "gigahertz"),
    "MHz": ("megahertz", "megahertz"),
    "kHz": ("kilohertz", "kilohertz"),
    "Hz": ("hertz", "hertz"),
    "TB": ("terabyte", "terabytes"),
    "GB": ("gigabyte", "gigabytes"),
    "MB": ("megabyte", "megabytes"),
    "KB": ("kilobyte", "kilobytes"),
    "kB": ("kilobyte", "kilobytes"),
}
_SPACED_UNITS: dict[str, tuple[str, str]] = {
    # single letters only after a space ("5 m"), never glued ("5m" could be anything)
    "m": ("meter", "meters"),
    "g": ("gram", "grams"),
    "l": ("liter", "liters"),
    "L": ("liter", "liters"),
    "h": ("hour", "hours"),
    "s": ("second", "seconds"),
}


def _unit_rule(units: dict[str, tuple[str, str]], gap: str) -> Rule:
    names = "|".join(re.escape(u) for u in sorted(units, key=len, reverse=True))
    pattern = re.compile(rf"(?<![\w.])({_NUM}){gap}({names})(?![\w/²])")
    return pattern, lambda m: f"{m.group(1)} {_plural(m.group(1), *units[m.group(2)])}"


_FRACTIONS = {
    2: ("half", "halves"),
    3: ("third", "thirds"),
    4: ("quarter", "quarters"),
    5: ("fifth", "fifths"),
}
_FRACTIONS.update({n: (w, w + "s") for n, w in [(6, "sixth"), (8, "eighth"), (10, "tenth")]})


def _slash(m: re.Match[str]) -> str:
    a, b = int(m.group(1)), int(m.group(2))
    if 0 < a < b and b in _FRACTIONS:
        return f"{a} {_FRACTIONS[b][a != 1]}"
    return f"{a} divided by {b}"


def _clock(m: re.Match[str]) -> str:
    hour, minute, suffix = m.group(1), m.group(2), m.group(3) or ""
    if not minute:
        spoken = hour
    elif minute == "00":
        spoken = f"{hour} o'clock" if not suffix else hour
    elif minute.startswith("0"):
        spoken = f"{hour} oh {minute[1]}"
    else:
        spoken = f"{hour} {minute}"
    if suffix:
        spoken += " " + suffix.strip().replace(".", "").upper()
        if suffix.endswith(".") and not m.string[m.end() :].strip():
            spoken += "."  # "p.m." ended the sentence too
    return spoken


def _range(m: re.Match[str]) -> str:
    """Ranges like 5-10 and 2024-2025 are spoken; 555-1234 (a phone number) is left alone."""
    a, b = m.group(1), m.group(2)
    return f"{a} to {b}" if (len(a) == 4) == (len(b) == 4) else m.group(0)


_DECADES = {"1": "tens", "2": "twenties", "3": "thirties", "4": "forties", "5": "fifties"}
_DECADES.update({"6": "sixties", "7": "seventies", "8": "eighties", "9": "nineties"})


def _decade(m: re.Match[str]) -> str:
    century, tens = m.group(1) or "", m.group(2)
    if tens == "0":
        return f"{century} hundreds" if century and century != "20" else "two thousands"
    return f"{century} {_DECADES[tens]}".strip()


_RULES: list[Rule] = [
    # characters with a spoken name wherever they stand
    (re.compile(r"(\d)\s*[\u2013\u2014]\s*(\d)"), r"\1 to \2"),
    (re.compile(r"\u2212"), "-"),
    (re.compile(r"\s*≈\s*"), " is about "),
    (re.compile(r"\s*≠\s*"), " is not "),
    (re.compile(r"\s*≤\s*"), " is at most "),
    (re.compile(r"\s*≥\s*"), " is at least "),
    (re.compile(r"\s*±\s*"), " plus or minus "),
    (re.compile(r"\s*→\s*"), " to "),
    (re.compile(r"√\s*(\(?[\w.]+\)?)"), r"the square root of \1"),
    (re.compile(r"π"), " pi "),
    (re.compile(r"∞"), " infinity "),
    (re.compile(r"½"), " one half "),
    (re.compile(r"¼"), " one quarter "),
    (re.compile(r"¾"), " three quarters "),
    (re.compile(r"(?<=\w)\s*²"), " squared"),
    (re.compile(r"(?<=\w)\s*³"), " cubed"),
    # money, temperature, percent, units: "$5.50", "30°C", "25%", "60 km/h"
    (re.compile(rf"([$£€¥])\s?({_NUM})(\s?(?:thousand|million|billion|trillion)\b)?"), _money),
    (re.compile(rf"(-?{_NUM})\s?°\s?C\b"), r"\1 degrees Celsius"),
    (re.compile(rf"(-?{_NUM})\s?°\s?F\b"), r"\1 degrees Fahrenheit"),
    (re.compile(rf"(-?{_NUM})\s?degrees C\b"), r"\1 degrees Celsius"),
    (re.compile(rf"(-?{_NUM})\s?degrees F\b"), r"\1 degrees Fahrenheit"),
    (re.compile(rf"({_NUM})\s?°"), lambda m: f"{m.group(1)} {_plural(m.group(1), 'degree', 'degrees')}"),
    (re.compile(r"\s?%"), " percent"),
    _unit_rule(_UNITS, r"\s?"),
    _unit_rule(_SPACED_UNITS, r" "),
    # clock times and decades: "3:05 pm", "10:00", "the 1990s"
    (re.compile(r"\b(\d{1,2}):(\d\d)(\s?(?:[ap]\.?m\.?|[AP]\.?M\.?)(?!\w))?"), _clock),
    (re.compile(r"\b(\d{1,2})()(\s?(?:[ap]\.m\.|[AP]\.M\.)(?!\w))"), _clock),
    (re.compile(r"\b(1\d|20)?(\d)0'?s\b"), _decade),
    # arithmetic between numbers: "12 × 4 = 48", "12*4", "3/4", "5 - 3", "2^10"
    (re.compile(r"(\d)\s*[*×·]\s*(?=-?\d)"), r"\1 times "),
    (re.compile(r"(\d)\s*x\s*(?=\d)"), r"\1 times "),
    (re.compile(r"\b(\d+)x\b"), r"\1 times"),
    (re.compile(r"(\d)\s*÷\s*(?=-?\d)"), r"\1 divided by "),
    (re.compile(r"(\d)\s+/\s+(?=-?\d)"), r"\1 divided by "),
    (re.compile(r"(?<![\d/])(\d+)/(\d+)(?![\d/])"), _slash),
    (re.compile(r"(\d)\s*\+\s*(?=-?\d)"), r"\1 plus "),
    (re.compile(r"(\d)\s+-\s+(?=\d)"), r"\1 minus "),
    (re.compile(r"\s\+\s"), " plus "),
    (re.compile(r"(?<![\w.-])(\d{1,3}|\d{4})-(\d{1,3}|\d{4})(?![\w.-])"), _range),
    (re.compile(r"(\d)\s*\^\s*2\b"), r"\1 squared"),
    (re.compile(r"(\d)\s*\^\s*3\b"), r"\1 cubed"),
    (re.compile(r"(\w)\s*\^\s*(-?\d+)"), r"\1 to the power of \2"),
    (re.compile(r"(?<![\w.)-])-(?=\d)"), "minus "),
    (re.compile(r"\s*={1,3}\s*"), " is "),
    (re.compile(r"\s*<\s*(?=-?\d)"), " is less than "),
    (re.compile(r"\s*>\s*(?=-?\d)"), " is greater than "),
    # other symbols and written-only abbreviations
    (re.compile(r"\s*&\s*"), " and "),
    (re.compile(r"(?<=\w)\s*@\s*(?=\w)"), " at "),
    (re.compile(r"#\s?(?=\d)"), "number "),
    (re.compile(r"~\s?(?=\d)"), "about "),
    (re.compile(r"\b(?:e\.g\.|eg\.)(?=\s|,|$)", re.I), "for example"),
    (re.compile(r"\bi\.e\.(?=\s|,|$)", re.I), "that is"),
    (re.compile(r"\betc\.(?=\s*$)"), "and so on."),
    (re.compile(r"\betc\.?"), "and so on"),
    (re.compile(r"\bvs\.?(?=\s)"), "versus"),
    (re.compile(r"\bapprox\.(?=\s)"), "approximately"),
    (re.compile(r"\bNo\.\s?(?=\d)"), "number "),
    (re.compile(r"(?<=[A-Za-z])/(?=[A-Za-z])"), " or "),
    (re.compile(r"[*_|\\~^<>{}\[\]=]+"), " "),
]


def speakable(text: str) -> str:
    """`text` as it should be spoken. Idempotent on its own output."""
    for pattern, repl in _RULES:
        text = pattern.sub(repl, text)
    text = re.sub(r"\s+([,.;:!?])", r"\1", text)
    return re.sub(r"\s{2,}", " ", text).strip()
