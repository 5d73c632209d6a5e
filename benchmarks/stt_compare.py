"""faster-whisper against Moonshine base: word errors and time on the same audio, in one run.

Clips: the human recordings in tests/data/human (cards, a command, five read sentences); the
bundled spoken questions; the spoken turns of the eval question set (src/rejoinder/data/eval:
several Piper voices, speeds and noise levels; --eval-dir elsewhere) when it exists; and every
fourth query of the routing set spoken by Piper now. Each clip is cut by the VAD as the live
loop cuts it (the speech plus at most ~0.2 s: what STT gets at the end-of-turn pause) and goes
through each backend in turn, the order alternating from clip to clip, so that the load on the
machine falls on both alike; times are per clip. Word errors are the test suite's
(tests/helpers.py) after number words become digits on both sides (text2num) and "Mr."/"%" are
spelled out, as Whisper's English normaliser does; spelling variants ("metres") still count.

--live N also replays the bundled questions through the live pipeline (`rejoinder bench`
without its baseline) N times per backend, alternating backends, with the same VAD, LLM and TTS
loaded once, and reports STT time and end-of-speech -> first audio.

Run: .venv/bin/python benchmarks/stt_compare.py [--live 2] [--unconverted] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rejoinder.audio import SAMPLE_RATE, read_audio, resample
from rejoinder.bench import corpus as bench_corpus
from rejoinder.bench import summarise
from rejoinder.config import Config, STTConfig, TTSConfig, VADConfig
from rejoinder.registry import create
from rejoinder.turns import SpeechEnded, SpeechPaused, SpeechResumed, SpeechStarted, TurnDetector

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from helpers import HUMAN_AUDIO, HUMAN_EXTRA, SAMPLES, human_transcripts, word_errors  # noqa: E402

Clip = tuple[str, str, np.ndarray]
"""(set, reference text, 16 kHz audio)."""


ABBREVIATIONS = {"mr": "mister", "mrs": "missus", "dr": "doctor", "%": " percent"}


def normal(text: str) -> str:
    """Number words as digits, hyphens as spaces, a few abbreviations spelled out (as Whisper's
    English normaliser does); spelling variants are left alone."""
    text = re.sub(
        r"\b(mrs?|dr)\b\.?|%", lambda m: ABBREVIATIONS[m.group(0).rstrip(".").lower()], text, flags=re.I
    )
    try:
        from text_to_num import alpha2digit
    except ImportError:  # the eval set brings text2num; without it numbers compare as written
        return text.replace("-", " ")
    return str(alpha2digit(text.replace("-", " "), "en", threshold=0))


def errors(reference: str, hypothesis: str) -> tuple[int, int]:
    return word_errors(normal(reference), normal(hypothesis))


def human() -> list[Clip]:
    return [
        ("human", text, read_audio(folder / f"{name}.wav"))
        for folder in (HUMAN_AUDIO, HUMAN_EXTRA)
        for name, text in human_transcripts(folder).items()
    ]


def samples() -> list[Clip]:
    clips = []
    for line in (SAMPLES / "questions.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, text = line.split("\t", 1)
            clips.append(("samples", text, read_audio(SAMPLES / f"{name}.wav")))
    return clips


def eval_set(directory: Path) -> list[Clip]:
    questions = directory / "questions.json"
    if not questions.exists():
        print(f"(no eval set at {directory}: skipped)", file=sys.stderr)
        return []
    clips = []
    for conversation in json.loads(questions.read_text())["conversations"]:
        for index, turn in enumerate(conversation["turns"]):
            matches = sorted((directory / "audio").glob(f"{conversation['id']}-{index}.*"))
            if matches:
                clips.append(("eval", turn["text"], read_audio(matches[0])))
    return clips


async def piper_queries(count: int) -> list[Clip]:
    tts = create("tts", "piper", TTSConfig())
    lines = (ROOT / "src/rejoinder/data/routing.jsonl").read_text().splitlines()
    clips = []
    for line in lines[1::4][:count]:
        text = json.loads(line)["text"]
        speech = resample(np.concatenate([c async for c in tts.stream(text)]), tts.sample_rate, 16_000)
        pad = np.zeros(4800, np.float32)
        clips.append(("piper", text, np.concatenate([pad, 0.8 * speech.astype(np.float32), pad[:3200]])))
    return clips


@dataclass
class Score:
    errors: int = 0
    words: int = 0
    ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    """CPU time of the process (all its threads) per clip: what the clip costs, whatever the load."""
    mistakes: list[tuple[str, str]] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        stats = summarise(self.ms)
        return {
            "clips": len(self.ms),
            "words": self.words,
            "errors": self.errors,
            "wer": round(self.errors / max(1, self.words), 4),
            "p50_ms": stats.get("median"),
            "p95_ms": stats.get("p95"),
            "max_ms": stats.get("max"),
            "cpu_p50_ms": summarise(self.cpu_ms).get("median"),
        }


def as_heard(vad: Any, audio: np.ndarray) -> list[np.ndarray]:
    """The audio the live loop transcribes for each turn in `audio`: the speech so far at the
    last pause before the turn ended (the speculative transcript, adopted when the turn ends),
    else the turn's audio; both end at most ~0.2 s after the speech."""
    detector = TurnDetector(vad.stream(), VADConfig())
    stream = np.concatenate([audio, np.zeros(SAMPLE_RATE, np.float32)])
    turns, paused = [], None
    for event in [*detector.feed(stream), *detector.finish()]:
        if isinstance(event, SpeechStarted | SpeechResumed):
            paused = None
        elif isinstance(event, SpeechPaused):
            paused = event.audio
        elif isinstance(event, SpeechEnded):
            turns.append(paused if paused is not None else event.audio)
            paused = None
    return turns


