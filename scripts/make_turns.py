"""Regenerate the turn-taking evaluation sets (src/rejoinder/data/turns) with the Piper voice.

Run: .venv/bin/python scripts/make_turns.py            (everything, from scratch)
     .venv/bin/python scripts/make_turns.py --barge-in (only the barge-in clips added later: the
                                                         'fresh' split and human speech, again)
Writes Ogg/Opus 16 kHz clips and labels.jsonl (times in seconds within each clip):
- complete turns (questions, statements, commands, short answers) and turns with mid-utterance
  pauses of 0.5-1.5 s (hesitations, unfinished phrases, lists, codes, addresses, dates, spelled
  names), at four speeds. Each paused text is made twice: 'comma', Piper's own comma pause found
  in the audio and stretched (Piper makes it sound final), and 'cut', the sentence spoken without
  the comma, cut at the word boundary (the quietest point near where the words before the mark
  end) and silence inserted, so the speech before the pause keeps its mid-sentence melody;
- every text is in one split, 'tune' or 'held-out' (every third text of each category), so no
  sentence is in both; each clip names a background noise level (`noise_dbfs`) that the
  evaluation adds;
- human clips from tests/data/human (CMU Sphinx test data, BSD-style): complete turns, and the
  card list with its natural pauses between items stretched;
- for the interruption set: the agent's replies, backchannels, real interruptions and
  synthetic coughs and door knocks; and a second set of backchannels and interruptions, split
  'fresh', written after the barge-in gate's rules were chosen (other speeds and noise levels);
  and human speech over the agent (set 'speech', split 'human': the CMU Sphinx recordings and the
  LibriVox sentences of tests/data/human, their first seconds), which should stop it.
Clips hold the speech with 0.3 s before it and nothing after; the evaluation adds the silence.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from turn_texts import (  # noqa: E402
    AGENT,
    BACKCHANNEL,
    BACKCHANNEL_FRESH,
    COMPLETE,
    INTERRUPTION,
    INTERRUPTION_FRESH,
    PAUSE,
)

from rejoinder.audio import read_audio, resample  # noqa: E402
from rejoinder.config import TTSConfig  # noqa: E402
from rejoinder.registry import create  # noqa: E402

OUT = ROOT / "src" / "rejoinder" / "data" / "turns"
HUMAN = ROOT / "tests" / "data" / "human"
RATE = 16_000
LEAD_S = 0.3
SPEEDS = (0.87, 1.0, 1.18, 0.8)
FRESH_SPEEDS = (0.92, 1.1, 0.85, 1.25)
NOISE_DBFS = (-60.0, -50.0, -42.0)
"""Background noise levels the evaluation adds (cycled over the clips)."""
FADE = 80
"""5 ms fades at a cut, so it does not click."""
PAUSE_RANGE_S = (0.5, 1.5)
FRAME = 160
"""10 ms analysis frames for finding speech and gaps."""


@dataclass
class Clip:
    file: str
    set: str
    """'turns' (endpointing) or 'agent' / 'backchannel' / 'interruption' / 'noise'."""
    kind: str
    """turns: 'complete' or 'pause'."""
    category: str
    text: str
    source: str
    speed: float
    speech_start_s: float
    speech_end_s: float
    pauses: list[tuple[float, float]] = field(default_factory=list)
    """Intended mid-utterance pauses: the speaker goes on after each."""
    split: str = "tune"
    """'tune' (thresholds and rules were chosen on it) or 'held-out' (never looked at to tune)."""
    method: str = ""
    """Paused turns: 'comma' (Piper's stretched comma pause) or 'cut' (cut at a word boundary)."""
    noise_dbfs: float = -60.0


class Voice:
    def __init__(self) -> None:
        from piper import SynthesisConfig

        self.tts = create("tts", "piper", TTSConfig())
        self._config = SynthesisConfig

    def say(self, text: str, speed: float) -> np.ndarray:
        syn = self._config(length_scale=1.0 / speed, normalize_audio=False)
        chunks = [c.audio_float_array for c in self.tts.voice.synthesize(text, syn)]
        return trim(resample(np.concatenate(chunks), self.tts.sample_rate, RATE) * 0.8)


def frame_rms(audio: np.ndarray) -> np.ndarray:
    frames = audio[: audio.size // FRAME * FRAME].reshape(-1, FRAME)
    return np.sqrt((frames.astype(np.float64) ** 2).mean(axis=1))


def trim(audio: np.ndarray, rel: float = 0.02) -> np.ndarray:
    """Speech only: drop the leading and trailing frames quieter than `rel` of the peak RMS."""
    rms = frame_rms(audio)
    loud = np.nonzero(rms >= rel * rms.max())[0]
    return audio[loud[0] * FRAME : (loud[-1] + 1) * FRAME]


def gaps(audio: np.ndarray, rel: float = 0.02, min_s: float = 0.08) -> list[tuple[int, int]]:
    """(start, end) samples of quiet stretches inside the speech."""
    quiet = frame_rms(audio) < rel * frame_rms(audio).max()
    found, i = [], 0
    while i < quiet.size:
        j = i
        while j < quiet.size and quiet[j]:
            j += 1
        if j > i and (j - i) * FRAME >= min_s * RATE:
            found.append((i * FRAME, j * FRAME))
        i = max(j, i + 1)
    return found


def stretch(audio: np.ndarray, cuts: list[tuple[int, int]], lengths: list[float]) -> tuple[np.ndarray, list]:
    """Replace each gap (start, end) with silence `lengths` seconds long; the new gap bounds."""
    pieces, bounds, at, out_len = [], [], 0, 0
    for (start, end), seconds in zip(cuts, lengths, strict=True):
        pieces.append(audio[at:start])
        out_len += start - at
        silence = int(seconds * RATE)
        pieces.append(np.zeros(silence, np.float32))
        bounds.append((out_len, out_len + silence))
        out_len += silence
        at = end
    pieces.append(audio[at:])
    return np.concatenate(pieces), bounds


def pause_clip(voice: Voice, text: str, speed: float, rng: np.random.Generator) -> tuple[np.ndarray, list]:
    """Piper's voice varies from run to run: try a few times to find every comma pause."""
    for _ in range(5):
        try:
            return _pause_clip(voice, text, speed, rng)
        except LookupError as exc:
            print(f"retrying: {exc}", flush=True)
    raise RuntimeError(f"no clear comma pauses in {text!r}")


def _pause_clip(voice: Voice, text: str, speed: float, rng: np.random.Generator) -> tuple[np.ndarray, list]:
    parts = [p.strip() for p in text.split("|")]
    spoken = parts[0]
    for part in parts[1:]:
        spoken += (" " if spoken.endswith(",") else ", ") + part
    audio = voice.say(spoken, speed)
    found = gaps(audio)
    cuts: list[tuple[int, int]] = []
    prefix = parts[0]
    for part in parts[1:]:
        expected = voice.say(prefix, speed).size  # the words before the mark, said alone
        after = cuts[-1][1] if cuts else 0
        candidates = [g for g in found if g[0] > after and abs(g[0] - expected) < 0.45 * RATE]
        if not candidates:
            raise LookupError(f"no comma pause found near {expected / RATE:.2f} s in {spoken!r}")
        cuts.append(max(candidates, key=lambda g: (g[1] - g[0]) - abs(g[0] - expected) / 4))
        prefix += (" " if prefix.endswith(",") else ", ") + part
    lengths = [float(rng.uniform(*PAUSE_RANGE_S)) for _ in cuts]
    return stretch(audio, cuts, lengths)


def cut_clip(voice: Voice, text: str, speed: float, rng: np.random.Generator) -> tuple[np.ndarray, list]:
    """The text said in one go, without commas at the marks, cut at each mark's word boundary."""
    parts = [p.strip().rstrip(",") for p in text.split("|")]
    audio = voice.say(" ".join(parts), speed)
    rms = np.convolve(frame_rms(audio), np.ones(3) / 3, mode="same")
    cuts: list[int] = []
    for k in range(1, len(parts)):
        alone = voice.say(" ".join(parts[:k]), speed).size / FRAME  # with final lengthening
        lo = max(int(0.72 * alone), (cuts[-1] // FRAME + 10) if cuts else 0)
        hi = min(int(1.02 * alone), rms.size - 10)
        if hi <= lo:
            raise LookupError(f"no room for cut {k} in {text!r}")
        at = lo + int(np.argmin(rms[lo:hi]))
        if rms[at] > 0.2 * rms.max():
            raise LookupError(f"no quiet word boundary near {alone * FRAME / RATE:.2f} s in {text!r}")
        cuts.append(at * FRAME + FRAME // 2)
    faded = audio.copy()
    ramp = np.linspace(1.0, 0.0, FADE, dtype=np.float32)
    for c in cuts:
        faded[c - FADE : c] *= ramp
        faded[c : c + FADE] *= ramp[::-1]
    lengths = [float(rng.uniform(*PAUSE_RANGE_S)) for _ in cuts]
    return stretch(faded, [(c, c) for c in cuts], lengths)


def write_ogg(path: Path, audio: np.ndarray) -> None:
    with av.open(str(path), "w", format="ogg") as out:
        stream = out.add_stream("libopus", rate=RATE, layout="mono")
        stream.bit_rate = 32_000
        frame = av.AudioFrame.from_ndarray(audio.astype(np.float32)[None, :], format="flt", layout="mono")
        frame.sample_rate = RATE
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def save(clips: list[Clip], name: str, audio: np.ndarray, **label: object) -> None:
    lead = np.zeros(int(LEAD_S * RATE), np.float32)
    write_ogg(OUT / f"{name}.ogg", np.concatenate([lead, audio]))
    shift = lambda s: round(LEAD_S + s / RATE, 3)  # noqa: E731
    pauses = [(shift(a), shift(b)) for a, b in label.pop("pause_samples", [])]  # type: ignore[attr-defined]
    clips.append(
        Clip(
            file=f"{name}.ogg",
            speech_start_s=LEAD_S,
            speech_end_s=shift(audio.size),
            pauses=pauses,
            **label,  # type: ignore[arg-type]
        )
    )
    print(f"{name}: {audio.size / RATE:.2f} s {label['text']!r} pauses={pauses}", flush=True)


def knock(rng: np.random.Generator) -> np.ndarray:
    """Two to four knocks on a door: damped low resonances with a click."""
    t = np.arange(int(0.12 * RATE)) / RATE
    hit = sum(np.sin(2 * np.pi * f * t) * np.exp(-t / d) for f, d in ((170, 0.03), (310, 0.02), (720, 0.01)))
    hit = hit + rng.normal(0, 0.3, t.size) * np.exp(-t / 0.004)
    out = []
    for _ in range(int(rng.integers(2, 5))):
        out += [hit * rng.uniform(0.5, 0.8), np.zeros(int(rng.uniform(0.12, 0.22) * RATE))]
    return (np.concatenate(out) / 3).astype(np.float32)


def cough(rng: np.random.Generator) -> np.ndarray:
    """One or two coughs: a sharp burst of noise, coloured by a few vocal-tract resonances."""
    from scipy.signal import butter, lfilter

    out = []
    for _ in range(int(rng.integers(1, 3))):
        n = int(rng.uniform(0.25, 0.4) * RATE)
        t = np.arange(n) / RATE
        env = (1 - np.exp(-t / 0.008)) * np.exp(-t / rng.uniform(0.07, 0.12))
        noise = rng.normal(0, 1, n)
        shaped = sum(
            lfilter(*butter(2, [f * 0.8 / (RATE / 2), f * 1.25 / (RATE / 2)], btype="band"), noise)
            for f in (rng.uniform(450, 700), rng.uniform(1200, 1800), rng.uniform(2400, 3200))
        )
        out += [shaped * env, np.zeros(int(rng.uniform(0.08, 0.2) * RATE))]
    audio = np.concatenate(out)
    return (0.5 * audio / np.abs(audio).max()).astype(np.float32)


def split_of(index: int) -> str:
    """Every third text of a category is held out (the split is by text, never by clip)."""
    return "held-out" if index % 3 == 2 else "tune"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.ogg"):
        old.unlink()
    rng = np.random.default_rng(11)
    voice = Voice()
    clips: list[Clip] = []
    n = 0
    for category, texts in COMPLETE.items():
        for i, text in enumerate(texts):
            speed, noise = SPEEDS[n % len(SPEEDS)], NOISE_DBFS[n % len(NOISE_DBFS)]
            n += 1
            audio = voice.say(text, speed)
            save(clips, f"complete_{n:03d}", audio, set="turns", kind="complete", category=category,
                 text=text, source="piper", speed=speed, split=split_of(i), noise_dbfs=noise)  # fmt: skip
    n = 0
    for category, texts in PAUSE.items():
        for i, text in enumerate(texts):
            for method, make in (("comma", pause_clip), ("cut", cut_clip)):
                speed, noise = SPEEDS[n % len(SPEEDS)], NOISE_DBFS[n % len(NOISE_DBFS)]
                n += 1
                try:
                    audio, bounds = make(voice, text, speed, rng)
                except (LookupError, RuntimeError) as exc:
                    print(f"skipped ({method}): {exc}", flush=True)
                    continue
                save(clips, f"pause_{n:03d}_{method}", audio, set="turns", kind="pause", category=category,
                     text=text, source="piper", speed=speed, pause_samples=bounds, split=split_of(i),
                     method=method, noise_dbfs=noise)  # fmt: skip
    human = dict(
        line.rsplit("(", 1)[::-1] for line in (HUMAN / "transcripts.txt").read_text().splitlines() if line
    )
    # The human recordings have a noise floor near 2 % of their peak: speech is what is above 5 %.
    for name in ("001", "002", "003", "004", "goforward"):
        audio = trim(read_audio(HUMAN / f"{name}.wav"), rel=0.05)
        save(clips, f"human_{name}", audio, set="turns", kind="complete", category="human",
             text=human[f"{name})"].strip(), source="human (CMU Sphinx test data)", speed=1.0,
             split="held-out")  # fmt: skip
    cards = trim(read_audio(HUMAN / "005.wav"), rel=0.05)
    # The gaps after "eight of spades" (~0.9 s) and "four of clubs" (~1.9 s), located by
    # transcribing the pieces with Whisper.
    found = gaps(cards, min_s=0.03)
    inner = [min(found, key=lambda g: abs(g[0] - at * RATE)) for at in (0.9, 1.9)]
    audio, bounds = stretch(cards, inner, [0.7, 1.2])
    save(clips, "human_005_list", audio, set="turns", kind="pause", category="human list",
         text="eight of spades | four of clubs | seven of hearts", source="human (CMU Sphinx test data)",
         speed=1.0, pause_samples=bounds, split="held-out", method="human")  # fmt: skip
    for i, text in enumerate(AGENT, 1):
        save(clips, f"agent_{i}", voice.say(text, 1.0), set="agent", kind="agent", category="agent",
             text=text, source="piper", speed=1.0)  # fmt: skip
    for group, texts in (("backchannel", BACKCHANNEL), ("interruption", INTERRUPTION)):
        for i, text in enumerate(texts, 1):
            speed = SPEEDS[i % len(SPEEDS)]
            save(clips, f"{group}_{i:02d}", voice.say(text, speed), set=group, kind=group,
                 category=group, text=text, source="piper", speed=speed, split=split_of(i - 1))  # fmt: skip
    for i in range(1, 5):
        save(clips, f"noise_cough_{i}", cough(rng), set="noise", kind="noise", category="cough",
             text="(synthetic cough)", source="synthetic", speed=1.0)  # fmt: skip
        save(clips, f"noise_knock_{i}", knock(rng), set="noise", kind="noise", category="knock",
             text="(synthetic door knock)", source="synthetic", speed=1.0)  # fmt: skip
    fresh(voice, clips)
    human_speech(clips)
    write_labels(clips)


def fresh(voice: Voice, clips: list[Clip]) -> None:
    """The 'fresh' barge-in split, after everything else (the evaluation pairs each user clip
    with an agent reply and a noise seed by its place in the file, so earlier trials keep theirs)."""
    for group, texts in (("backchannel", BACKCHANNEL_FRESH), ("interruption", INTERRUPTION_FRESH)):
        for i, text in enumerate(texts, 1):
            speed, noise = FRESH_SPEEDS[i % len(FRESH_SPEEDS)], NOISE_DBFS[i % len(NOISE_DBFS)]
            save(clips, f"{group}_fresh_{i:02d}", voice.say(text, speed), set=group, kind=group,
                 category=group, text=text, source="piper", speed=speed, split="fresh",
                 noise_dbfs=noise)  # fmt: skip


HUMAN_SPEECH_S = 2.5
"""A barge-in is decided in the first second or so: longer clips are cut (the data stays small)."""


def human_speech(clips: list[Clip]) -> None:
    """Real people talking over the agent: every one should interrupt it."""
    sources = {
        HUMAN: "human (CMU Sphinx test data)",
        HUMAN / "extra": "human (LibriVox, via CMU Sphinx test data)",
    }
    for folder, source in sources.items():
        lines = (folder / "transcripts.txt").read_text().splitlines()
        texts = dict(line.rsplit("(", 1)[::-1] for line in lines if line)
        for wav in sorted(folder.glob("*.wav")):
            audio = trim(read_audio(wav), rel=0.05)[: int(HUMAN_SPEECH_S * RATE)]
            save(clips, f"speech_{wav.stem}", audio, set="speech", kind="speech", category="human speech",
                 text=texts[f"{wav.stem})"].strip(), source=source, speed=1.0, split="human")  # fmt: skip


def write_labels(clips: list[Clip]) -> None:
    with open(OUT / "labels.jsonl", "w") as f:
        for clip in clips:
            f.write(json.dumps(asdict(clip)) + "\n")
    print(f"{len(clips)} clips in {OUT}")


def barge_in_only() -> None:
    """Make the later barge-in clips again ('fresh', human speech); leave every other clip."""
    rows = [json.loads(line) for line in (OUT / "labels.jsonl").read_text().splitlines() if line.strip()]
    for old in [*OUT.glob("*_fresh_*.ogg"), *OUT.glob("speech_*.ogg")]:
        old.unlink()
    kept = [row for row in rows if row["split"] not in ("fresh", "human")]
    clips = [Clip(**{**row, "pauses": [tuple(p) for p in row["pauses"]]}) for row in kept]
    fresh(Voice(), clips)
    human_speech(clips)
    write_labels(clips)


if __name__ == "__main__":
    barge_in_only() if sys.argv[1:] == ["--barge-in"] else main()
