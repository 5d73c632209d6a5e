"""Endpointing evaluation: false cut-offs and end-of-turn delay, smart beside fixed silence.

Every clip of the bundled set (src/rejoinder/data/turns) is streamed with 3 s of silence after
it, over a faint noise floor, through each detector in the same run. All times are stream
times, known from the labels: a *cut-off* is a turn ended before the speaker finished (inside an
intended pause, or elsewhere); the *delay* is from the true end of speech to the decision. In a
live stream the smart detector's decision comes later by the model's compute time, reported
beside it ("with model").

Figures are given for the whole set and per split: 'tune' (the set the policy's rules and
thresholds were chosen on) and 'held-out' (texts never looked at while tuning).

Run: python -m rejoinder.evals.turns [--json] [--eagerness auto high low] [--interruptions]
     [--split tune|held-out] [--cache FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import pickle
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rejoinder.bench import summarise
from rejoinder.config import STTConfig, VADConfig
from rejoinder.endpointing import EndpointPolicy, Transcriber, TurnTaker
from rejoinder.evals.turn_data import Clip, load
from rejoinder.evals.turns_report import format_report
from rejoinder.stages.stt import STT
from rejoinder.stages.turn import EndOfTurn, TextEndOfTurn
from rejoinder.stages.vad import VAD
from rejoinder.turns import SpeechEnded

TAIL_S = 3.0
BLOCK = 512
EARLY_S = 0.05
"""A turn decided more than this before the true end of speech was cut off."""


@dataclass(frozen=True)
class Detector:
    name: str
    config: VADConfig
    model: EndOfTurn | None = None
    transcribe: Transcriber | None = None
    policy: EndpointPolicy | None = None
    """A policy other than the config's eagerness (for comparing candidates while tuning)."""
    text_model: TextEndOfTurn | None = None


class Memo:
    """Remembers the end-of-turn model's and the STT's answers by the exact audio they were given.

    The detectors compared in one run ask about the same audio again and again (every eagerness
    hears the same pause); a remembered answer is the answer the model would give, so results do
    not change, only the time the run takes. Saved to `path` when given, for re-runs while tuning
    the policy; `check_ms` then reports the first computation's wall time.
    """

    def __init__(self, model: EndOfTurn, transcribe: Transcriber, path: Path | None = None) -> None:
        self.inner_model, self.inner_transcribe, self.path = model, transcribe, path
        self.name, self.sample_rate, self.window_s = model.name, model.sample_rate, model.window_s
        self.answers: dict[tuple[str, str], Any] = {}
        if path is not None and path.exists():
            self.answers = pickle.loads(path.read_bytes())

    @staticmethod
    def _key(kind: str, audio: np.ndarray) -> tuple[str, str]:
        return kind, hashlib.sha1(np.ascontiguousarray(audio, np.float32).tobytes()).hexdigest()

    async def probability(self, audio: np.ndarray) -> float:
        key = self._key("p", audio)
        if key not in self.answers:
            self.answers[key] = float(await self.inner_model.probability(audio))
        return float(self.answers[key])

    async def transcribe(self, audio: np.ndarray) -> str:
        key = self._key("text", audio)
        if key not in self.answers:
            self.answers[key] = str(await self.inner_transcribe(audio))
        return str(self.answers[key])

    def text_model(self, model: TextEndOfTurn) -> TextEndOfTurn:
        """`model`, its answers remembered by the exact text (and model name) it was given."""
        memo = self

        class Remembered:
            name = model.name

            async def probability(self, text: str, context: str = "") -> float:
                key = (f"words:{model.name}:{context}", text)
                if key not in memo.answers:
                    memo.answers[key] = float(await model.probability(text, context))
                return float(memo.answers[key])

            async def prepare(self, context: str) -> None:
                pass  # answers come from the memo or from `probability`, which reads it anyway

        return Remembered()

    def save(self) -> None:
        if self.path is not None:
            self.path.write_bytes(pickle.dumps(self.answers))


