"""The accuracy eval's answer keys, question set and bookkeeping, on fake stages (no models)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from fake_engine import fake_engine
from rejoinder.backends.fake import FakeLLM
from rejoinder.config import Config, RouterConfig, ToolsConfig
from rejoinder.errors import BadInputError
from rejoinder.evals.accuracy import report, run_eval
from rejoinder.evals.questions import CATEGORIES, Conversation, Turn, is_correct, load, normalise
from rejoinder.routers import Router
from rejoinder.stages.llm import Message


def turn(accept: list[str], reject: list[str] | None = None, text: str = "q") -> Turn:
    return Turn(text, Path("unused.flac"), tuple(accept), tuple(reject or ()))


@pytest.mark.parametrize(
    "reply,expected",
    [
        ("Twelve times four is forty-eight.", True),
        ("12 times 4 is 48.", True),
        ("It is 480.", False),
        ("Forty eight.", True),
        ("The answer is 1,048.", False),
    ],
)
def test_spelled_and_written_numbers_both_count(reply: str, expected: bool) -> None:
    assert is_correct(turn([r"\b48\b"]), reply) is expected


def test_normalise_turns_number_words_into_digits() -> None:
    assert normalise("Nine point nine is bigger than nine point one one.") == "9.9 is bigger than 9.11."
    assert normalise("It has  One   Thousand two hundred legs") == "it has 1200 legs"
    assert normalise("You have 1,000 apples") == "you have 1000 apples"


def test_any_of_several_alternatives_and_reject_patterns() -> None:
    key = turn(["leonardo", "da ?vinci"])
    assert is_correct(key, "Da Vinci painted it.") and is_correct(key, "It was Leonardo.")
    assert not is_correct(key, "Michelangelo painted it.")
    sheep = turn([r"\b8\b"], [r"\b7 (sheep )?(are )?left"])
    assert is_correct(sheep, "Eight sheep are left.")
    assert not is_correct(sheep, "15 minus 8 is 7, so 7 sheep are left.")  # says 8 but answers 7


def test_the_bundled_set() -> None:
    conversations = load()
    scored = [t for c in conversations for t in c.turns if t.scored]
    assert len(scored) >= 60
    assert {c.category for c in conversations} == set(CATEGORIES)
    for category in CATEGORIES:  # every category has questions in both splits
        assert {c.split for c in conversations if c.category == category} == {"tune", "holdout"}
    assert any(len(c.turns) == 3 for c in conversations)
    assert all(t.audio.is_file() for c in conversations for t in c.turns)
    assert len({c.id for c in conversations}) == len(conversations)


def test_a_broken_question_set_is_one_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "q.json"
    bad.write_text(json.dumps({"voices": [{}], "conversations": [{"id": "x", "category": "facts"}]}))
    with pytest.raises(BadInputError, match="not a valid question set"):
        load(bad)
    bad.write_text(
        json.dumps(
            {
                "voices": [{}],
                "conversations": [
                    {
                        "id": "x",
                        "category": "facts",
                        "split": "tune",
                        "voice": 0,
                        "turns": [{"text": "q", "accept": ["("]}],
                    }
                ],
            }
        )
    )
    with pytest.raises(BadInputError, match="bad pattern"):
        load(bad)


def knows(messages: list[Message]) -> str:
    """A strong fake that answers from the whole conversation."""
    said = " ".join(m["content"] for m in messages if m["role"] == "user")
    question = messages[-1]["content"]
    if "my name" in question:
        return "Your name is Sarah." if "Sarah" in said else "I do not know."
    if "12 times 4" in question:
        return "12 × 4 = 48."
    return "Nice to meet you."


def test_three_configurations_scored_per_category_and_tier() -> None:
    small, strong = FakeLLM(reply="I think it is 42."), FakeLLM(reply=knows)
    engine = fake_engine()
    engine.config = Config(  # the models' answers are scored here, not the calculator's
        router=RouterConfig(enabled=True, strategy="features"), tools=ToolsConfig(direct=False)
    )
    engine.use_tiers([small, strong], Router(engine.config.router))
    conversations = [
        Conversation("arith", "arithmetic", "tune", (turn([r"\b48\b"], text="What is 12 times 4?"),)),
        Conversation(
            "name",
            "follow-ups",
            "holdout",
            (turn([], text="Hi, my name is Sarah."), turn(["sarah"], text="What is my name?")),
        ),
    ]
    seen: list[tuple[str, int, int]] = []
    runs = asyncio.run(
        run_eval(engine, conversations, progress=lambda *a: seen.append(a), text_only=True)  # type: ignore[arg-type]
    )
    result = report(engine, runs, True, 1.0)
    by_name = {c["config"]: c for c in result["configs"]}
    assert by_name["routed"]["overall"] == {"correct": 2, "scored": 2, "accuracy": 1.0}
    assert by_name["routed"]["per_tier"]["small"]["turns"] == 1  # the greeting
    assert by_name["routed"]["per_tier"]["strong"]["turns"] == 2
    assert by_name["small-only"]["overall"]["accuracy"] == 0.0
    assert by_name["strong-only"]["per_split"]["holdout"]["accuracy"] == 1.0
    assert by_name["routed"]["per_category"]["follow-ups"]["scored"] == 1
    spoken = [t["reply"] for t in result["turns"] if t["config"] == "strong-only"]
    assert spoken[0] == "12 times 4 is 48."  # what was said, made speakable
    assert seen[-1] == ("strong-only", 3, 3)
