from __future__ import annotations

import pytest

from rejoinder.chunking import ClauseChunker, clean_for_speech
from rejoinder.config import ChunkerConfig


def chunks(text: str, step: int = 1, config: ChunkerConfig | None = None) -> list[str]:
    """Feed `text` in pieces of `step` characters, as an LLM token stream would arrive."""
    chunker = ClauseChunker(config)
    out: list[str] = []
    for i in range(0, len(text), step):
        out += chunker.push(text[i : i + step])
    return out + chunker.flush()


@pytest.mark.parametrize("step", [1, 3, 7, 1000])
def test_abbreviations_decimals_and_initials_do_not_split(step: int) -> None:
    text = "Dr. Smith paid $3.14 at 5 p.m. in the U.S. with J. R. R. Tolkien, e.g. yesterday. Then he left."
    assert chunks(text, step) == [  # and spoken as a person would say it (speakable.py)
        "Dr. Smith paid 3 dollars and 14 cents at 5 PM in the U.S. with J. R. R. Tolkien,",
        "for example yesterday.",
        "Then he left.",
    ]


def test_numbers_with_commas_and_decimals_stay_whole() -> None:
    assert chunks("It costs $1,000.50 today. Pi is 3.14159 roughly.") == [
        "It costs 1,000 dollars and 50 cents today.",
        "Pi is 3.14159 roughly.",
    ]


def test_first_clause_is_released_at_a_comma_before_the_sentence_ends() -> None:
    chunker = ClauseChunker()
    released: list[str] = []
    for piece in ["Rome is", " the capital", " of Italy,", " a city", " of seven hills"]:
        released += chunker.push(piece)
        if released:
            break
    assert released == ["Rome is the capital of Italy,"]


def test_a_single_word_before_a_comma_is_not_a_clause() -> None:
    assert chunks("Well, the answer is yes.") == ["Well, the answer is yes."]


def test_boundary_waits_for_the_next_character() -> None:
    chunker = ClauseChunker()
    assert chunker.push("Pi is 3.") == []  # could still become 3.14
    assert chunker.push("14 exactly. ") == ["Pi is 3.14 exactly."]


def test_lists_and_markdown_never_reach_the_tts() -> None:
    text = (
        "## Fruit\nHere are **three** fruits:\n1. *Apples* are red.\n"
        "2. Bananas 🍌 are `yellow`\n- Cherries\n---\nEnjoy! 😀"
    )
    got = chunks(text, 2)
    assert got == [
        "Fruit",
        "Here are three fruits:",
        "Apples are red.",
        "Bananas are yellow",
        "Cherries",
        "Enjoy!",
    ]
    for piece in got:
        assert not set(piece) & set("*#`_|🍌😀")


def test_code_blocks_are_dropped_whole() -> None:
    text = "Use this:\n```python\nprint('a. b. c.')\nx = 1, 2\n```\nThat prints letters."
    assert chunks(text, 4) == ["Use this:", "That prints letters."]


def test_unterminated_code_block_is_dropped() -> None:
    assert chunks("Sure:\n```\nrm -rf /tmp/x\n") == ["Sure:"]


def test_links_urls_and_emoji_only_pieces() -> None:
    assert (
        clean_for_speech("See [the docs](https://x.org/a) or https://y.org now 👍") == "See the docs or now"
    )
    assert chunks("🎉🎉\n") == []


def test_long_run_without_punctuation_is_cut_at_a_space() -> None:
    words = " ".join(f"word{i}" for i in range(70))
    got = chunks(words, 5, ChunkerConfig(max_words=20))
    assert all(len(p.split()) <= 21 for p in got)
    assert " ".join(got) == words


def test_question_and_exclamation_marks_end_sentences() -> None:
    assert chunks("Really? Yes! It is true.") == ["Really?", "Yes!", "It is true."]


def test_nothing_is_lost_from_plain_text() -> None:
    text = "One sentence here. Another one, with a comma; and a semicolon: done. Last"
    assert " ".join(chunks(text, 3)) == text


def test_control_characters_never_reach_the_voice() -> None:
    """Measured: a NUL in a model's reply made Piper's espeak raise and the turn fail."""
    chunker = ClauseChunker(ChunkerConfig())
    clauses = [*chunker.push("Rome\x00 is the\tcapital\x07 of Italy.\u200b "), *chunker.flush()]
    assert clauses == ["Rome is the capital of Italy."]


def test_first_clause_may_end_before_a_word_that_opens_a_new_clause() -> None:
    """Only the first clause, after 4 words, and not where the word binds to the one before."""
    assert chunks("The sky is blue because sunlight scatters. It is blue because of that.") == [
        "The sky is blue",
        "because sunlight scatters.",
        "It is blue because of that.",  # later clauses wait for punctuation
    ]
    assert chunks("I am not sure but I think it is Paris.") == ["I am not sure", "but I think it is Paris."]
    for whole in [
        "Photosynthesis is the process by which plants make food.",  # "by which"
        "It is not so much the heat as the humidity.",  # "not so"
        "Rain falls because clouds get heavy.",  # three words before "because"
    ]:
        assert chunks(whole) == [whole]
    off = ChunkerConfig(first_joiner_words=1000)
    assert chunks("The sky is blue because sunlight scatters.", config=off) == [
        "The sky is blue because sunlight scatters."
    ]


def test_first_clause_may_end_before_the_verb_after_a_long_subject() -> None:
    """Four words of subject or more, only in the first clause, never after a pronoun or a word that
    binds to the verb; the later clause keeps the rest of the sentence."""
    assert chunks("The largest planet in the solar system is Jupiter. It is big.") == [
        "The largest planet in the solar system",
        "is Jupiter.",
        "It is big.",
    ]
    assert chunks("The capital of Italy is Rome, which is old. The capital of Spain is Madrid.") == [
        "The capital of Italy",
        "is Rome, which is old.",
        "The capital of Spain is Madrid.",  # later clauses wait for punctuation
    ]
    for whole in [
        "A spider has eight legs.",  # two words of subject
        "There are seven days in a week.",
        "I think that it is Paris.",  # a pronoun before the verb
        "Photosynthesis is the process by which plants make food.",
        "To find out how much you will have in 30 years we multiply.",  # "will have": one verb
        "Answers to questions like these must have evidence.",
    ]:
        assert chunks(whole) == [whole]
    off = ChunkerConfig(first_verb_words=1000)
    assert chunks("The capital of Italy is Rome.", config=off) == ["The capital of Italy is Rome."]
