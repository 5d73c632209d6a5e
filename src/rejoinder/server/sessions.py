"""Admission and release of live sessions, whatever their transport.

The server admits a session only when it has room (refusing with a clear answer otherwise,
never dropping one to make room), counts it while it lives, and releases it exactly once however
it ends: the client closed, the network vanished, or it sat idle past the limit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from prometheus_client import Gauge

from rejoinder.server.capacity import RETRY_AFTER_S, Capacity
from rejoinder.server.metrics import Metrics

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Lease:
    """One admitted session."""

    transport: str
    close: Callable[[str], Awaitable[None]]
    """Ends the session from the server side, with a reason the client is told."""
    opened: float = field(default_factory=time.monotonic)
    last_activity: float = field(default_factory=time.monotonic)
    released: bool = False

    def touch(self) -> None:
        """The client did something (an event, a frame of audio)."""
        self.last_activity = time.monotonic()


class SessionHost:
    def __init__(self, metrics: Metrics, capacity: Capacity | int, idle_timeout_s: float) -> None:
        if isinstance(capacity, int):
            capacity = Capacity(capacity, "max_sessions")
        self.metrics, self.capacity, self.idle_timeout_s = metrics, capacity, idle_timeout_s
        self.leases: set[Lease] = set()
        self._watcher: asyncio.Task[None] | None = None
        Gauge(
            "rejoinder_capacity_sessions",
            "Live sessions this server serves well; more are refused",
            registry=metrics.registry,
        ).set(capacity.sessions)

    @property
    def max_sessions(self) -> int:
        return self.capacity.sessions

    @property
    def active(self) -> int:
        return len(self.leases)

    def load(self) -> dict[str, object]:
        """Capacity and current load, for /health."""
        return {
            "capacity": self.capacity.sessions,
            "capacity_source": self.capacity.source,
            "capacity_bound_ms": self.capacity.bound_ms,
            "load": round(self.active / self.capacity.sessions, 2),
            "at_capacity": self.active >= self.capacity.sessions,
        }

    def refusal(self) -> str | None:
        """Why a new session cannot be admitted now, or None if there is room."""
        if self.active < self.max_sessions:
            return None
        self.metrics.sessions_rejected.inc()
        return (
            f"the server is at capacity ({self.max_sessions} live sessions); try again in {RETRY_AFTER_S} s"
        )

    def admit(self, transport: str, close: Callable[[str], Awaitable[None]]) -> Lease:
        lease = Lease(transport, close)
        self.leases.add(lease)
        self.metrics.sessions_total.labels(transport).inc()
        self.metrics.sessions_active.set(self.active)
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.create_task(self._watch())
        log.info("session admitted", extra={"transport": transport, "active": self.active})
        return lease

    def release(self, lease: Lease) -> None:
        """Idempotent: every way a session ends calls it."""
        if lease.released:
            return
        lease.released = True
        self.leases.discard(lease)
        self.metrics.sessions_active.set(self.active)
        log.info(
            "session released",
            extra={
                "transport": lease.transport,
                "active": self.active,
                "s": round(time.monotonic() - lease.opened, 1),
            },
        )

    async def _watch(self) -> None:
        """Close sessions idle past the limit; stops when none is left."""
        while self.leases:
            await asyncio.sleep(min(5.0, max(0.5, self.idle_timeout_s / 4)))
            now = time.monotonic()
            for lease in list(self.leases):
                if now - lease.last_activity > self.idle_timeout_s:
                    self.metrics.sessions_timed_out.inc()
                    with contextlib.suppress(Exception):
                        await lease.close(f"no audio or events for {self.idle_timeout_s:g} s; session closed")
                    self.release(lease)

    async def close_all(self) -> None:
        for lease in list(self.leases):
            with contextlib.suppress(Exception):
                await lease.close("the server is shutting down")
            self.release(lease)
        if self._watcher is not None:
            self._watcher.cancel()
