"""What the app holds, by typed key: one place, so route modules never import each other."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from rejoinder.engine import Engine
from rejoinder.server.capacity import Capacity
from rejoinder.server.metrics import Metrics
from rejoinder.server.security import SecuritySettings
from rejoinder.server.sessions import SessionHost


@dataclass
class ServerSettings:
    api_key: str | None = None
    max_sessions: int = 4
    model_name: str = "rejoinder"
    idle_timeout_s: float = 300.0
    """A live session with no audio or events for this long is closed."""
    trim_interval_s: float = 30.0
    """Free heap pages go back to the OS this often (server/memory.py); 0: never."""
    security: SecuritySettings = field(default_factory=SecuritySettings)
    capacity: Capacity | None = None
    """Live sessions served well (measured by `bench --ramp`, or configured); None: max_sessions."""

    def admission(self) -> Capacity:
        return self.capacity or Capacity(self.max_sessions, "max_sessions")


ENGINE = web.AppKey("engine", Engine)
SETTINGS = web.AppKey("settings", ServerSettings)
METRICS = web.AppKey("metrics", Metrics)
HOST = web.AppKey("host", SessionHost)
