"""How the cluster is laid out: session hosts and model deployments, each with its replicas,
CPUs and optional autoscaling (Ray Serve's own autoscaler, by ongoing requests per replica)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rejoinder.errors import BadInputError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Autoscaling(_Strict):
    min_replicas: int = Field(1, ge=0)
    max_replicas: int = Field(4, ge=1)
    target_ongoing_requests: float = Field(
        2.0, gt=0, description="requests (sessions, for hosts) per replica the autoscaler aims at"
    )
    upscale_delay_s: float = Field(10.0, ge=0)
    downscale_delay_s: float = Field(120.0, ge=0)


class Scale(_Strict):
    replicas: int = Field(1, ge=1, description="fixed replica count (ignored with autoscaling)")
    autoscaling: Autoscaling | None = None
    num_cpus: float = Field(0.5, ge=0, description="CPUs Ray reserves per replica")
    max_ongoing_requests: int = Field(16, ge=1, description="calls one replica takes at once")

    def options(self) -> dict[str, Any]:
        """Keyword arguments for `serve.deployment(...)`."""
        scaling: dict[str, Any] = (
            {"autoscaling_config": self.autoscaling.model_dump()}
            if self.autoscaling is not None
            else {"num_replicas": self.replicas}
        )
        return {
            **scaling,
            "max_ongoing_requests": self.max_ongoing_requests,
            "ray_actor_options": {"num_cpus": self.num_cpus},
        }


class ClusterSettings(_Strict):
    hosts: Scale = Scale(replicas=2, num_cpus=0.25)
    """Session hosts: the Realtime WebSocket and the HTTP endpoints; VAD runs here."""
    sessions_per_host: int = Field(4, ge=1, description="live sessions one host admits; more are refused")
    drain_s: float = Field(
        600.0, ge=0, description="a host being scaled down or replaced waits this long for its sessions"
    )
    stt: Scale = Scale()
    llm: Scale = Scale(max_ongoing_requests=32)
    tts: Scale = Scale()

    def host_options(self) -> dict[str, Any]:
        """A WebSocket is one ongoing request for its whole life; the cap on ongoing requests sits
        above the session cap so that refusals, /health and HTTP calls still reach the replica."""
        options = self.hosts.options()
        options["max_ongoing_requests"] = max(self.hosts.max_ongoing_requests, self.sessions_per_host * 2 + 8)
        options["graceful_shutdown_timeout_s"] = self.drain_s
        return options


def load_settings(path: Path | None, **overrides: Any) -> ClusterSettings:
    """The JSON file (if any), then the non-None overrides (`hosts` = host replicas)."""
    try:
        data = json.loads(path.read_text()) if path is not None else {}
        settings = ClusterSettings.model_validate(data)
        if overrides.get("hosts") is not None:
            settings.hosts = settings.hosts.model_copy(update={"replicas": overrides["hosts"]})
        if overrides.get("sessions_per_host") is not None:
            settings.sessions_per_host = overrides["sessions_per_host"]
    except OSError as exc:
        raise BadInputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except json.JSONDecodeError as exc:
        raise BadInputError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        raise BadInputError(f"cluster settings: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    return settings