@dataclass
class ClipResult:
    file: str
    kind: str
    category: str
    split: str = "tune"
    method: str = ""
    cut_off: bool = False
    cut_in_pause: bool = False
    cut_at_s: float | None = None
    delay_ms: float | None = None
    """From the true end of speech to the decision that ended the turn (stream time)."""
    check_ms: float = 0.0
    """Wall time of the check that decided (model and transcript): live streams wait for it."""
    reason: str = ""
    detail: str = ""
    probability: float | None = None
    checks: int = 0
    heard: list[str] = field(default_factory=list)
    """What the judges said at each check, in order: 'text: ...' and 'p@<ms of audio>: ...'."""


@dataclass
class DetectorResult:
    name: str
    clips: list[ClipResult] = field(default_factory=list)
    check_ms: list[float] = field(default_factory=list)

    def summary(self, split: str | None = None) -> dict[str, Any]:
        """Figures on every clip, or on one split's."""
        clips = [c for c in self.clips if split is None or c.split == split]
        complete = [c for c in clips if c.kind == "complete"]
        paused = [c for c in clips if c.kind == "pause"]
        delays = [c.delay_ms for c in complete if c.delay_ms is not None and not c.cut_off]
        with_check = [c.delay_ms + c.check_ms for c in complete if c.delay_ms is not None and not c.cut_off]
        cut = [c for c in paused if c.cut_off]
        categories = sorted({c.category for c in paused})
        methods = sorted({c.method for c in paused})
        complete_categories = sorted({c.category for c in complete})
        return {
            "detector": self.name,
            "split": split or "all",
            "pause_turns": len(paused),
            "false_cutoffs": len(cut),
            "false_cutoff_rate": round(len(cut) / max(1, len(paused)), 3),
            "false_cutoffs_in_pause": sum(c.cut_in_pause for c in cut),
            "false_cutoffs_by_category": {k: sum(c.category == k for c in cut) for k in categories},
            "pause_turns_by_category": {k: sum(c.category == k for c in paused) for k in categories},
            "false_cutoffs_by_method": {k: sum(c.method == k for c in cut) for k in methods},
            "pause_turns_by_method": {k: sum(c.method == k for c in paused) for k in methods},
            "complete_by_category": {
                k: {
                    "turns": sum(c.category == k for c in complete),
                    "cut_early": sum(c.category == k and c.cut_off for c in complete),
                    "delay_ms": summarise(
                        [
                            c.delay_ms
                            for c in complete
                            if c.category == k and c.delay_ms is not None and not c.cut_off
                        ]
                    ),
                }
                for k in complete_categories
            },
            "complete_turns": len(complete),
            "complete_cut_early": sum(c.cut_off for c in complete),
            "delay_ms": summarise(delays),
            "delay_p75_ms": _quantile(delays, 0.75),
            "delay_p90_ms": _quantile(delays, 0.90),
            "complete_within_300_ms": round(sum(d <= 300 for d in delays) / max(1, len(complete)), 3),
            "delay_with_check_ms": summarise(with_check),
            "delay_after_pause_turns_ms": summarise(
                [c.delay_ms for c in paused if c.delay_ms is not None and not c.cut_off]
            ),
            "ended_by": {r: sum(c.reason == r for c in clips) for r in sorted({c.reason for c in clips})},
            "checks": sum(c.checks for c in clips),
            "check_ms": summarise(self.check_ms),  # the whole run's checks, whatever the split
        }


class _RecordedText:
    """A text end-of-turn model that notes each answer (for the per-clip record)."""

    def __init__(self, model: TextEndOfTurn, heard: list[str]) -> None:
        self.model, self.heard, self.name = model, heard, model.name

    async def probability(self, text: str, context: str = "") -> float:
        p = await self.model.probability(text, context)
        self.heard.append(f"words p: {p:.3f}")
        return p

    async def prepare(self, context: str) -> None:
        await self.model.prepare(context)


class _Recorded:
    """An end-of-turn model that notes each answer (for the per-clip record)."""

    def __init__(self, model: EndOfTurn, heard: list[str]) -> None:
        self.model, self.heard = model, heard
        self.name, self.sample_rate, self.window_s = model.name, model.sample_rate, model.window_s

    async def probability(self, audio: np.ndarray) -> float:
        p = await self.model.probability(audio)
        self.heard.append(f"p@{audio.size / self.sample_rate * 1000:.0f}: {p:.3f}")
        return p


