"""Speakable answers: what the TTS receives is what a person would say."""

from __future__ import annotations

import pytest

from rejoinder.chunking import ClauseChunker
from rejoinder.speakable import speakable

CASES = [
    # arithmetic: no "=" or bare operators read aloud
    ("12 × 4 = 48.", "12 times 4 is 48."),
    ("12*4 is 48", "12 times 4 is 48"),
    ("12 x 4 = 48", "12 times 4 is 48"),
    ("So 2 * 3 * 4 = 24.", "So 2 times 3 times 4 is 24."),
    ("10 ÷ 2 = 5", "10 divided by 2 is 5"),
    ("12 / 4 = 3", "12 divided by 4 is 3"),
    ("12/4 = 3", "12 divided by 4 is 3"),
    ("2 + 2 = 4", "2 plus 2 is 4"),
    ("5+3", "5 plus 3"),
    ("96 - 38 = 58", "96 minus 38 is 58"),
    ("x² + 1", "x squared plus 1"),
    ("7^2 = 49", "7 squared is 49"),
    ("2^10 = 1024", "2 to the power of 10 is 1024"),
    ("√81 = 9", "the square root of 81 is 9"),
    ("a b = c", "a b is c"),
    ("9.11 < 9.9", "9.11 is less than 9.9"),
    ("10 > 3", "10 is greater than 3"),
    ("π ≈ 3.14", "pi is about 3.14"),
    ("It is −3 degrees.", "It is minus 3 degrees."),
    ("-5 plus 2", "minus 5 plus 2"),
    ("A 3x speedup", "A 3 times speedup"),
    # fractions and ranges
    ("3/4 of the cake", "3 quarters of the cake"),
    ("1/2 cup", "1 half cup"),
    ("2/3 of them", "2 thirds of them"),
    ("5-10 minutes", "5 to 10 minutes"),
    ("1–2 days", "1 to 2 days"),
    ("from 2024-2025", "from 2024 to 2025"),
    ("Call 555-1234", "Call 555-1234"),
    # percent, money, temperature
    ("25% of 200 is 50.", "25 percent of 200 is 50."),
    ("It costs $5.50.", "It costs 5 dollars and 50 cents."),
    ("$1 each", "1 dollar each"),
    ("$20.00", "20 dollars"),
    ("About $1.5 million.", "About 1.5 million dollars."),
    ("£3.01", "3 pounds and 1 penny"),
    ("€10", "10 euros"),
    ("It is 30°C today.", "It is 30 degrees Celsius today."),
    ("-5°C", "minus 5 degrees Celsius"),
    ("Water boils at 212 °F.", "Water boils at 212 degrees Fahrenheit."),
    ("100 degrees C", "100 degrees Celsius"),
    ("The angle is 90°.", "The angle is 90 degrees."),
    ("1°", "1 degree"),
    # units
    ("60 km/h", "60 kilometers per hour"),
    ("It weighs 5 kg.", "It weighs 5 kilograms."),
    ("1 km", "1 kilometer"),
    ("3.5kg", "3.5 kilograms"),
    ("100 m sprint", "100 meters sprint"),
    ("3 hrs", "3 hours"),
    ("65 mph", "65 miles per hour"),
    ("9.8 m/s", "9.8 meters per second"),
    ("RAM is 16 GB.", "RAM is 16 gigabytes."),
    ("500 ml", "500 milliliters"),
    ("6 ft tall", "6 feet tall"),
    ("5m", "5m"),
    # clock times and decades
    ("The meeting is at 3:05 pm.", "The meeting is at 3 oh 5 PM."),
    ("At 10:00 AM.", "At 10 AM."),
    ("at 10:00.", "at 10 o'clock."),
    ("It ends at 9:30.", "It ends at 9 30."),
    ("at 5 p.m. sharp", "at 5 PM sharp"),
    ("In the 1990s and the 80s.", "In the 19 nineties and the eighties."),
    ("the 1900s", "the 19 hundreds"),
    # symbols and written-only abbreviations
    ("Tom & Jerry", "Tom and Jerry"),
    ("e.g. apples, i.e. fruit, etc.", "for example apples, that is fruit, and so on."),
    ("cats vs. dogs", "cats versus dogs"),
    ("He/she", "He or she"),
    ("#1 hit", "number 1 hit"),
    ("~5 minutes", "about 5 minutes"),
    ("email me @ home", "email me at home"),
    # left alone
    ("The capital of Italy is Rome.", "The capital of Italy is Rome."),
    ("1,000,000 people", "1,000,000 people"),
    ("Pi is 3.14159.", "Pi is 3.14159."),
    ("It has 8 legs.", "It has 8 legs."),
    ("In 1969, Apollo 11 landed.", "In 1969, Apollo 11 landed."),
]


@pytest.mark.parametrize("written,spoken", CASES)
def test_written_to_spoken(written: str, spoken: str) -> None:
    assert speakable(written) == spoken


@pytest.mark.parametrize("written,spoken", CASES)
def test_idempotent(written: str, spoken: str) -> None:
    assert speakable(spoken) == spoken


@pytest.mark.parametrize("written", [w for w, _ in CASES])
def test_no_symbol_is_left_to_be_read_aloud(written: str) -> None:
    assert not set(speakable(written)) & set("=*×÷+^<>%$€£°√≈~#&|_")


def test_chunker_output_is_speakable_and_keeps_a_minus_in_one_clause() -> None:
    chunker = ClauseChunker()
    out: list[str] = []
    for ch in "The answer to 15 - 7 is 8, and 12 × 4 = 48. It costs $5.50 at 3:05 pm. Done":
        out += chunker.push(ch)
    assert out + chunker.flush() == [
        "The answer to 15 minus 7",  # the first clause ends before the verb (not at the minus)
        "is 8, and 12 times 4 is 48.",
        "It costs 5 dollars and 50 cents at 3 oh 5 PM.",
        "Done",
    ]
