"""Does a (speculative) transcript read as unfinished? The words side of end-of-turn detection.

Smart Turn hears prosody; a synthetic or flat voice can sound final in the middle of a sentence
("My flight leaves from..."). These are general syntactic cues, not tuned phrases: a trailing
ellipsis, comma or dash (Whisper writes them for a voice that trails off), a last word that
cannot end an English sentence (an article or possessive, a conjunction, a preposition outside
a wh-question, a copula with nothing after it, a subject pronoun, a filler), or digits being
dictated after "number", "code" and the like, which people read out in groups. Words that also
end sentences as particles or adverbs ("turn it on", "I've seen it before", "I think so") are
left out: a false "unfinished" costs waiting, a false "finished" costs a cut-off, and the
model still judges what these rules pass. Pieces that people dictate with pauses between them
also hold the turn: digits (after "number", "code"... or in groups), spelled letters, a street
address or a month with what should follow it still missing, and a list of three or more short
items without its closing "and".
"""

from __future__ import annotations

import re

_FILLERS = {"uh", "um", "umm", "er", "erm", "ah", "eh", "hm", "hmm", "mm"}
_ALONE = {"well", "so", "and", "but", "and then", "so then", "and so", "okay so"}
"""Discourse openers that are unfinished when they are all that was said."""
_GREETINGS = {"hello", "hi", "hey", "hello there", "hi there", "hey there", "good morning",
              "good afternoon", "good evening", "excuse me"}  # fmt: skip
"""A greeting said alone: people usually go on after a short pause ("Hello, how are you
today?"). Measured: Moonshine wrote the text before that pause as "Hello?" (over the Realtime
WebSocket) or "Hello." (one word gives the STT little to punctuate from), with no comma to hold
the turn, and the answer to "Hello" cut the question off. A lone greeting waits for the cap."""
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
    r"\b(numbers?|code|pin|id|references?|account|phone|card|serial|tracking|zip|postcode|extension"
    r"|apartment|suite|flat|unit|floor|platform|gate|room)\b",
    re.IGNORECASE,
)
_STREET = {
    "street", "st", "road", "rd", "avenue", "ave", "lane", "drive", "boulevard", "way", "court",
    "place", "square", "terrace", "crescent", "highway",
}  # fmt: skip
_MONTHS = {
    "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december",
}  # fmt: skip
_LIST_END = {"and", "or", "nor", "plus", "etc"}
_MODALS = {"can", "could", "would", "should", "will", "must", "might", "may", "shall"}
_CLOSERS = {
    "thanks", "please", "too", "though", "then", "now", "again", "right", "okay", "ok", "yes", "no",
    "sir", "madam", "everyone", "anyway", "instead", "first", "today", "tomorrow", "tonight",
}  # fmt: skip
"""Words that end a sentence after a comma ("that's all, thanks"), unlike a second list item."""
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
    if content in _GREETINGS:
        return f"only the greeting {content!r}"
    if last in _DETERMINERS | _CONJUNCTIONS | _SUBJECTS:
        return f"ends with {last!r}"
    if last in _PREPOSITIONS and not (question and words[0] in _WH):
        return f"ends with {last!r}"  # "where are you from?" is complete; "send it to" is not
    if len(words) > 1 and words[-2] in {"and", "so", "but"} and last == "then":
        return f"ends with {words[-2] + ' then'!r}"
    if last in _MODALS and not question and not re.search(r"[.!]\W*$", stripped):
        return f"ends with {last!r} and no full stop"  # "we could" (trailing off), not "yes, I can."
    if last in _COPULAS and not question and not _WH.intersection(words[-4:-1]):
        return f"ends with {last!r}"  # "I know where it is" is complete; "the reason is" is not
    if words[0] in _SUBORDINATE and "," not in stripped and not question:
        return f"only the {words[0]!r} clause"
    if len(words) > 1 and words[-1] == "that" and words[-2] in _COPULAS and not question:
        return "ends with 'is that'"
    if _CHOICE_ALONE.fullmatch(" ".join(words)):
        return "a choice without its options"  # "Which is heavier" | "a kilogram of feathers or..."
    return _dictation_reason(stripped, words, question)


_CHOICE_ALONE = re.compile(
    r"(?:so |and |now |okay |ok )?(?:which|what|who)(?: one| of them| of the two)? "
    r"(?:is|are|was|would be|'s) (?:the )?(?:"
    + "|".join(
        "bigger smaller larger heavier lighter longer shorter taller faster slower older younger "  # noqa: SIM905
        "higher lower cheaper closer further farther hotter colder warmer cooler stronger weaker deeper "
        "wider thicker thinner easier harder safer healthier greater richer louder quieter brighter "
        "darker better worse".split()
    )
    + r"|more \w+|less \w+)"
)
"""The whole utterance is a comparison question that names nothing to compare ("Which is
heavier", "Which one is better"): said alone, the options nearly always follow."""


def _dictation_reason(stripped: str, words: list[str], question: bool) -> str | None:
    """Pieces people dictate with pauses between them: digits, letters, addresses, lists, dates."""
    if question:
        return None
    from text_to_num import alpha2digit

    stripped = alpha2digit(stripped, "en", threshold=0)  # Moonshine writes "four seven", Whisper "47"
    words = re.sub(r"[^\w\s']", " ", stripped.lower()).split() or words
    sentence = re.split(r"(?<=[.!?])\s+", stripped)[-1]
    if re.search(r"\d\W*$", stripped):
        if _DICTATION.search(stripped):
            return "dictating digits"
        groups = re.findall(r"\d+", " ".join(sentence.split()[-4:]))
        year = (len(groups) == 1 and re.fullmatch(r"(19|20)\d\d", groups[0]) is not None) or (
            len(groups) == 2 and groups[0] in ("19", "20") and len(groups[1]) == 2  # "twenty nineteen"
        )
        if not year and (
            len(groups) >= 2 or (groups and (len(groups[-1]) >= 3 or groups[-1].startswith("0")))
        ):
            return "dictating digits"
    tokens = sentence.rstrip(".!").split()
    if len(tokens) >= 2 and re.fullmatch(r"[B-HJ-Z]", tokens[-1].strip(","), re.IGNORECASE):
        return "spelling letters"  # a lone letter other than 'I' and 'A' (Moonshine writes "s")
    if words[-1] in _MONTHS:
        return "a date in progress"
    if words[-1] in _STREET and any(w.isdigit() for w in words[-5:-1]):
        return "an address in progress"
    pieces = [p.strip() for p in sentence.rstrip(".!").split(",")]
    last_words = set(re.sub(r"[^\w\s]", " ", pieces[-1].lower()).split())
    if len(pieces) >= 3 and all(0 < len(p.split()) <= 3 for p in pieces[-2:]) and not last_words & _LIST_END:
        return "a list without its closing 'and'"
    two = len(pieces) == 2 and len(pieces[1].split()) == 1 and len(pieces[0].split()) >= 2
    if two and pieces[1].lower() not in _CLOSERS and not pieces[1][0].isupper():
        return "a list of two without its closing 'and'"  # "I need eggs, milk."
    sentence_words = set(re.sub(r"[^\w\s]", " ", sentence.lower()).split())
    if (
        len(pieces) >= 2
        and re.search(r"\d", sentence)
        and len(pieces[-1].split()) <= 2
        and sentence_words & _STREET
    ):
        return "an address in progress"
    return None
