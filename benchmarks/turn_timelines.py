"""Where a server's voice turns spent their time on the way to first audio, from its log.

    python benchmarks/turn_timelines.py /tmp/soak/server.log [more logs...]

Reads the `turn` records that `serve --log-level=info` writes (each turn's `timeline_ms`, zero at
the end of the user's speech) and prints, per log and per tier, p50 / p95 / max of each step:
waiting for the first token, writing the first clause, synthesising it, and first audio itself;
then how often replies past their first clause paused for other turns (`tail paused` records,
llm.tail_pause_s). Used for docs/soak.md (what the first-audio tail is made of).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

STEPS = (
    ("first token", "llm_start", "first_token"),
    ("first clause", "first_token", "first_clause"),
    ("clause to audio", "first_clause", "first_audio"),
    ("first audio", "speech_end", "first_audio"),
)


def turns(lines: list[str]) -> list[dict]:
    out = []
    for line in lines:
        if '"event": "turn"' not in line:
            continue
        turn = json.loads(line)["turn"]
        if turn.get("status") == "completed" and "first_audio" in turn.get("timeline_ms", {}):
            out.append(turn)
    return out


def pauses(lines: list[str]) -> list[dict]:
    return [json.loads(line) for line in lines if '"event": "tail paused"' in line]


def summary(values: list[float]) -> str:
    if not values:
        return "-"
    a = np.asarray(values)
    return f"{np.median(a):.0f} / {np.percentile(a, 95):.0f} / {a.max():.0f}"


def main(paths: list[str]) -> None:
    for path in paths:
        lines = Path(path).read_text().splitlines()
        records = turns(lines)
        print(f"{path}: {len(records)} completed turns; ms p50 / p95 / max")
        tiers = sorted({(t.get("route") or {}).get("tier", "-") for t in records})
        for tier in ["all", *tiers]:
            chosen = [t for t in records if tier == "all" or (t.get("route") or {}).get("tier", "-") == tier]
            cells = []
            for name, start, end in STEPS:
                values = [
                    t["timeline_ms"][end] - t["timeline_ms"][start]
                    for t in chosen
                    if start in t["timeline_ms"] and end in t["timeline_ms"]
                ]
                cells.append(f"{name} {summary(values)}")
            print(f"  {tier} ({len(chosen)}): " + "; ".join(cells))
        paused = pauses(lines)
        if paused:
            ms = [p["paused_ms"] for p in paused]
            print(
                f"  tails paused: {len(paused)} replies, {sum(p['pauses'] for p in paused)} pauses, "
                f"{sum(ms) / 1000:.1f} s in all; per reply ms {summary(ms)}"
            )


if __name__ == "__main__":
    main(sys.argv[1:])