def compare(backends: dict[str, Any], clips: list[Clip]) -> dict[tuple[str, str], Score]:
    scores: dict[tuple[str, str], Score] = {}
    names = list(backends)
    vad = create("vad", "silero", VADConfig())
    for i, (group, reference, audio) in enumerate(clips):
        turns = as_heard(vad, audio)
        for name in names if i % 2 == 0 else names[::-1]:
            start, cpu = time.perf_counter(), time.process_time()
            text = " ".join(backends[name].transcribe_blocking(turn).text for turn in turns)
            elapsed = (time.perf_counter() - start) * 1000
            cpu_ms = (time.process_time() - cpu) * 1000
            e, n = errors(reference, text)
            for key in ((group, name), ("all", name)):
                score = scores.setdefault(key, Score())
                score.errors, score.words = score.errors + e, score.words + n
                score.ms.append(elapsed)
                score.cpu_ms.append(cpu_ms)
                if e and key[0] != "all":
                    score.mistakes.append((reference, text))
    return scores


async def live(config: Config, backends: dict[str, Any], rounds: int) -> dict[str, dict[str, Any]]:
    """Alternating rounds of `rejoinder bench` (no baseline): every turn's stage times pooled."""
    from rejoinder.bench import _client, _stage_values
    from rejoinder.engine import Engine

    engine = Engine.load(config, ("vad", "llm", "tts"))
    questions = [read_audio(path, max_s=30) for path in bench_corpus()]
    values: dict[str, dict[str, list[float]]] = {n: {"stt": [], "first_audio": []} for n in backends}
    transcripts: dict[str, list[str]] = {n: [] for n in backends}
    names = list(backends)
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            client = await _client(engine.with_stages(stt=backends[name]), questions, 0.0)
            for turn in client.turns:
                transcripts[name].append(turn["transcript"])
                for stage, value in _stage_values(turn).items():
                    if stage in values[name] and value is not None:
                        values[name][stage].append(value)
    return {
        name: {
            "turns": len(transcripts[name]),
            "expected_turns": len(questions) * rounds,
            **{f"{stage}_ms": summarise(v) for stage, v in values[name].items()},
        }
        for name in backends
    }


def clip_table(backends: dict[str, Any], clips: list[Clip], show_errors: bool) -> dict[str, Any]:
    scores = compare(backends, clips)
    groups = [*dict.fromkeys(group for group, _, _ in clips), "all"]
    print("| clips | backend | words | errors | WER | p50 ms | p95 ms | max ms | CPU p50 ms |")
    print("|---|---|---|---|---|---|---|---|---|")
    table = {}
    for group in groups:
        for name in backends:
            row = scores[(group, name)].row()
            table[f"{group}/{name}"] = row
            print(
                f"| {group} ({row['clips']}) | {name} | {row['words']} | {row['errors']} | "
                f"{row['wer']:.1%} | {row['p50_ms']:.0f} | {row['p95_ms']:.0f} | {row['max_ms']:.0f} | "
                f"{row['cpu_p50_ms']:.0f} |"
            )
    if show_errors:
        for (group, name), score in scores.items():
            for reference, text in score.mistakes:
                print(f"  {group:8} {name:16} {reference!r} -> {text!r}")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval-dir", type=Path, default=ROOT / "src/rejoinder/data/eval")
    parser.add_argument("--piper", type=int, default=60, help="routing queries to speak with Piper")
    parser.add_argument("--live", type=int, default=0, help="live-pipeline rounds per backend")
    parser.add_argument("--live-only", action="store_true", help="skip the per-clip comparison")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--unconverted", action="store_true", help="also Moonshine's packaged graph as is")
    parser.add_argument("--show-errors", action="store_true")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()

    backends: dict[str, Any] = {
        "faster-whisper": create(
            "stt", "faster-whisper", STTConfig(backend="faster-whisper", threads=args.threads)
        ),
        "moonshine": create("stt", "moonshine", STTConfig(backend="moonshine", threads=args.threads)),
    }
    if args.unconverted:
        from rejoinder.moonshine_assets import source_dir

        config = STTConfig(backend="moonshine", model=str(source_dir("base")), threads=args.threads)
        backends["moonshine (packaged graph as is)"] = create("stt", "moonshine", config)
    for stt in backends.values():
        stt.transcribe_blocking(np.zeros(8000, np.float32))  # warm-up, as Engine.load does
    started = time.strftime("%Y-%m-%d %H:%M")
    result: dict[str, Any] = {"started": started, "threads": args.threads, "load_before": os.getloadavg()}
    if not args.live_only:
        clips = human() + samples() + eval_set(args.eval_dir) + asyncio.run(piper_queries(args.piper))
        result["clips"] = clip_table(backends, clips, args.show_errors)
        print(f"({len(clips)} clips, {started}, {args.threads} threads per backend)")
    if args.live:
        in_loop = {name: stt for name, stt in backends.items() if "as is" not in name}
        result["live"] = asyncio.run(live(Config(), in_loop, args.live))
        print("\nlive pipeline, bundled questions at 1x (ms after the end-of-turn decision):\n")
        print("| backend | turns | stt p50 | stt p95 | first audio p50 | first audio p95 |")
        print("|---|---|---|---|---|---|")
        for name, row in result["live"].items():
            stt, first = row["stt_ms"], row["first_audio_ms"]
            print(
                f"| {name} | {row['turns']}/{row['expected_turns']} | {stt['median']} | {stt['p95']} | "
                f"{first['median']} | {first['p95']} |"
            )
    result["load_after"] = os.getloadavg()
    print(f"\nload average (1, 5, 15 min) before {result['load_before']}, after {result['load_after']}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
