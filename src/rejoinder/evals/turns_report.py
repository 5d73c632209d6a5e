"""The endpointing evaluation's report as text: per detector, per split, per category."""

from __future__ import annotations

from typing import Any


def format_report(report: dict[str, Any]) -> str:
    counts = report["clips"]
    lines = [
        f"Endpointing on {counts['pause']} turns with mid-utterance pauses and {counts['complete']} "
        f"complete turns ({counts['human']} clips human): delay = ms of stream time from the true end "
        "of speech to the decision; +check adds the wall time of the deciding check (model and "
        "transcript), which a live stream also waits",
    ]
    sections = [("all clips", report["endpointing"])]
    sections += [(f"split {k}", rows) for k, rows in report.get("endpointing_by_split", {}).items()]
    for title, rows in sections:
        lines += ["", f"== {title} ==", *_format_rows(rows)]
    if "interruptions" in report:
        from rejoinder.evals.interruptions import format_report as format_interruptions

        lines += ["", format_interruptions(report["interruptions"])]
    return "\n".join(lines)


def _format_rows(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        f"{'detector':<20} {'false cut-offs':>15} {'delay p50':>10} {'p95':>6} {'+check p50':>11} "
        f"{'p95':>6} {'complete cut':>13} {'checks':>7} {'ms/check':>9}",
    ]
    for s in rows:
        d, w, c = s["delay_ms"], s["delay_with_check_ms"], s["check_ms"]
        cut = f"{s['false_cutoffs']}/{s['pause_turns']} {s['false_cutoff_rate']:.0%}"
        complete_cut = f"{s['complete_cut_early']}/{s['complete_turns']}"
        lines.append(
            f"{s['detector']:<20} {cut:>15} {d.get('median', '-'):>10} {d.get('p95', '-'):>6}"
            f" {w.get('median', '-'):>11} {w.get('p95', '-'):>6} {complete_cut:>13} {s['checks']:>7}"
            f" {c.get('median', '-'):>9}"
        )
    lines += _cut_offs_by(rows, "category")
    lines += _cut_offs_by(rows, "method", "pause method")
    kinds = list(rows[0]["complete_by_category"])
    lines += [
        "",
        "complete turns per category: delay p50 ms (cut early)",
        f"{'detector':<20} " + " ".join(f"{k:>12}" for k in kinds),
    ]
    for s in rows:
        by = s["complete_by_category"]
        cells = [f"{by[k]['delay_ms'].get('median', '-')} ({by[k]['cut_early']})" for k in kinds]
        lines.append(f"{s['detector']:<20} " + " ".join(f"{cell:>12}" for cell in cells))
    return lines


def _cut_offs_by(rows: list[dict[str, Any]], key: str, title: str | None = None) -> list[str]:
    """False cut-offs per category (or pause method) of paused turn: 'cut/turns' per detector."""
    names = list(rows[0][f"pause_turns_by_{key}"])
    lines = [
        "",
        f"false cut-offs per {title or key}:",
        f"{'detector':<20} " + " ".join(f"{k:>12}" for k in names),
    ]
    for s in rows:
        cells = [f"{s[f'false_cutoffs_by_{key}'][k]}/{s[f'pause_turns_by_{key}'][k]}" for k in names]
        lines.append(f"{s['detector']:<20} " + " ".join(f"{cell:>12}" for cell in cells))
    return lines
