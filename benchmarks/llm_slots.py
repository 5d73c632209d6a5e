"""llama.cpp slots under load: the same load test against LLM variants, interleaved in one run.

Each variant is a separately loaded copy of the LLM (the other stages are shared); the variants
take turns (A B C A B C ...) so that a change in the machine's other load hits them alike.

    python benchmarks/llm_slots.py --clients 4 --turns 3 --reps 2 --json --out slots.json
    python benchmarks/llm_slots.py --variants 1:2,1:1,4:1          # parallel:threads per variant

A variant `P:T` runs llama.cpp with P slots (llm.parallel, continuous batching) and T threads for
prompts and batches (llm.threads). Questions: the spoken eval set when installed (else the bundled
samples), dealt to clients as `rejoinder bench --clients` does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from rejoinder import registry
from rejoinder.config import Config
from rejoinder.engine import Engine
from rejoinder.loadtest.corpus import default_files, load_questions
from rejoinder.loadtest.report import conditions
from rejoinder.loadtest.run import LoadResult, LoadSettings, Percentiles, run_load


def variant(text: str) -> tuple[int, int]:
    parallel, threads = text.split(":")
    return int(parallel), int(threads)


def row(name: str, results: list[LoadResult]) -> dict[str, Any]:
    def pooled(field: str) -> Percentiles:
        return Percentiles.of([getattr(t, field) for r in results for t in r.turns])

    return {
        "variant": name,
        "asked": sum(r.asked for r in results),
        "answered": sum(r.answered for r in results),
        "voice_to_voice_ms": pooled("voice_to_voice_ms").__dict__,
        "first_audio_ms": pooled("first_audio_ms").__dict__,
        "llm_first_token_ms": pooled("llm_first_token_ms").__dict__,
        "peak_rss_mb": max(r.resources.peak_rss_mb for r in results),
        "process_cores": [r.resources.process_cores for r in results],
        "other_cores": [r.resources.other_cores for r in results],
        "conditions": [conditions(r) for r in results],
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    config = Config()
    base = Engine.load(config, ("vad", "stt", "tts"))
    engines: dict[str, Engine] = {}
    for text in args.variants.split(","):
        parallel, threads = variant(text)
        llm_config = config.llm.model_copy(update={"parallel": parallel, "threads": threads})
        llm = registry.create("llm", llm_config.backend, llm_config)
        llm.prefill([{"role": "system", "content": llm_config.system_prompt}])
        engine = base.with_stages(llm=llm)
        engine.config = config.model_copy(update={"llm": llm_config})
        engines[f"parallel={parallel} threads={threads}"] = engine
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
    parser.add_argument("--variants", default="1:2,1:1,4:1")
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
