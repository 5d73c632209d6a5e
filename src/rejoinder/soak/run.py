"""The soak itself: a server it starts on loopback, N talking clients for M minutes, and abuse mixed in.

Every loop stops by itself at the deadline (or when the server dies); every wait has a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from rejoinder.soak import abuse, malformed
from rejoinder.soak.report import SoakStats, summary
from rejoinder.soak.server import ServerProcess
from rejoinder.soak.voice import Question, ask, bundled_questions, open_session


@dataclass
class SoakConfig:
    clients: int = 4
    minutes: float = 10.0
    webrtc_calls: int = 20
    abuse: bool = True
    sample_s: float = 10.0
    warmup_s: float = 60.0
    """RSS growth is measured from the first sample after this."""
    settle_s: float = 20.0
    """After the loops stop, how long the server gets to release every session."""
    turns_per_session: int = 8
    server_args: list[str] = field(default_factory=list)

    @property
    def max_sessions(self) -> int:
        return self.clients + 3  # the bad-event, vanishing and WebRTC clients


class _Soak:
    def __init__(self, config: SoakConfig, server: ServerProcess, progress: Callable[[str], None]) -> None:
        self.config, self.server, self.progress = config, server, progress
        self.stats = SoakStats()
        self.questions = bundled_questions()
        self.deadline = time.monotonic() + config.minutes * 60
        self.stop = asyncio.Event()

    def running(self) -> bool:
        return not self.stop.is_set() and time.monotonic() < self.deadline

    async def pause(self, seconds: float) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.stop.wait(), max(0.0, min(seconds, self.deadline - time.monotonic())))

    async def guarded(self, kind: str, action: Awaitable[Any]) -> Any:
        try:
            return await action
        except Exception as exc:
            self.stats.error(f"exception:{kind}", f"{type(exc).__name__}: {exc}")
            return None

    # ---- loops ---------------------------------------------------------------------------------
    async def talker(self, index: int) -> None:
        turn = index * 3  # clients start on different questions
        async with aiohttp.ClientSession() as client:
            while self.running():
                try:
                    ws = await open_session(client, self.server.base)
                except Exception as exc:
                    self.stats.error("talker-connect", f"{type(exc).__name__}: {exc}")
                    await self.pause(3)
                    continue
                try:
                    for _ in range(self.config.turns_per_session):
                        if not self.running():
                            break
                        question = self.questions[turn % len(self.questions)]
                        turn += 1
                        result = await ask(ws, question)
                        self.stats.turn(result)
                        if result.status in ("disconnected", "timeout"):
                            break
                        await self.pause(1.0)
                finally:
                    await ws.close()

    async def monitor(self) -> None:
        async with aiohttp.ClientSession() as client:
            while True:
                health = await self.server.health(client)
                if not self.server.alive:
                    self.stats.error("server-crash", self.server.log_tail())
                    self.stop.set()
                    return
                vitals = self.server.vitals(None if health is None else int(health["sessions"]))
                self.stats.vitals.append(vitals)
                answered = sum(t.answered for t in self.stats.turns)
                self.progress(
                    f"t={vitals.t_s:.0f}s turns {answered}/{len(self.stats.turns)} rss {vitals.rss_mb} MB "
                    f"fds {vitals.fds} sessions {vitals.sessions} errors {sum(self.stats.errors.values())}"
                )
                if not self.running():
                    return
                await self.pause(self.config.sample_s)

    async def every(self, period_s: float, offset_s: float, act: Callable[[int], Awaitable[None]]) -> None:
        await self.pause(offset_s)
        n = 0
        while self.running():
            started = time.monotonic()
            await act(n)
            n += 1
            await self.pause(period_s - (time.monotonic() - started))

    async def bad_events(self, n: int) -> None:
        async with aiohttp.ClientSession() as client:
            for outcome in await self.guarded("bad-events", abuse.bad_events(client, self.server.base)) or []:
                self.stats.outcome(outcome)

    async def vanish(self, n: int) -> None:
        question: Question = self.questions[n % len(self.questions)]
        outcome = await self.guarded("vanish", abuse.vanish_mid_answer(self.server.base, question))
        if outcome is not None:
            self.stats.outcome(outcome)

    async def http(self, n: int) -> None:
        probes = abuse.HTTP_PROBES + malformed.PROBES
        probe = probes[n % len(probes)]
        async with aiohttp.ClientSession() as client:
            outcome = await self.guarded(probe.__name__, probe(client, self.server.base))
        if outcome is not None:
            self.stats.outcome(outcome)

    async def webrtc(self, n: int) -> None:
        outcome = await self.guarded(
            "webrtc", abuse.webrtc_call(self.server.base, hold_s=3.0, vanish=n % 2 == 1)
        )
        if outcome is not None:
            self.stats.outcome(outcome)

    # ---- the end -------------------------------------------------------------------------------
    async def settle(self) -> dict[str, Any]:
        """Give the server settle_s to release everything; what it still holds is leaked."""
        health: dict[str, Any] | None = None
        end = time.monotonic() + self.config.settle_s
        async with aiohttp.ClientSession() as client:
            while self.server.alive:
                health = await self.server.health(client)
                if (health and health["sessions"] == 0) or time.monotonic() > end:
                    break
                await asyncio.sleep(1.0)
            metrics = await self.server.metrics(client) if self.server.alive else {}
            if self.server.alive:
                self.stats.vitals.append(
                    self.server.vitals(None if health is None else int(health["sessions"]))
                )
        active = metrics.get("rejoinder_sessions_active")
        sessions = None if health is None else int(health["sessions"])
        return {
            "health_sessions_end": sessions,
            "metrics_sessions_active_end": active,
            "sessions_leaked": max(sessions or 0, int(active or 0)),
            "sessions_opened": {k: v for k, v in metrics.items() if k.startswith("rejoinder_sessions_total")},
            "sessions_rejected": metrics.get("rejoinder_sessions_rejected_total"),
            "server_crashed": not self.server.alive,
        }


async def run_soak(
    config: SoakConfig, log_path: Path, progress: Callable[[str], None] = lambda line: None
) -> dict[str, Any]:
    server = ServerProcess(
        ["--max-sessions", str(config.max_sessions), "--log-level", "warning", *config.server_args]
    )
    progress(f"starting the server on {server.base} (log: {log_path})")
    await server.start(log_path)
    try:
        soak = _Soak(config, server, progress)
        loops: list[Awaitable[None]] = [soak.talker(i) for i in range(config.clients)]
        loops.append(soak.monitor())
        if config.abuse:
            loops += [
                soak.every(30, 5, soak.bad_events),
                soak.every(25, 12, soak.vanish),
                soak.every(8, 3, soak.http),
            ]
        if config.webrtc_calls:
            loops.append(soak.every(config.minutes * 60 / config.webrtc_calls, 7, soak.webrtc))
        await asyncio.gather(*loops)
        end = await soak.settle()
    finally:
        exit_code = server.stop()
    end["server_exit"] = exit_code
    return summary(soak.stats, asdict(config) | {"max_sessions": config.max_sessions}, end, config.warmup_s)
