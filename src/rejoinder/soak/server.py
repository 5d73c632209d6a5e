"""The server under test: a `rejoinder serve` child process on a loopback port, and its vital signs."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Vitals:
    t_s: float
    rss_mb: float | None
    peak_rss_mb: float | None
    fds: int | None
    threads: int | None
    sessions: int | None


def process_vitals(pid: int) -> tuple[float | None, float | None, int | None, int | None]:
    """(RSS MB, peak RSS MB, open file descriptors, threads) from /proc; None where unavailable."""
    rss = peak = None
    threads = fds = None
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key == "VmRSS":
                rss = round(int(value.split()[0]) / 1024, 1)
            elif key == "VmHWM":
                peak = round(int(value.split()[0]) / 1024, 1)
            elif key == "Threads":
                threads = int(value)
    with contextlib.suppress(OSError):
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    return rss, peak, fds, threads


class ServerProcess:
    """Starts the server, waits until it answers /health, stops it; loopback only."""

    def __init__(
        self,
        args: list[str] | None = None,
        command: list[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        base = command or [sys.executable, "-m", "rejoinder", "serve"]
        self.command = [*base, "--host", "127.0.0.1", "--port", str(self.port), *(args or [])]
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = 0.0
        self._log_path: Path | None = None

    async def start(self, log_path: Path, timeout_s: float = 300) -> None:
        self._log_path = log_path
        log = open(log_path, "wb")  # noqa: SIM115 (the child owns it until it exits)
        self.proc = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT, env=self.env)
        log.close()
        deadline = time.monotonic() + timeout_s
        async with aiohttp.ClientSession() as client:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        f"the server exited during start-up (code {self.proc.returncode}): {self.log_tail()}"
                    )
                with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
                    async with client.get(self.base + "/health", timeout=aiohttp.ClientTimeout(total=2)) as r:
                        if r.status == 200:
                            break
                if time.monotonic() > deadline:
                    raise RuntimeError("the server did not answer /health in time")
                await asyncio.sleep(0.5)
        self.started = time.monotonic()

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def vitals(self, sessions: int | None) -> Vitals:
        assert self.proc is not None
        rss, peak, fds, threads = process_vitals(self.proc.pid)
        return Vitals(round(time.monotonic() - self.started, 1), rss, peak, fds, threads, sessions)

    async def health(self, client: aiohttp.ClientSession) -> dict[str, Any] | None:
        try:
            async with client.get(self.base + "/health", timeout=aiohttp.ClientTimeout(total=5)) as r:
                return dict(await r.json()) if r.status == 200 else None
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
            return None

    async def metrics(self, client: aiohttp.ClientSession) -> dict[str, float]:
        """Prometheus samples by name{labels} (counters, gauges, histogram buckets)."""
        try:
            async with client.get(self.base + "/metrics", timeout=aiohttp.ClientTimeout(total=5)) as r:
                text = await r.text()
        except (aiohttp.ClientError, asyncio.TimeoutError):
            return {}
        out: dict[str, float] = {}
        for line in text.splitlines():
            m = re.match(r"^([a-zA-Z_:][\w:]*(?:\{[^}]*\})?)\s+([-+\d.eE]+|NaN|\+Inf)$", line)
            if m:
                with contextlib.suppress(ValueError):
                    out[m.group(1)] = float(m.group(2))
        return out

    def log_tail(self, lines: int = 5) -> str:
        if self._log_path is None or not self._log_path.exists():
            return ""
        return " | ".join(self._log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode
