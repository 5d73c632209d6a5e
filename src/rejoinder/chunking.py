"""LLM token stream -> speakable clauses for the TTS.

The first clause is released as soon as it can be spoken (a sentence end, or a comma after a
few words) so speech starts while the LLM is still writing. Markdown, list markers, code and
emoji never reach the TTS. A boundary is only trusted once the character after it has arrived:
"3." might still become "3.14".
"""

from __future__ import annotations

import re
import unicodedata

from rejoinder.config import ChunkerConfig
from rejoinder.speakable import speakable

ABBREVIATIONS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "sr",
        "jr",
        "st",
        "mt",
        "ft",
        "vs",
        "etc",
        "e.g",
        "i.e",
        "approx",
        "dept",
        "est",
        "fig",
        "inc",
        "ltd",
        "co",
        "no",
        "vol",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "a.m",
        "p.m",
        "u.s",
        "u.k",
    ]
)

_END_MARK = r"[.!?…]+[\"')\]]*"
"""Sentence-final punctuation, with closing quotes or brackets after it."""
_SENTENCE_END = re.compile(_END_MARK + r"(?=\s)")
_ENDS_SENTENCE = re.compile(_END_MARK + r"\s*$")
_CLAUSE_END = re.compile(r"(?:[,;:](?=\s)|\s[-–—]{1,2}(?=\s+[^\s\d]))")
"""A comma, semicolon, colon or spaced dash, but not the minus of "5 - 3"."""
_FENCE = "```"
_JOINER = re.compile(r"\s(?=(?:because|which|but|so|while|since|although|when|where|unless)\s)", re.I)
"""Before a word that opens a new clause: the first clause may end there (config
first_joiner_words), unless the word before binds to it ("by which", "and so", "not so")."""
_BINDS = frozenset(
    "by in of to on at for from with into during through about under over and or not even just".split()  # noqa: SIM905
)
_VERB = re.compile(r"\s(?=(?:is|are|was|were|has|have|had|lies|sits|boils|freezes)\s)", re.I)
"""Before the verb after a long subject, where a speaker may breathe: "The largest planet in the
solar system | is Jupiter." (config first_verb_words); not after a pronoun or a word that binds."""
_SUBJECT_ENDS_NOT = _BINDS | frozenset(
    "it this that there here he she they we you i what who which whose a an the".split()  # noqa: SIM905
    + "its their his her my our your will would shall should can could may might must do does did".split()  # noqa: SIM905
)


def _is_emoji(ch: str) -> bool:
    cat = unicodedata.category(ch)
    return cat == "So" or cat == "Cs" or 0x1F000 <= ord(ch) <= 0x1FAFF or ch in "\u200d\ufe0f"


_INLINE = [
    (re.compile(r"!?\[([^\]]*)\]\([^)]*\)"), r"\1"),  # links and images -> their text
    (re.compile(r"https?://\S+"), ""),
    (re.compile(r"<[^>]+>"), ""),  # html tags
    (re.compile(r"`([^`]*)`"), r"\1"),
    (re.compile(r"(\*\*|__)(.+?)\1"), r"\2"),
    (re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?!\w)"), r"\1"),
    (re.compile(r"(?<!\w)_(?!\s)(.+?)(?<!\s)_(?!\w)"), r"\1"),
    (re.compile(r"[*#`~|>]+"), " "),
]
_LINE_MARKERS = re.compile(r"^\s*(?:#{1,6}\s+|>\s*|[-*+•]\s+|\d{1,3}[.)]\s+|[a-zA-Z][.)]\s+(?=\w))")


def clean_for_speech(text: str) -> str:
    """Markdown, list markers, URLs and emoji out; plain words in."""
    lines = []
    for line in text.splitlines():
        line = _LINE_MARKERS.sub("", line)
        if re.fullmatch(r"\s*[-=*_|:]{3,}\s*", line):  # rules and table separators
            continue
        for pattern, repl in _INLINE:
            line = pattern.sub(repl, line)
        line = "".join(_printable(ch) for ch in line if not _is_emoji(ch))
        lines.append(line.strip())
    joined = " ".join(x for x in lines if x)
    joined = re.sub(r"\s+([,.;:!?])", r"\1", joined)
    return re.sub(r"\s{2,}", " ", joined).strip()


def _printable(ch: str) -> str:
    """Control and other unprintable characters out (measured: a NUL from a tiny random model made
    Piper's espeak raise "embedded null character" and the turn fail); a tab is a space."""
    if not unicodedata.category(ch).startswith("C"):
        return ch
    return " " if ch.isspace() else ""


