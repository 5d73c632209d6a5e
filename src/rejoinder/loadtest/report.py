"""The load test's tables and its one-line summaries."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from rejoinder.loadtest.ramp import RampResult
from rejoinder.loadtest.run import LoadResult, Percentiles

LATENCIES = (
    ("voice-to-voice", "voice_to_voice_ms"),
    ("first audio (after VAD decision)", "first_audio_ms"),
    ("endpointing (true end -> decision)", "endpointing_ms"),
    ("stt", "stt_ms"),
    ("llm first token", "llm_first_token_ms"),
    ("tts first audio", "tts_first_audio_ms"),
)


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def conditions(result: LoadResult) -> str:
    r = result.resources
    if result.url:
        return (
            f"CPU: the load generator {r.process_cores:.2f} cores, everything else (the server too if "
            f"local) {r.other_cores} of {r.cores} (load average {r.load_avg_1m}); {r.wall_s:.0f} s"
        )
    shared = (
        f"other processes used {r.other_cores:.2f} of {r.cores} cores meanwhile"
        if r.other_cores is not None
        else "machine CPU use unknown"
    )
    return (
        f"CPU: this process {r.process_cores:.2f} cores, {shared} (load average {r.load_avg_1m}); "
        f"peak RSS {r.peak_rss_mb:.0f} MB; {r.wall_s:.0f} s"
    )


def print_load(console: Console, result: LoadResult) -> None:
    s = result.settings
    refused = f", {result.refused} refused by the server" if result.refused else ""
    where = f" against {result.url}" if result.url else ""
    table = Table(
        title=f"{s.clients} client(s){where}, {result.answered}/{result.asked} questions answered, "
        f"{result.distinct_share:.0%} distinct{refused}"
    )
    table.add_column("latency (ms)")
    for col in ("n", "p50", "p95", "p99", "max"):
        table.add_column(col, justify="right")
    for label, name in LATENCIES:
        p: Percentiles = getattr(result, name)
        if p.n == 0 and name != "voice_to_voice_ms":
            continue  # a remote run sees only what the client sees
        table.add_row(label, str(p.n), _cell(p.p50), _cell(p.p95), _cell(p.p99), _cell(p.max))
    console.print(table)
    console.print(f"underruns {result.underruns} ({result.underrun_ms:.0f} ms); {conditions(result)}")


def level_line(result: LoadResult, failed: str | None) -> str:
    v = result.voice_to_voice_ms
    mark = "ok" if failed is None else f"over: {failed}"
    return (
        f"{result.settings.clients:>3} clients: voice-to-voice p50 {_cell(v.p50)} p95 {_cell(v.p95)} "
        f"p99 {_cell(v.p99)} ms, {result.answered}/{result.asked} answered, "
        f"CPU {result.resources.process_cores:.2f} (others {result.resources.other_cores}) - {mark}"
    )


def print_ramp(console: Console, ramp: RampResult) -> None:
    table = Table(title=f"ramp: voice-to-voice p95 bound {ramp.bound_ms:g} ms")
    for col in ("clients", "answered", "v2v p50", "v2v p95", "v2v p99", "first audio p95", "underruns"):
        table.add_column(col, justify="right")
    table.add_column("CPU (ours / others)", justify="right")
    table.add_column("peak RSS MB", justify="right")
    for level in ramp.levels:
        v, r = level.voice_to_voice_ms, level.resources
        table.add_row(
            str(level.settings.clients),
            f"{level.answered}/{level.asked}",
            _cell(v.p50),
            _cell(v.p95),
            _cell(v.p99),
            _cell(level.first_audio_ms.p95),
            str(level.underruns),
            f"{r.process_cores:.2f} / {r.other_cores if r.other_cores is not None else '-'}",
            f"{r.peak_rss_mb:.0f}",
        )
    console.print(table)
    console.print(
        f"[bold]capacity: {ramp.capacity} concurrent talking client(s)[/] at voice-to-voice p95 <= "
        f"{ramp.bound_ms:g} ms (stopped: {ramp.stopped})"
    )