def _quantile(values: list[float], q: float) -> float | None:
    return round(float(np.quantile(values, q)), 1) if values else None


async def run_clip(vad: VAD, detector: Detector, clip: Clip, seed: int = 0) -> tuple[ClipResult, list[float]]:
    """Stream one clip through a fresh TurnTaker; score its turn ends against the labels."""
    heard: list[str] = []
    model, transcribe = detector.model, detector.transcribe
    if model is not None:
        model = _Recorded(model, heard)
    if transcribe is not None:
        inner = transcribe

        async def transcribe(audio: np.ndarray) -> str:
            text = await inner(audio)
            heard.append(f"text: {text}")
            return text

    text_model = detector.text_model and _RecordedText(detector.text_model, heard)
    taker = TurnTaker(vad.stream(), detector.config, model, transcribe, detector.policy, text_model)
    audio = clip.audio(TAIL_S, seed)
    ends: list[SpeechEnded] = []
    for start in range(0, audio.size, BLOCK):
        ends += [e for e in await taker.feed(audio[start : start + BLOCK]) if isinstance(e, SpeechEnded)]
    ends += [e for e in await taker.finish() if isinstance(e, SpeechEnded)]
    result = ClipResult(
        clip.file, clip.kind, clip.category, clip.split, clip.method, checks=len(taker.check_ms), heard=heard
    )
    for end in ends:
        decided = end.decided_s if end.decided_s is not None else end.end_s
        if decided < clip.speech_end_s - EARLY_S:
            if not result.cut_off:
                result.cut_off, result.cut_at_s = True, round(decided, 3)
                result.cut_in_pause = any(a <= decided <= b + 0.1 for a, b in clip.pauses)
            continue
        if result.delay_ms is None:
            result.delay_ms = round((decided - clip.speech_end_s) * 1000, 1)
            result.check_ms = round(end.check_ms, 1) if end.reason == "model" else 0.0
            result.reason, result.detail, result.probability = end.reason, end.detail, end.probability
    return result, taker.check_ms


def detectors(
    model: EndOfTurn | None,
    transcribe: Transcriber | None,
    eagerness: Sequence[str],
    baseline_ms: int = 500,
    sound_only: bool = True,
    text_model: TextEndOfTurn | None = None,
    late_check: bool = False,
) -> list[Detector]:
    """The fixed-silence baseline, then per eagerness the smart detector (with the transcript when
    a transcriber is given, and the text model when one is given, then the same without it; with
    `late_check`, the same with Smart Turn read at the check, not early) and, with `sound_only`,
    the model without the transcript."""
    found = [
        Detector(f"silence {baseline_ms} ms", VADConfig(end_of_turn="silence", min_silence_ms=baseline_ms))
    ]
    if model is None:
        return found
    for e in eagerness:
        config = VADConfig(end_of_turn="smart", eagerness=e)
        if transcribe is not None:
            found.append(Detector(f"smart ({e})", config, model, transcribe, text_model=text_model))
            if text_model is not None:
                found.append(Detector(f"no text model ({e})", config, model, transcribe))
            if late_check:
                late = config.model_copy(update={"early_check": False})
                found.append(
                    Detector(f"read at the check ({e})", late, model, transcribe, text_model=text_model)
                )
        if sound_only or transcribe is None:
            found.append(Detector(f"model only ({e})", config, model))
    return found


async def evaluate(
    vad: VAD,
    compared: Sequence[Detector],
    clips: Sequence[Clip],
    progress: Callable[[str], None] | None = None,
) -> list[DetectorResult]:
    results = [DetectorResult(d.name) for d in compared]
    for i, clip in enumerate(clips):
        for detector, result in zip(compared, results, strict=True):
            scored, check_ms = await run_clip(vad, detector, clip, seed=i)
            result.clips.append(scored)
            result.check_ms += check_ms
        if progress:
            progress(f"{i + 1}/{len(clips)} {clip.file}")
    return results


