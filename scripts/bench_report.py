"""Render `rejoinder bench --json` results as the Markdown tables in docs/benchmarks.md.

Usage: .venv/bin/python scripts/bench_report.py LABEL=FILE.json [LABEL=FILE.json ...]
"""

from __future__ import annotations

import json
import os
import platform
import sys


def row(name: str, s: dict[str, float]) -> str:
    cells = " | ".join(str(s.get(k, "-")) for k in ("median", "p95", "min", "max"))
    return f"| {name} | {cells} |"


def render(label: str, data: dict) -> str:  # type: ignore[type-arg]
    cfg = data["config"]
    lines = [
        f"### {label}",
        "",
        f"{data['turns']} turns ({cfg['files']} questions x {cfg['runs']} run(s) x "
        f"{cfg['clients']} client(s)), "
        f"end silence {cfg['end_silence_ms']} ms, speculation after {cfg['speculate_after_ms']} ms; "
        f"wall {data['wall_s']} s, peak RSS {data['peak_rss_mb']} MB, audio underruns {data['underruns']}, "
        f"speculative turns {data['speculative_share']:.0%} "
        f"(first clause synthesis begun in the silence: {data.get('speculative_audio_share', 0):.0%}), "
        f"STT real-time factor median {data['stt_rtf'].get('median')}.",
        "",
        "| stage (ms after end of speech; endpointing before it) | median | p95 | min | max |",
        "|---|---|---|---|---|",
    ]
    lines += [row(k, v) for k, v in data["stages_ms"].items()]
    for k, v in data.get("baseline_sequential_ms", {}).items():
        lines.append(row(f"*sequential baseline* {k}", v))
    if data.get("speedup_first_audio_median"):
        lines += [
            "",
            f"Median end-of-speech -> first audio: **{data['speedup_first_audio_median']}x** faster than the "
            "sequential baseline measured in the same run.",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    print(f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}.\n")
    for arg in sys.argv[1:]:
        label, path = arg.split("=", 1)
        with open(path) as f:
            print(render(label, json.load(f)))


if __name__ == "__main__":
    main()
