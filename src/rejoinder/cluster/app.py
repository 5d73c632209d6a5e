"""Builds the Serve application (session hosts over model deployments) and runs it on a Ray
cluster: a local one started here, or an existing one joined by address."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from rejoinder.cluster.settings import ClusterSettings
from rejoinder.config import Config

log = logging.getLogger(__name__)

APP_NAME = "rejoinder"


def _model_key(llm: Any) -> tuple[str, str, int, int, int]:
    return (llm.backend, llm.model, llm.context, llm.threads, llm.parallel)


def build_app(
    config: Config,
    cluster: ClusterSettings,
    api_key: str | None = None,
    log_level: str = "warning",
    security: Any = None,
) -> Any:
    """Session hosts bound to one STT, one LLM per distinct tier model, and one TTS deployment."""
    from ray import serve

    from rejoinder.cluster.host import SessionHostReplica
    from rejoinder.cluster.models import LLMModel, STTModel, TTSModel

    stt = serve.deployment(name="stt", **cluster.stt.options())(STTModel).bind(config, log_level)
    tts = serve.deployment(name="tts", **cluster.tts.options())(TTSModel).bind(config, log_level)
    tiers = [t.llm for t in config.tier_configs()] if config.router.enabled else [config.llm]
    deployments: dict[tuple[str, str, int, int, int], Any] = {}
    llms = []
    for tier in tiers:
        key = _model_key(tier)
        if key not in deployments:
            name = f"llm-{len(deployments)}"
            deployment = serve.deployment(name=name, **cluster.llm.options())(LLMModel)
            deployments[key] = deployment.bind(tier, log_level)
        llms.append(deployments[key])
    host = serve.deployment(name="session-host", **cluster.host_options())(SessionHostReplica)
    return host.bind(config, cluster.sessions_per_host, stt, llms, tts, api_key, log_level, security)


@dataclass(frozen=True)
class Running:
    url: str
    started_ray: bool


def start(
    config: Config,
    cluster: ClusterSettings,
    address: str | None = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    num_cpus: int | None = None,
    api_key: str | None = None,
    log_level: str = "warning",
    security: Any = None,
) -> Running:
    """Deploys and waits until every replica is up. Without `address` a local Ray cluster is
    started (head only; `num_cpus` logical CPUs, default this machine's count)."""
    import ray
    from ray import serve

    started = False
    if not ray.is_initialized():
        if address is None:
            ray.init(
                num_cpus=num_cpus,
                include_dashboard=False,
                log_to_driver=log_level == "debug",
                configure_logging=False,
            )
            started = True
        else:
            ray.init(address=address, log_to_driver=log_level == "debug", configure_logging=False)
    t0 = time.perf_counter()
    serve.start(http_options={"host": host, "port": port}, logging_config={"log_level": "WARNING"})
    app = build_app(config, cluster, api_key, log_level, security)
    serve.run(app, name=APP_NAME, route_prefix="/")
    shown = f"[{host}]" if ":" in host else host
    _wait_for_proxy(port, host)
    log.info("cluster deployed", extra={"s": round(time.perf_counter() - t0, 1)})
    return Running(f"http://{shown}:{port}", started)


def _wait_for_proxy(port: int, host: str, timeout_s: float = 60.0) -> None:
    """serve.run returns once the replicas run; the proxy learns the route a moment later."""
    import urllib.error
    import urllib.request

    local = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "[::1]"}.get(host)
    local = local or (f"[{host}]" if ":" in host else host)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(f"http://{local}:{port}/health", timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"Serve's proxy did not route /health on port {port} in {timeout_s:g} s")
        time.sleep(0.2)


def stop(running: Running) -> None:
    import ray
    from ray import serve

    serve.shutdown()
    if running.started_ray:
        ray.shutdown()
