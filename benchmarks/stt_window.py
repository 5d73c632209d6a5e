"""Whisper's short encoder window with and without the repetition penalty: loops, accuracy, time.

Speaks every fourth query of the routing set with the Piper voice (60 short questions and
requests) and adds the human clips in ../shared/audio, then transcribes each with the packaged
Whisper base through the real backend, once per penalty. A "loop" is a short-window decode the
backend rejects (repeated phrases); those fall back to the full 30 s window, which is what makes
them slow. Piper's voice varies a little from run to run, so the counts do too.
Run: .venv/bin/python benchmarks/stt_window.py [--penalties 1.0 1.1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
from pathlib import Path

import numpy as np

from rejoinder.audio import read_audio, resample
from rejoinder.backends.faster_whisper import FasterWhisperSTT
from rejoinder.bench import summarise
from rejoinder.config import STTConfig, TTSConfig
from rejoinder.registry import create

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from helpers import word_errors  # noqa: E402  (the test suite's WER, so both agree)


async def _spoken_queries() -> list[tuple[str, np.ndarray]]:
    tts = create("tts", "piper", TTSConfig())
    lines = (ROOT / "src/rejoinder/data/routing.jsonl").read_text().splitlines()
    out = []
    for line in lines[::4][:60]:
        text = json.loads(line)["text"]
        speech = resample(np.concatenate([c async for c in tts.stream(text)]), tts.sample_rate, 16_000)
        pad = np.zeros(4800, np.float32)
        out.append((text, np.concatenate([pad, 0.8 * speech.astype(np.float32), pad[:3200]])))
    return out


def _human_clips() -> list[tuple[str, np.ndarray]]:
    audio = ROOT.parent / "shared" / "audio"
    clips = []
    for line in (audio / "transcripts.txt").read_text().splitlines():
        if m := re.fullmatch(r"(.*) \((\w+)\)", line.strip()):
            clips.append((m.group(1), read_audio(audio / f"{m.group(2)}.wav")))
    return clips


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--penalties", type=float, nargs="+", default=[1.0, 1.1])
    args = parser.parse_args()
    corpus = asyncio.run(_spoken_queries()) + _human_clips()
    print(f"{len(corpus)} utterances")
    print("| penalty | short-window loops | WER | STT p50 ms | STT p95 ms | max ms |")
    print("|---|---|---|---|---|---|")
    for penalty in args.penalties:
        stt = FasterWhisperSTT(STTConfig(window_repetition_penalty=penalty))
        loops = errors = words = 0
        times = []
        for reference, audio in corpus:
            window = max(stt.config.window_min_s, audio.size / 16_000 + stt.config.window_padding_s)
            loops += stt._transcribe_short(audio, window) is None
            start = time.perf_counter()
            text = stt.transcribe_blocking(audio).text
            times.append(1000 * (time.perf_counter() - start))
            e, n = word_errors(reference, text)
            errors, words = errors + e, words + n
        stats = summarise(times)  # the same median and p95 as `rejoinder bench`
        print(
            f"| {penalty} | {loops}/{len(corpus)} | {errors / words:.1%} | {stats['median']:.0f} | "
            f"{stats['p95']:.0f} | {stats['max']:.0f} |"
        )


if __name__ == "__main__":
    main()
