"""When does the first clause reach the TTS? One recorded token stream per question, cut by two
chunker settings, so the comparison is paired and free of run-to-run noise.

The strong tier answers each question once (as in a live turn: its prompt, its sampling); every
token's arrival time is kept. Each chunker setting then reads the same tokens in the same order:
the time of the token that releases the first clause is when a live turn would start speaking,
and the second clause's release says whether it would be ready before the first has been heard.
The first clause of each setting is synthesised (the default TTS) for its length and its time to
first audio. Questions: the routing set's strong-tier questions and the bundled spoken corpus.

Run: .venv/bin/python benchmarks/first_clause.py [--limit N] [--json] [--config FILE]
The second setting is the first with `{"chunker": {"first_verb_words": 1000}}` unless --other.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from importlib import resources
from pathlib import Path
from typing import Any

from rejoinder.chunking import ClauseChunker
from rejoinder.config import ChunkerConfig, Config
from rejoinder.engine import Engine
from rejoinder.responder import params_for

MAX_PIECES = 40
"""Enough for two clauses; the rest of a reply does not change when the first one starts."""


def _questions(limit: int | None) -> list[str]:
    data = resources.files("rejoinder.data")
    rows = [json.loads(line) for line in (data / "routing.jsonl").read_text().splitlines() if line.strip()]
    texts = [r["text"] for r in rows if r["label"] == 1]
    corpus = (data / "samples" / "questions.txt").read_text().splitlines()
    texts += [t for line in corpus if "\t" in line and (t := line.split("\t", 1)[1]) not in texts]
    return texts[:limit] if limit else texts


async def _record(engine: Engine, text: str) -> list[tuple[float, str]]:
    """(ms since the request, piece) for the strong tier's reply to `text`."""
    tier = engine.tiers[-1]
    messages = [{"role": "system", "content": tier.config.system_prompt}, {"role": "user", "content": text}]
    t0 = time.perf_counter()
    out: list[tuple[float, str]] = []
    stream = tier.llm.stream(messages, params_for(tier.config))
    try:
        async for piece in stream:
            out.append(((time.perf_counter() - t0) * 1000, piece))
            if len(out) >= MAX_PIECES:
                break
    finally:
        await stream.aclose()
    return out


def _releases(pieces: list[tuple[float, str]], config: ChunkerConfig) -> list[tuple[float, str]]:
    """(ms, clause) for the first two clauses as this chunker setting releases them."""
    chunker, out = ClauseChunker(config), []
    for at, piece in pieces:
        out += [(at, clause) for clause in chunker.push(piece)]
        if len(out) >= 2:
            return out[:2]
    end = pieces[-1][0] if pieces else 0.0
    return (out + [(end, clause) for clause in chunker.flush()])[:2]


async def _speak(engine: Engine, text: str) -> tuple[float, float]:
    """(ms to first audio, seconds of audio) for `text`."""
    t0, first, samples = time.perf_counter(), None, 0
    async for chunk in engine.tts.stream(text):
        first = first if first is not None else (time.perf_counter() - t0) * 1000
        samples += chunk.size
    return first or 0.0, samples / engine.tts.sample_rate


def _summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"n": len(values), "median": round(statistics.median(values), 1), "p95": round(p95, 1)}


async def _run(engine: Engine, settings: dict[str, ChunkerConfig], questions: list[str]) -> dict[str, Any]:
    per: dict[str, list[dict[str, Any]]] = {name: [] for name in settings}
    for i, text in enumerate(questions):
        pieces = await _record(engine, text)
        print(f"[{i + 1}/{len(questions)}] {text}", file=sys.stderr)
        for name, config in settings.items():
            releases = _releases(pieces, config)
            if not releases:
                continue
            (first_ms, first), second = releases[0], releases[1] if len(releases) > 1 else None
            tts_ms, heard_s = await _speak(engine, first)
            starts = first_ms + tts_ms
            row = {
                "question": text,
                "first_clause": first,
                "first_clause_ms": round(first_ms, 1),
                "first_audio_ms": round(starts, 1),
                "first_clause_s": round(heard_s, 2),
            }
            if second is not None:
                second_tts_ms, _ = await _speak(engine, second[1])
                # heard without a gap when the second clause's audio is ready before the first ends
                row["gap_ms"] = round(max(0.0, second[0] + second_tts_ms - (starts + heard_s * 1000)), 1)
            per[name].append(row)
    names = list(settings)
    a, b = names
    paired = [(x, y) for x, y in zip(per[a], per[b], strict=True) if x["first_clause"] != y["first_clause"]]
    result: dict[str, Any] = {"questions": len(questions), "settings": {}}
    for name in names:
        rows = per[name]
        result["settings"][name] = {
            "first_clause_ms": _summary([r["first_clause_ms"] for r in rows]),
            "first_audio_ms": _summary([r["first_audio_ms"] for r in rows]),
            "first_clause_words": _summary([len(r["first_clause"].split()) for r in rows]),
            "gaps": sum(r.get("gap_ms", 0) > 0 for r in rows),
            "gap_ms_total": round(sum(r.get("gap_ms", 0) for r in rows), 1),
        }
    result["differ"] = {
        "questions": len(paired),
        f"first_audio_saved_ms ({b} - {a})": _summary(
            [y["first_audio_ms"] - x["first_audio_ms"] for x, y in paired]
        )
        if paired
        else None,
        "examples": [
            {"question": x["question"], a: x["first_clause"], b: y["first_clause"]} for x, y in paired[:12]
        ],
    }
    result["rows"] = per
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument(
        "--config", default=None, help="JSON config file for the engine and the first setting"
    )
    parser.add_argument(
        "--other", default='{"first_verb_words": 1000}', help="chunker fields of the second setting (JSON)"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    config = Config.model_validate_json(Path(args.config).read_text()) if args.config else Config()
    other = config.chunker.model_copy(update=json.loads(args.other))
    engine = Engine.load(config, ("llm", "tts"))
    settings = {"configured": config.chunker, "other": other}
    result = asyncio.run(_run(engine, settings, _questions(args.limit)))
    result["other"] = json.loads(args.other)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(json.dumps({k: v for k, v in result.items() if k != "rows"}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
