"""Does a (speculative) transcript read as unfinished? The words side of end-of-turn detection.

Smart Turn hears prosody; a synthetic or flat voice can sound final in the middle of a sentence
("My flight leaves from..."). These are general syntactic cues, not tuned phrases: a trailing
ellipsis, comma or dash (Whisper writes them for a voice that trails off), a last word that
cannot end an English sentence (an article or possessive, a conjunction, a preposition outside
a wh-question, a copula with nothing after it, a subject pronoun, a filler), or digits being
dictated after "number", "code" and the like, which people read out in groups. Words that also
end sentences as particles or adverbs ("turn it on", "I've seen it before", "I think so") are
left out: a false "unfinished" costs waiting, a false "finished" costs a cut-off, and the
model still judges what these rules pass.
"""

from __future__ import annotations

import re

_FILLERS = {"uh", "um", "umm", "er", "erm", "ah", "eh", "hm", "hmm", "mm"}
_ALONE = {"well", "so", "and", "but", "and then", "so then", "and so", "okay so"}
"""Discourse openers that are unfinished when they are all that was said."""
_DETERMINERS = {"a", "an", "the", "my", "your", "our", "their", "its", "every", "some"}
_CONJUNCTIONS = {
    "and",
    "or",
    "but",
    "because",
    "if",
    "than",
    "while",
    "whether",
    "although",
    "unless",
    "until",
}
_PREPOSITIONS = {
    "to",
    "for",
    "from",
    "of",
    "at",
    "with",
    "into",
    "onto",
    "between",
    "towards",
    "toward",
    "via",
}
_COPULAS = {
    "is",
    "are",
    "was",
    "were",
    "am",
    "i'm",
    "it's",
    "we're",
    "you're",
    "they're",
    "i'd",
    "i'll",
    "let's",
}
_SUBJECTS = {"i", "we", "he", "she", "they"}
_SUBORDINATE = {"if", "although", "though", "unless", "whenever"}
"""A clause opened by one of these needs a main clause after it."""
_WH = {"what", "where", "who", "whom", "which", "how", "when", "why", "whose"}
_DICTATION = re.compile(
    r"\b(numbers?|code|pin|id|references?|account|phone|card|serial|tracking|zip|postcode|extension)\b",
    re.IGNORECASE,
)
_TRAILING = re.compile(r"(\.\.\.|…|,|-|–|—|:)\s*$")


def unfinished_reason(text: str) -> str | None:
    """Why the text reads as unfinished, or None if it may be a complete turn."""
    stripped = text.strip()
    if not stripped:
        return None
    if _TRAILING.search(stripped):
        return "trails off"
    words = re.sub(r"[^\w\s']", " ", stripped.lower()).split()
    if not words:
        return None
    last, question = words[-1], stripped.endswith("?")
    if last in _FILLERS:
        return f"ends with filler {last!r}"
    content = " ".join(w for w in words if w not in _FILLERS)
    if content in _ALONE:
        return f"only {content!r}"
    if last in _DETERMINERS | _CONJUNCTIONS | _SUBJECTS:
        return f"ends with {last!r}"
    if last in _PREPOSITIONS and not (question and words[0] in _WH):
        return f"ends with {last!r}"  # "where are you from?" is complete; "send it to" is not
    if last in _COPULAS and not question and not _WH.intersection(words[-4:-1]):
        return f"ends with {last!r}"  # "I know where it is" is complete; "the reason is" is not
    if words[0] in _SUBORDINATE and "," not in stripped and not question:
        return f"only the {words[0]!r} clause"
    if len(words) > 1 and words[-1] == "that" and words[-2] in _COPULAS and not question:
        return "ends with 'is that'"
    if re.search(r"\d\W*$", stripped) and _DICTATION.search(stripped):
        return "dictating digits"
    return None
