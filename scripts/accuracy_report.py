"""Render `rejoinder eval --json` results as the Markdown tables in docs/accuracy.md.

Usage: .venv/bin/python scripts/accuracy_report.py RESULT.json [--intro FILE.md] > docs/accuracy.md
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
        f"thresholds {data['router']['thresholds']}; wall {data['wall_s']} s; peak RSS {data['peak_rss_mb']} MB.",
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("result", type=Path)
    parser.add_argument("--intro", type=Path, help="Markdown to print before the tables")
    args = parser.parse_args()
    if args.intro:
        print(args.intro.read_text())
    print(render(json.loads(args.result.read_text())))


if __name__ == "__main__":
    main()
