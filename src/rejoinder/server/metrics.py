"""Prometheus metrics, in a registry of the app's own (several apps can live in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from rejoinder.timeline import TurnReport

_LATENCY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.sessions_active = Gauge(
            "rejoinder_sessions_active", "Open realtime sessions", registry=self.registry
        )
        self.sessions_total = Counter(
            "rejoinder_sessions", "Realtime sessions opened", ["transport"], registry=self.registry
        )
        self.sessions_rejected = Counter(
            "rejoinder_sessions_rejected", "Sessions refused at the limit", registry=self.registry
        )
        self.sessions_timed_out = Counter(
            "rejoinder_sessions_timed_out", "Sessions closed for being idle", registry=self.registry
        )
        self.turns = Counter("rejoinder_turns", "Turns answered", ["status"], registry=self.registry)
        self.first_audio = Histogram(
            "rejoinder_first_audio_seconds",
            "End of speech to first reply audio",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.stage = Histogram(
            "rejoinder_stage_seconds",
            "Per-stage latency",
            ["stage"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.protocol_errors = Counter(
            "rejoinder_protocol_errors", "Error events sent to clients", registry=self.registry
        )

    def observe_turn(self, report: TurnReport) -> None:
        self.turns.labels(report.status).inc()
        timings = report.timeline.timings_ms()
        if (first := timings["first_audio"]) is not None:
            self.first_audio.observe(first / 1000)
        for stage in ("stt", "llm_first_token", "tts_first_audio"):
            if (ms := timings[stage]) is not None:
                self.stage.labels(stage).observe(ms / 1000)

    def render(self) -> bytes:
        return generate_latest(self.registry)