def run(
    vad: VAD | None = None,
    model: EndOfTurn | None = None,
    eagerness: Sequence[str] = ("auto",),
    baseline_ms: int = 500,
    interruptions: bool = False,
    stt: STT | None = None,
    sound_only: bool = True,
    limit: int | None = None,
    progress: Callable[[str], None] | None = None,
    split: str | None = None,
    cache: Path | None = None,
    text_model: TextEndOfTurn | bool | None = True,
    late_check: bool = False,
) -> dict[str, Any]:
    """The endpointing evaluation (and, with `interruptions`, the barge-in one) as a JSON-ready
    dict; `format_report` prints it. Models not given are loaded here (`text_model` True: the
    configured one; False: none)."""
    from rejoinder import registry
    from rejoinder.endpointing import load_end_of_turn, load_text_model

    vad = vad or registry.create("vad", "silero", VADConfig())
    model = model or load_end_of_turn(VADConfig(end_of_turn="smart"))
    if text_model is True:
        text_model = load_text_model(VADConfig(end_of_turn="smart"))
    words = text_model or None
    stt = stt or registry.create("stt", STTConfig().backend, STTConfig())

    async def transcribe(audio: np.ndarray) -> str:
        return str((await stt.transcribe(audio)).text)

    memo = Memo(model, transcribe, cache) if model is not None else None
    clips = [c for c in load() if c.set == "turns" and split in (None, c.split)][:limit]
    if memo is not None and words is not None:
        words = memo.text_model(words)
    compared = detectors(
        memo, memo.transcribe if memo else transcribe, eagerness, baseline_ms, sound_only, words, late_check
    )
    try:
        results = asyncio.run(evaluate(vad, compared, clips, progress))
    finally:
        if memo is not None:
            memo.save()
    splits = sorted({c.split for c in clips})
    report: dict[str, Any] = {
        "clips": {
            "complete": sum(c.kind == "complete" for c in clips),
            "pause": sum(c.kind == "pause" for c in clips),
            "human": sum(c.source.startswith("human") for c in clips),
            "by_split": {
                k: {
                    kind: sum(c.split == k and c.kind == kind for c in clips)
                    for kind in ("complete", "pause")
                }
                for k in splits
            },
        },
        "endpointing": [r.summary() for r in results],
        "endpointing_by_split": {k: [r.summary(k) for r in results] for k in splits},
        "per_clip": {r.name: [asdict(c) for c in r.clips] for r in results},
    }
    if interruptions:
        from rejoinder.evals.interruptions import run as run_interruptions

        report["interruptions"] = run_interruptions(vad=vad, stt=stt, progress=progress)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rejoinder.evals.turns", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--json", action="store_true", help="print the JSON report")
    parser.add_argument("--eagerness", nargs="+", default=["auto"], choices=["low", "medium", "high", "auto"])
    parser.add_argument("--baseline-ms", type=int, default=500, help="the fixed-silence detector beside it")
    parser.add_argument("--interruptions", action="store_true", help="also the barge-in evaluation")
    parser.add_argument("--limit", type=int, default=None, help="only the first N clips")
    parser.add_argument("--split", choices=["tune", "held-out"], default=None, help="only this split")
    parser.add_argument("--no-sound-only", action="store_true", help="leave out the model-only rows")
    parser.add_argument(
        "--no-text-model", action="store_true", help="leave out the text model (and its comparison rows)"
    )
    parser.add_argument("--late-check", action="store_true", help="also Smart Turn read at the check")
    parser.add_argument(
        "--cache", type=Path, default=None, help="remember model and STT answers in this file (re-runs)"
    )
    args = parser.parse_args(argv)
    report = run(
        split=args.split,
        cache=args.cache,
        sound_only=not args.no_sound_only,
        text_model=not args.no_text_model,
        late_check=args.late_check,
        eagerness=args.eagerness,
        baseline_ms=args.baseline_ms,
        interruptions=args.interruptions,
        limit=args.limit,
        progress=lambda msg: print(msg, file=sys.stderr, flush=True),
    )
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
