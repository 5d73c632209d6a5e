"""The bundled spoken question set and its answer keys.

Keys are regexes on a normalised reply (lower case, spelled numbers turned into digits), so
"twelve" and "12" both count, and a turn may list patterns that make a reply wrong whatever else
it says ("9.11 is bigger").
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from rejoinder.errors import BadInputError

CATEGORIES = ("facts", "arithmetic", "explanations", "reasoning", "follow-ups")
SPLITS = ("tune", "holdout")


@dataclass(frozen=True)
class Turn:
    text: str
    """What the user says (the audio was synthesised from it)."""
    audio: Path
    accept: tuple[str, ...] = ()
    """Any one matching makes the reply correct; none = the turn is not scored."""
    reject: tuple[str, ...] = ()

    @property
    def scored(self) -> bool:
        return bool(self.accept)


@dataclass(frozen=True)
class Conversation:
    id: str
    category: str
    split: str
    turns: tuple[Turn, ...]
    voice: dict[str, float | None] = field(default_factory=dict)


def eval_dir() -> Path:
    return Path(str(resources.files("rejoinder").joinpath("data", "eval")))


def load(path: Path | None = None) -> list[Conversation]:
    """The question set; audio paths resolved beside the JSON (audio/<id>-<turn>.flac)."""
    path = path or eval_dir() / "questions.json"
    try:
        spec = json.loads(path.read_text())
        voices = spec["voices"]
        conversations = []
        for c in spec["conversations"]:
            turns = tuple(
                Turn(
                    text=t["text"],
                    audio=path.parent / "audio" / f"{c['id']}-{i}.flac",
                    accept=tuple(t.get("accept", ())),
                    reject=tuple(t.get("reject", ())),
                )
                for i, t in enumerate(c["turns"])
            )
            conversations.append(Conversation(c["id"], c["category"], c["split"], turns, voices[c["voice"]]))
    except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
        raise BadInputError(f"{path}: not a valid question set ({type(exc).__name__}: {exc})") from None
    for conv in conversations:
        if conv.category not in CATEGORIES or conv.split not in SPLITS:
            raise BadInputError(f"{path}: {conv.id}: unknown category or split")
        for turn in conv.turns:
            for pattern in (*turn.accept, *turn.reject):
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise BadInputError(f"{path}: {conv.id}: bad pattern {pattern!r} ({exc})") from None
    return conversations


def normalise(reply: str) -> str:
    """Lower case, spelled numbers as digits ("forty-eight" -> 48, "nine point nine" -> 9.9),
    thousands separators dropped, spaces collapsed."""
    from text_to_num import alpha2digit

    text = alpha2digit(reply, "en", threshold=0)
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)
    return re.sub(r"\s+", " ", text.lower()).strip()


def is_correct(turn: Turn, reply: str) -> bool:
    text = normalise(reply)
    if any(re.search(p, text, re.IGNORECASE) for p in turn.reject):
        return False
    return any(re.search(p, text, re.IGNORECASE) for p in turn.accept)
