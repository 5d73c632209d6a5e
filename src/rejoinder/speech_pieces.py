"""Long text cut into pieces a TTS can take one at a time: memory stays bounded whatever the
text (Piper keeps a text without line breaks as one sentence; 100,000 characters ran it out of
memory), and other work gets the model between pieces. Used by /v1/audio/speech and `say`."""

from __future__ import annotations

import re
from collections.abc import Iterator

_SENTENCE = re.compile(r"(?<=[.!?…])[\"')\]]*\s+")
_SOFT_BREAK = re.compile(r"[,;:]\s|\s")


def speech_pieces(text: str, max_chars: int) -> Iterator[str]:
    """Whole sentences packed up to `max_chars`; a longer sentence is cut at a comma or space
    before the limit, and a longer word (no space at all) at the limit itself."""
    pending = ""
    for sentence in _SENTENCE.split(text):
        sentence = sentence.strip()
        if not sentence:
            continue
        if pending and len(pending) + 1 + len(sentence) <= max_chars:
            pending = f"{pending} {sentence}"
            continue
        if pending:
            yield pending
            pending = ""
        while len(sentence) > max_chars:
            head = sentence[: max_chars + 1]
            cut = max((m.end() for m in _SOFT_BREAK.finditer(head) if m.end() <= max_chars), default=0)
            if cut < max_chars // 4:
                cut = max_chars  # no usable break: a run-on "word"
            yield sentence[:cut].strip()
            sentence = sentence[cut:].strip()
        pending = sentence
    if pending:
        yield pending
