"""`rejoinder soak`: its accounting, and a short real run against a server it starts."""

from __future__ import annotations

import json

from rejoinder.soak.abuse import Outcome
from rejoinder.soak.report import SoakStats, summary
from rejoinder.soak.server import Vitals
from rejoinder.soak.voice import TurnResult
from test_cli import cli


def test_the_summary_counts_what_failed() -> None:
    stats = SoakStats()
    stats.turn(TurnResult("q1", True, 0.2, "What?", "That.", "completed", None, 180.0))
    stats.turn(TurnResult("q2", False, None, "", "", "timeout", "no answer in 60 s"))
    stats.outcome(Outcome("http:x", True))
    stats.outcome(Outcome("webrtc-vanish", False, "HTTP 503"))
    stats.vitals += [
        Vitals(0.0, 500.0, 500.0, 10, 20, 0),
        Vitals(70.0, 600.0, 600.0, 12, 20, 2),
        Vitals(130.0, 630.0, 630.0, 11, 20, 1),
    ]
    end = {
        "sessions_leaked": 1,
        "health_sessions_end": 1,
        "metrics_sessions_active_end": 1.0,
        "server_crashed": False,
    }
    result = summary(stats, {"clients": 1}, end, warmup_s=60)
    assert result["turns"] == {"asked": 2, "answered": 1, "answered_pct": 50.0}
    assert result["first_audio_ms"]["n"] == 1 and result["server_first_audio_ms"]["median"] == 180.0
    assert result["errors"] == {"turn-timeout": 1, "webrtc-vanish": 1}
    assert result["abuse"] == {"http:x": {"ok": 1, "failed": 0}, "webrtc-vanish": {"ok": 0, "failed": 1}}
    assert result["rss_mb"]["growth_after_warmup"] == 30.0  # from the first sample after warm-up
    assert result["fds"] == {"start": 10, "end": 11, "max": 12}


def test_a_short_soak_runs_and_reports() -> None:
    """One talking client for a few turns, no abuse: every turn answered, nothing leaked."""
    result = cli(
        "soak",
        "--clients",
        "1",
        "--minutes",
        "0.3",
        "--webrtc-calls",
        "0",
        "--no-abuse",
        "--sample-s",
        "5",
        "--json",
        timeout=600,
    )
    report = json.loads(result.stdout)
    assert report["turns"]["asked"] >= 1, result.stderr
    assert report["turns"]["answered"] == report["turns"]["asked"], report["error_samples"]
    assert report["sessions_leaked"] == 0 and not report["server_crashed"]
    assert report["timeline"] and report["timeline"][0]["rss_mb"] > 100
    assert result.returncode == 0, result.stderr
