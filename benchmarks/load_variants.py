"""Settings under load: the same load test against several model settings, interleaved in one run.

Each variant is its own loaded set of models; the variants take turns (A B C A B C ...) so that a
change in the machine's other load hits them alike.

    python benchmarks/load_variants.py --clients 4 --turns 3 --reps 2 --out variants.json \
        --variant default --variant llm.threads=1 --variant llm.threads=1,llm.parallel=4

A variant is a comma-separated list of `section.field=value` overrides of the default config
(`default` for none): llm.parallel (llama.cpp slots, continuous batching), llm.threads (prompt
and batch threads), stt.threads, tts.threads, ... Questions: the spoken eval set when installed
(else the bundled samples), or FILES, dealt to clients as `rejoinder bench --clients` does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from rejoinder.config import Config
from rejoinder.engine import Engine
from rejoinder.loadtest.corpus import default_files, load_questions
from rejoinder.loadtest.report import conditions
from rejoinder.loadtest.run import LoadResult, LoadSettings, Percentiles, run_load


def variant(text: str) -> Config:
    config = Config()
    for item in [] if text == "default" else text.split(","):
        key, value = item.split("=")
        section, field = key.strip().split(".")
        setattr(getattr(config, section), field, type(getattr(getattr(config, section), field))(value))
    return config


def row(name: str, results: list[LoadResult]) -> dict[str, Any]:
    def pooled(field: str) -> Percentiles:
        return Percentiles.of([getattr(t, field) for r in results for t in r.turns])

    return {
        "variant": name,
        "asked": sum(r.asked for r in results),
        "answered": sum(r.answered for r in results),
        "voice_to_voice_ms": pooled("voice_to_voice_ms").__dict__,
        "first_audio_ms": pooled("first_audio_ms").__dict__,
        "stt_ms": pooled("stt_ms").__dict__,
        "llm_first_token_ms": pooled("llm_first_token_ms").__dict__,
        "tts_first_audio_ms": pooled("tts_first_audio_ms").__dict__,
        "underruns": sum(r.underruns for r in results),
        "peak_rss_mb": max(r.resources.peak_rss_mb for r in results),  # the process: all variants
        "process_cores": [r.resources.process_cores for r in results],
        "other_cores": [r.resources.other_cores for r in results],
        "conditions": [conditions(r) for r in results],
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    engines = {name: Engine.load(variant(name)) for name in args.variant or ["default"]}
    questions = load_questions(list(args.files) or default_files())
    results: dict[str, list[LoadResult]] = {name: [] for name in engines}
    for rep in range(args.reps):
        for name, engine in engines.items():
            settings = LoadSettings(clients=args.clients, turns=args.turns, seed=args.seed + rep)
            result = await run_load(engine, questions, settings)
            results[name].append(result)
            v = result.voice_to_voice_ms
            print(
                f"rep {rep + 1} {name}: v2v p50 {v.p50} p95 {v.p95} ms, {result.answered}/{result.asked}; "
                f"{conditions(result)}",
                file=sys.stderr,
            )
    return {
        "clients": args.clients,
        "turns": args.turns,
        "reps": args.reps,
        "variants": [row(name, rs) for name, rs in results.items()],
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variant", action="append", help="overrides, e.g. llm.threads=1,llm.parallel=4")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    report = asyncio.run(main(args))
    text = json.dumps(report, indent=2)
    if args.out:
        args.out.write_text(text)
    for v in report["variants"]:
        p = v["voice_to_voice_ms"]
        print(
            f"{v['variant']}: voice-to-voice p50 {p['p50']} p95 {p['p95']} p99 {p['p99']} ms "
            f"(n {p['n']}), llm first token p95 {v['llm_first_token_ms']['p95']} ms, "
            f"{v['answered']}/{v['asked']} answered, peak RSS {v['peak_rss_mb']} MB"
        )
    if args.json:
        print(text)
