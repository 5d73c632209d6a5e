"""Conversations taking turns on one llama.cpp model: first-token latency with and without slots
pinned to conversations (backends/llama_slots.py).

N conversations, each with its own history (the strong tier's system prompt and four earlier
exchanges), ask one question each in turn, for R rounds, one request at a time. Variants:

  pinned    one slot per conversation, as Rejoinder assigns them (`id_slot`)
  llama     the same slots, llama.cpp's own choice of slot (no `id_slot`)
  one-slot  a single slot, as with `llm.parallel` 1

Reports the first-token p50 and max over the rounds after the first (the first fills the caches)
and RSS before/after, per variant, in one run.

Run: .venv/bin/python benchmarks/slot_affinity.py [--conversations 4] [--rounds 4] [--model qwen1.5b] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

from rejoinder.backends.llamacpp import resolve_model, start_server
from rejoinder.config import STRONG_PROMPT

TOPICS = [
    "the ocean",
    "volcanoes",
    "the Roman empire",
    "jazz",
    "honey bees",
    "black holes",
    "coffee",
    "chess",
]


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    return 0.0


def histories(n: int) -> list[list[dict[str, str]]]:
    out = []
    for i in range(n):
        messages = [{"role": "system", "content": STRONG_PROMPT}]
        for k in range(4):
            topic = TOPICS[(i + k) % len(TOPICS)]
            messages += [
                {"role": "user", "content": f"Tell me something about {topic}, please."},
                {
                    "role": "assistant",
                    "content": f"{topic.capitalize()} has been studied for a long time, "
                    f"and people in conversation {i} keep asking new questions about it.",
                },
            ]
        out.append(messages)
    return out


def run(variant: str, model: str, conversations: int, rounds: int) -> dict[str, Any]:
    slots = 1 if variant == "one-slot" else conversations
    server = start_server(
        resolve_model(model), 2048 * slots, slots, threads=2, batch_threads=2, use_jinja=True
    )
    start_rss = rss_mb()
    convs = histories(conversations)
    first_tokens: list[float] = []
    for r in range(rounds):
        for i, messages in enumerate(convs):
            messages.append({"role": "user", "content": f"And what is one more fact, number {r}?"})
            request: dict[str, Any] = {
                "messages": messages,
                "stream": True,
                "max_tokens": 16,
                "temperature": 0.1,
                "seed": 1,
                "cache_prompt": True,
            }
            if variant == "pinned":
                request["id_slot"] = i
            t0 = time.perf_counter()
            first: list[float] = []
            text: list[str] = []

            def on_chunk(
                chunk: Any, t0: float = t0, first: list[float] = first, text: list[str] = text
            ) -> None:
                for choice in chunk.get("choices", []) if isinstance(chunk, dict) else []:
                    if piece := (choice.get("delta") or {}).get("content"):
                        if not first:
                            first.append(time.perf_counter() - t0)
                        text.append(piece)

            server.handle_chat_completions(request, on_chunk)
            messages.append({"role": "assistant", "content": "".join(text)})
            if r > 0 and first:
                first_tokens.append(first[0] * 1000)
    result = {
        "variant": variant,
        "slots": slots,
        "first_token_ms_p50": round(statistics.median(first_tokens)),
        "first_token_ms_max": round(max(first_tokens)),
        "n": len(first_tokens),
        "rss_mb_start": round(start_rss),
        "rss_mb_end": round(rss_mb()),
    }
    del server
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--model", default="qwen1.5b")
    parser.add_argument("--variants", nargs="+", default=["pinned", "llama", "one-slot"])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = [run(v, args.model, args.conversations, args.rounds) for v in args.variants]
    if args.json:
        print(
            json.dumps(
                {
                    "conversations": args.conversations,
                    "rounds": args.rounds,
                    "model": args.model,
                    "results": results,
                },
                indent=2,
            )
        )
    else:
        for r in results:
            print(
                f"{r['variant']:9} slots {r['slots']}: first token p50 {r['first_token_ms_p50']} ms, "
                f"max {r['first_token_ms_max']} ms (n={r['n']}); "
                f"RSS {r['rss_mb_start']} -> {r['rss_mb_end']} MB"
            )


if __name__ == "__main__":
    main()
