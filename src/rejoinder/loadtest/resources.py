"""CPU and memory while a load runs: this process's, and the whole machine's (so a run that
shared the CPU with other work says so)."""

from __future__ import annotations

import os
import resource
import threading
import time
from dataclasses import dataclass
from pathlib import Path


def _rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _machine_ticks() -> tuple[int, int] | None:
    """(busy, total) jiffies over all cores since boot, or None off Linux."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


def _process_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class ResourceUse:
    wall_s: float
    cores: int
    process_cores: float
    """CPU seconds this process used per wall second (2.0 = both of 2 cores, all the time)."""
    machine_cores: float | None
    """Cores busy on the whole machine, this process included."""
    other_cores: float | None
    """Cores used by other processes meanwhile: above ~0.2 the figures are not this machine's own."""
    peak_rss_mb: float
    load_avg_1m: float


class ResourceSampler:
    """Samples RSS on a thread every `every_s`; CPU is read from counters at start and stop."""

    def __init__(self, every_s: float = 0.25) -> None:
        self.every_s = every_s
        self._stop = threading.Event()
        self._peak = 0.0
        self._thread = threading.Thread(target=self._sample, name="rejoinder-load-sampler", daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(self.every_s):
            self._peak = max(self._peak, _rss_mb())

    def __enter__(self) -> ResourceSampler:
        self._t0, self._cpu0, self._ticks0 = time.perf_counter(), _process_cpu_s(), _machine_ticks()
        self._peak = _rss_mb()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        wall = max(1e-6, time.perf_counter() - self._t0)
        cores = os.cpu_count() or 1
        process = (_process_cpu_s() - self._cpu0) / wall
        ticks1 = _machine_ticks()
        machine = None
        if self._ticks0 is not None and ticks1 is not None and ticks1[1] > self._ticks0[1]:
            machine = (ticks1[0] - self._ticks0[0]) / (ticks1[1] - self._ticks0[1]) * cores
        self.use = ResourceUse(
            wall_s=round(wall, 1),
            cores=cores,
            process_cores=round(process, 2),
            machine_cores=None if machine is None else round(machine, 2),
            other_cores=None if machine is None else round(max(0.0, machine - process), 2),
            peak_rss_mb=round(max(self._peak, _rss_mb()), 1),
            load_avg_1m=round(os.getloadavg()[0], 2),
        )
