"""What a soak run saw, summed up: turns, latency, errors, abuse outcomes, memory, descriptors, leaks."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from rejoinder.bench import summarise
from rejoinder.soak.abuse import Outcome
from rejoinder.soak.server import Vitals
from rejoinder.soak.voice import TurnResult


@dataclass
class SoakStats:
    turns: list[TurnResult] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    error_samples: dict[str, str] = field(default_factory=dict)
    vitals: list[Vitals] = field(default_factory=list)

    def turn(self, result: TurnResult) -> None:
        self.turns.append(result)
        if not result.answered:
            self.error(
                f"turn-{result.status or 'unanswered'}", f"{result.question}: {result.error or result.status}"
            )

    def outcome(self, outcome: Outcome) -> None:
        self.outcomes.append(outcome)
        if not outcome.ok:
            self.error(outcome.kind, outcome.detail)

    def error(self, kind: str, detail: str) -> None:
        self.errors[kind] += 1
        self.error_samples.setdefault(kind, detail[:300])


def trough_growth(samples: list[tuple[float, float]], window_s: float = 60) -> float | None:
    """The lowest RSS in the last `window_s` minus the lowest in the first `window_s` (samples of
    (t_s, MB) after warm-up): the server trims every 30 s, so RSS is a saw-tooth and two single
    samples say more about where they fell on it than about growth."""
    if not samples or samples[-1][0] - samples[0][0] < 2 * window_s:
        return None
    first = min(mb for t, mb in samples if t <= samples[0][0] + window_s)
    last = min(mb for t, mb in samples if t >= samples[-1][0] - window_s)
    return round(last - first, 1)


def summary(
    stats: SoakStats,
    config: dict[str, Any],
    end: dict[str, Any],
    warmup_s: float,
) -> dict[str, Any]:
    asked = len(stats.turns)
    answered = sum(t.answered for t in stats.turns)
    latencies = [t.first_audio_s * 1000 for t in stats.turns if t.first_audio_s is not None]
    by_kind: dict[str, dict[str, int]] = {}
    for o in stats.outcomes:
        row = by_kind.setdefault(o.kind, {"ok": 0, "failed": 0})
        row["ok" if o.ok else "failed"] += 1
    rss = [v.rss_mb for v in stats.vitals if v.rss_mb is not None]
    after_warmup = [v for v in stats.vitals if v.t_s >= warmup_s and v.rss_mb is not None]
    growth = None
    if len(after_warmup) >= 2:
        growth = round(float(after_warmup[-1].rss_mb or 0) - float(after_warmup[0].rss_mb or 0), 1)
    fds = [v.fds for v in stats.vitals if v.fds is not None]
    return {
        "config": config,
        "turns": {
            "asked": asked,
            "answered": answered,
            "answered_pct": round(100 * answered / asked, 1) if asked else None,
        },
        "first_audio_ms": summarise(latencies),
        "server_first_audio_ms": summarise(
            [t.server_first_audio_ms for t in stats.turns if t.server_first_audio_ms is not None]
        ),
        "underruns": {
            "count": sum(t.underruns for t in stats.turns),
            "ms": round(sum(t.underrun_ms for t in stats.turns), 1),
            "turns_with": sum(1 for t in stats.turns if t.underruns),
            "longest_ms": max((t.underrun_ms for t in stats.turns), default=0.0),
        },
        "errors": dict(stats.errors),
        "error_samples": stats.error_samples,
        "abuse": by_kind,
        "rss_mb": {
            "start": rss[0] if rss else None,
            "end": rss[-1] if rss else None,
            "max": max(rss) if rss else None,
            "growth_after_warmup": growth,
            "trough_growth_after_warmup": trough_growth(
                [(v.t_s, float(v.rss_mb or 0)) for v in after_warmup]
            ),
            "warmup_s": warmup_s,
        },
        "fds": {
            "start": fds[0] if fds else None,
            "end": fds[-1] if fds else None,
            "max": max(fds) if fds else None,
        },
        "timeline": [
            {"t_s": v.t_s, "rss_mb": _r(v.rss_mb), "fds": v.fds, "threads": v.threads, "sessions": v.sessions}
            for v in stats.vitals
        ],
        **end,
    }


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def render(result: dict[str, Any], print_line: Any) -> None:
    """Plain lines for a terminal; the JSON form has everything."""
    t, lat, own = result["turns"], result["first_audio_ms"], result["server_first_audio_ms"]
    cfg = result["config"]
    print_line(
        f"soak: {cfg['clients']} talking client(s), {cfg['minutes']} min, "
        f"{cfg['webrtc_calls']} WebRTC call(s) planned, abuse {'on' if cfg['abuse'] else 'off'}"
    )
    print_line(
        f"turns: {t['answered']}/{t['asked']} answered ({t['answered_pct']}%); first audio after end of "
        f"speech p50 {lat.get('median', '-')} ms, p95 {lat.get('p95', '-')} ms, max {lat.get('max', '-')} ms "
        f"(n={lat['n']}); server's own figure p50 {own.get('median', '-')}, p95 {own.get('p95', '-')} ms"
    )
    gaps = result["underruns"]
    print_line(
        f"underruns (the reply's audio ran out while playing): {gaps['count']} in {gaps['turns_with']} "
        f"turn(s), {gaps['ms']} ms in all, at most {gaps['longest_ms']} ms in one turn"
    )
    for kind, row in sorted(result["abuse"].items()):
        print_line(f"  {kind}: {row['ok']} ok, {row['failed']} failed")
    if result["errors"]:
        print_line("errors: " + ", ".join(f"{k} x{v}" for k, v in sorted(result["errors"].items())))
        for kind, sample in sorted(result["error_samples"].items()):
            print_line(f"  {kind}: {sample}")
    else:
        print_line("errors: none")
    rss, fds = result["rss_mb"], result["fds"]
    print_line(
        f"server RSS {rss['start']} -> {rss['end']} MB (max {rss['max']}; growth after "
        f"{rss['warmup_s']:.0f} s warm-up: {rss['growth_after_warmup']} MB, "
        f"lowest of the last minute vs the first: {rss.get('trough_growth_after_warmup')} MB); "
        f"fds {fds['start']} -> {fds['end']} (max {fds['max']})"
    )
    print_line("  t_s    rss_mb  fds  threads  sessions")
    for row in result["timeline"]:
        cells = (row["t_s"], row["rss_mb"], row["fds"], row["threads"], row["sessions"])
        print_line("  " + "  ".join(f"{c!s:>{w}}" for c, w in zip(cells, (5, 6, 3, 7, 8), strict=True)))
    state = f"CRASHED (exit {result['server_exit']})" if result["server_crashed"] else "alive to the end"
    print_line(
        f"sessions leaked: {result['sessions_leaked']} (/health {result['health_sessions_end']}, "
        f"/metrics active {result['metrics_sessions_active_end']}); server {state}"
    )
