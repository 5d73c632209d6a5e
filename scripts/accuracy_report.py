"""Render `rejoinder eval --json` results as docs/accuracy.md.

Usage: .venv/bin/python scripts/accuracy_report.py RESULT.json [LABEL=MORE.json ...] > docs/accuracy.md
RESULT.json is the default run (all three configurations, audio); each LABEL=MORE.json adds a
section with another run's tables (e.g. a different small tier, or text mode).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path
from typing import Any


def pct(acc: dict[str, Any]) -> str:
    if acc.get("accuracy") is None:
        return "-"
    return f"{acc['accuracy'] * 100:.1f} % ({acc['correct']}/{acc['scored']})"


def accuracy_table(data: dict[str, Any]) -> list[str]:
    configs = data["configs"]
    lines = [
        "| | " + " | ".join(c["config"] for c in configs) + " |",
        "|---|" + "---|" * len(configs),
        "| **overall** | " + " | ".join(f"**{pct(c['overall'])}**" for c in configs) + " |",
    ]
    for cat in configs[0]["per_category"]:
        lines.append(f"| {cat} | " + " | ".join(pct(c["per_category"][cat]) for c in configs) + " |")
    for split in ("tune", "holdout"):
        lines.append(f"| *{split} split* | " + " | ".join(pct(c["per_split"][split]) for c in configs) + " |")
    if not data["mode"].startswith("text"):
        lines.append(
            "| *STT word error rate* | " + " | ".join(f"{c['stt_wer'] * 100:.1f} %" for c in configs) + " |"
        )
        if any("cut_turns" in c for c in configs):
            cuts = " | ".join(str(c.get("cut_turns", "-")) for c in configs)
            lines.append(f"| *spoken turns cut in two by the end-of-turn decision* | {cuts} |")
    return lines


def tier_table(data: dict[str, Any]) -> list[str]:
    lines = [
        "| configuration | tier | turns | accuracy | first audio p50 | p95 | LLM first token p50 | p95 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in data["configs"]:
        for tier, t in c["per_tier"].items():
            fa, ft = t["first_audio_ms"], t["llm_first_token_ms"]
            lines.append(
                f"| {c['config']} | {tier} | {t['turns']} | {pct(t)} | {fa.get('median', '-')} | "
                f"{fa.get('p95', '-')} | {ft.get('median', '-')} | {ft.get('p95', '-')} |"
            )
    return lines


def misses(data: dict[str, Any], config: str) -> list[str]:
    wrong = [t for t in data["turns"] if t["config"] == config and t["scored"] and not t["correct"]]
    if not wrong:
        return [f"No wrong answers with `{config}`."]
    lines = [
        f"Wrong answers with `{config}` ({len(wrong)}):",
        "",
        "| conversation | tier | heard | answered |",
        "|---|---|---|---|",
    ]
    for t in wrong:
        reply = t["reply"].replace("|", "/") or "*(nothing)*"
        heard = t["transcript"].replace("|", "/")
        lines.append(f"| {t['conversation']} ({t['turn'] + 1}) | {t['tier']} | {heard} | {reply} |")
    return lines


def render(data: dict[str, Any]) -> str:
    tiers = ", ".join(f"{t['name']} = `{t['model']}` (max {t['max_tokens']} tokens)" for t in data["tiers"])
    out = [
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}; "
        f"mode: {data['mode']}; STT: {data['stt']}; tiers: {tiers}; router: {data['router']['strategy']}, "
        f"thresholds {data['router']['thresholds']}; wall {data['wall_s']} s; "
        f"peak RSS {data['peak_rss_mb']} MB.",
        "",
        *accuracy_table(data),
        "",
        "Per tier (ms after the end-of-speech decision):",
        "",
        *tier_table(data),
        "",
        *misses(data, data["configs"][0]["config"]),
    ]
    return "\n".join(out) + "\n"


INTRO = """# Answer accuracy

`rejoinder eval` replays a spoken question set bundled with the package
(`src/rejoinder/data/eval/`: `questions.json` and one 16 kHz FLAC per user turn, made by
`scripts/make_eval_audio.py` with the packaged Piper voice at six settings of speed
(length_scale 0.85-1.25), variation (noise_scale, noise_w_scale) and white noise (none, or
20-30 dB SNR)) through the same pipeline as `rejoinder reply`: Silero VAD, Whisper, the router,
the LLM tiers, the clause chunker and Piper. Each conversation is a fresh session; its turns
follow each other as in a conversation, the simulated user listening to each reply before
speaking again. 71 conversations (16 facts, 14 arithmetic, 12 explanations, 16 short
reasoning, 13 two- and three-turn follow-ups) hold 74 scored answers: a reply is right when one
of its key's patterns matches and none of its reject patterns does, on the spoken reply with
number words turned into digits ("forty-eight" and "48" both count).

The same run measures three configurations on the same loaded models: **routed** (the default),
**small-only** (routing off: SmolLM2-135M answers everything, the old default) and
**strong-only** (Qwen2.5-Coder-1.5B answers everything). Prompts, router labels and the tier
choice were tuned on the `tune` conversations only; the `holdout` conversations (a third of each
category) were not looked at while tuning, and are reported apart.

Latency here is from the VAD's end-of-speech decision to the first reply audio in *file mode*:
the input is read faster than real time, so STT and the LLM get no head start in the end-of-turn
silence (live, they do: see `rejoinder bench` in [benchmarks.md](benchmarks.md)). The machine is
shared: other processes used the same 2 cores during these runs, so latencies are noisy and
pessimistic.

Regenerate: `rejoinder eval --json > eval.json && python scripts/accuracy_report.py eval.json`.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("result", type=Path)
    parser.add_argument("more", nargs="*", help="LABEL=FILE.json")
    args = parser.parse_args()
    print(INTRO)
    print("## Default run\n")
    print(render(json.loads(args.result.read_text())))
    for extra in args.more:
        label, path = extra.split("=", 1)
        print(f"## {label}\n")
        print(render(json.loads(Path(path).read_text())))


if __name__ == "__main__":
    main()