def ends_sentence(clause: str) -> bool:
    """True if the clause ends a sentence (not at a comma, nor cut off mid-phrase)."""
    return bool(_ENDS_SENTENCE.search(clause))


def _speakable(text: str) -> bool:
    return any(ch.isalnum() for ch in text)


def _ends_with_abbreviation(text: str) -> bool:
    """True if the '.' ending `text` belongs to an abbreviation, an initial or a list number."""
    word = re.split(r"\s", text.rstrip(".").strip())[-1].lower().lstrip("([\"'")
    if not word:
        return False
    if word in ABBREVIATIONS:
        return True
    if len(word) == 1 and word.isalpha():  # initials: "J. R. R. Tolkien"
        return True
    if re.fullmatch(r"(?:[a-z]\.)+[a-z]", word):  # "e.g", "u.s"
        return True
    # "1." at the start of a line is a list number, not a sentence end
    line = text.rsplit("\n", 1)[-1].strip()
    return bool(re.fullmatch(r"\d{1,3}\.", line))


class ClauseChunker:
    """Feed text pieces with push(); get back clauses ready for the TTS."""

    def __init__(self, config: ChunkerConfig | None = None) -> None:
        self.config = config or ChunkerConfig()
        self._buf = ""
        self._in_code = False
        self.emitted = 0

    def push(self, piece: str) -> list[str]:
        self._buf += piece
        return self._drain(final=False)

    def flush(self) -> list[str]:
        out = self._drain(final=True)
        rest, self._buf = self._buf, ""
        if not self._in_code:
            out += self._emit(rest)
        return out

    def _min_words(self) -> int:
        return self.config.first_min_words if self.emitted == 0 else self.config.min_words

    def _emit(self, raw: str) -> list[str]:
        text = speakable(clean_for_speech(raw))
        if not _speakable(text):
            return []
        self.emitted += 1
        return [text]

    def _drain(self, final: bool) -> list[str]:
        out: list[str] = []
        while True:
            cut = self._next_cut(final)
            if cut is None:
                return out
            piece, self._buf = self._buf[:cut], self._buf[cut:]
            out += self._emit(piece)

    @staticmethod
    def _first_cuts(
        region: str, before_word: re.Pattern[str], min_words: int, not_after: frozenset[str]
    ) -> list[int]:
        """Where the first clause may end ahead of a word `before_word` finds: the first such place
        with at least `min_words` words before it, the last of which is not in `not_after`."""
        for match in before_word.finditer(region):
            before = region[: match.start()].split()
            if len(before) >= min_words and before[-1].lower().strip(",;:") not in not_after:
                return [match.start() + 1]
        return []

    def _next_cut(self, final: bool) -> int | None:
        buf = self._buf
        # Code fences are handled a whole line at a time: their content is never spoken.
        line_end = buf.find("\n")
        first_line = buf if line_end < 0 else buf[:line_end]
        if self._in_code or first_line.lstrip().startswith(_FENCE):
            if line_end < 0:
                if final:
                    self._buf = ""
                return None
            if first_line.lstrip().startswith(_FENCE):
                self._in_code = not self._in_code
            self._buf = buf[line_end + 1 :]
            return 0 if self._buf else None
        if line_end < 0 and _FENCE.startswith(first_line.lstrip()) and first_line.strip():
            return None  # could be the start of a fence: wait for more
        limit = line_end if line_end >= 0 else len(buf)
        region = buf[:limit]
        cuts = []
        for match in _SENTENCE_END.finditer(region + ("\n" if line_end >= 0 else "")):
            end = match.end()
            if match.group().startswith(".") and _ends_with_abbreviation(region[:end]):
                continue
            cuts.append(end)
            break
        for match in _CLAUSE_END.finditer(region):
            if len(region[: match.start()].split()) >= self._min_words():
                cuts.append(match.end())
                break
        if self.emitted == 0 and not cuts:
            # the first clause also ends before "because", "which", "but"...: "The sky is blue |
            # because sunlight scatters" starts speaking a clause sooner than at the full stop;
            # and before the verb after a long subject
            cuts += self._first_cuts(region, _JOINER, self.config.first_joiner_words, _BINDS)
            cuts += self._first_cuts(region, _VERB, self.config.first_verb_words, _SUBJECT_ENDS_NOT)
        if cuts:
            return min(cuts)
        words = len(region.split())
        if words > self.config.max_words:
            space = region.rfind(" ", 0, len(region) - 1)
            if space > 0:
                return space + 1
        if line_end >= 0:
            return line_end + 1
        return None
