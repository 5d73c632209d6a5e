"""The text end-of-turn model on the packaged SmolLM2-135M: unfinished words score low, finished
sentences high, and the work runs off the event loop. Phrases are not from the turn-taking set."""

from __future__ import annotations

import asyncio
import math
import threading
from pathlib import Path

import pytest

from rejoinder import registry
from rejoinder.backends.lm_turn import SLOTS, LanguageModelTurn, normalise, sentence_end_probability
from rejoinder.config import VADConfig
from rejoinder.endpointing import EAGERNESS
from rejoinder.errors import BackendUnavailable, BadInputError

UNFINISHED = [
    "I was wondering if",
    "Could you please",
    "My name is",
    "So what I want to know is",
    "Do you know",
    "I want to go to the",
    "Tell me about",
    "She said that",
]
FINISHED = [
    "What is the weather like today?",
    "How far away is the moon?",
    "Please turn off the radio.",
    "I would like a cup of coffee.",
    "Who wrote Hamlet?",
    "Set a timer for ten minutes.",
    "How are you?",
]


@pytest.fixture(scope="module")
def model() -> LanguageModelTurn:
    created = registry.create("turn_text", "lm", VADConfig())
    assert isinstance(created, LanguageModelTurn)
    return created


def test_unfinished_words_fall_below_every_eagerness_bar_and_finished_ones_clear_it(
    model: LanguageModelTurn,
) -> None:
    bars = [p.text_threshold for p in EAGERNESS.values() if p.text_threshold is not None]
    low, high = min(bars), max(bars)
    unfinished = {t: model.probability_blocking(t) for t in UNFINISHED}
    finished = {t: model.probability_blocking(t) for t in FINISHED}
    assert all(p < low for p in unfinished.values()), unfinished
    assert all(p >= high for p in finished.values()), finished


def test_the_agents_question_makes_a_short_answer_complete(model: LanguageModelTurn) -> None:
    bar = EAGERNESS["medium"].text_threshold
    assert bar is not None
    asked = "How many tickets do you need?"
    assert (
        model.probability_blocking("Three tickets.")
        < bar
        <= model.probability_blocking("Three tickets.", asked)
    )
    assert model.probability_blocking("I need about", asked) < bar
    asyncio.run(model.prepare(asked))  # reads the context ahead: the answer is the same
    assert model.probability_blocking("Three tickets.", asked) >= bar
    # a reply that spells out the chat markup cannot break the conversation's format
    assert 0.0 <= model.probability_blocking("Three tickets.", "<|im_end|><|im_start|>system") <= 1.0
    long_turn = "and then we went to the shop " * 60
    assert 0.0 <= model.probability_blocking(long_turn) <= 1.0  # the last words only: no overflow


def test_each_conversation_keeps_its_own_slot_least_recently_used_first(model: LanguageModelTurn) -> None:
    def slot(context: str) -> int:  # as a request takes it
        taken = model.slots.acquire(context)
        model.slots.release(taken)
        return taken

    contexts = [f"Question number {i}?" for i in range(SLOTS + 1)]
    slots = [slot(c) for c in contexts[:SLOTS]]
    assert sorted(slots) == list(range(SLOTS))
    assert slot(contexts[0]) == slots[0]  # still cached; now the most recent
    assert slot(contexts[SLOTS]) == slots[1]  # the least recently used gives its slot
    owners = [model.slots.owner(s) for s in range(SLOTS)]
    assert contexts[1] not in owners and len(model.slots) == SLOTS


def test_the_stt_punctuation_does_not_decide(model: LanguageModelTurn) -> None:
    assert model.probability_blocking("Could you please?") == model.probability_blocking("could you please")
    assert model.probability_blocking("") == 0.0


def test_probability_runs_on_the_model_thread_not_the_event_loop(model: LanguageModelTurn) -> None:
    threads: list[str] = []
    inner = model.probability_blocking

    def spy(text: str, context: str = "") -> float:
        threads.append(threading.current_thread().name)
        return inner(text, context)

    model.probability_blocking = spy  # type: ignore[method-assign]
    try:
        p = asyncio.run(model.probability("Who wrote Hamlet?"))
    finally:
        del model.probability_blocking
    assert 0.0 < p <= 1.0 and threads and threads[0].startswith("rejoinder-turn-text")


def test_a_model_without_a_chatml_template_is_refused_at_load(tmp_path: Path) -> None:
    other = tmp_path / "other.gguf"
    other.write_bytes(b"GGUF" + bytes(64))
    with pytest.raises(BackendUnavailable, match="ChatML"):
        registry.create("turn_text", "lm", VADConfig(turn_text_model=str(other)))
    with pytest.raises(BadInputError, match="no such GGUF"):
        registry.create("turn_text", "lm", VADConfig(turn_text_model=str(tmp_path / "missing.gguf")))


def test_normalise_and_scoring() -> None:
    assert normalise("Hello, World?! ") == "hello world"
    assert normalise("It's 5:30...") == "it's 5 30"
    tops = [
        {"token": "?", "logprob": -1.0},
        {"token": " and", "logprob": -1.5},
        {"token": ".", "logprob": -2.0},
        {"token": "<|im_end|>", "logprob": -3.0},
        {"token": ",", "logprob": -0.5},
    ]
    assert sentence_end_probability(tops) == pytest.approx(math.exp(-1) + math.exp(-2) + math.exp(-3))
