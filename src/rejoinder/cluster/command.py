"""`rejoinder cluster`: the server as Ray Serve deployments, on a local or an existing Ray cluster."""

import importlib.util
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from rejoinder import logs
from rejoinder.errors import BackendUnavailable, BadInputError

err = Console(stderr=True)


def cluster_command(
    address: Annotated[
        str | None,
        typer.Option("--address", help="Join this Ray cluster (e.g. HEAD:6379); default: start a local one."),
    ] = None,
    host: Annotated[str, typer.Option("--host", help="Address Serve's HTTP proxy binds.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Serve's HTTP port.")] = 8000,
    hosts: Annotated[int | None, typer.Option("--hosts", min=1, help="Session-host replicas [2].")] = None,
    sessions_per_host: Annotated[
        int | None, typer.Option("--sessions-per-host", min=1, help="Live sessions one host admits [4].")
    ] = None,
    cluster_config: Annotated[
        Path | None,
        typer.Option("--cluster-config", help="JSON: replicas, CPUs and autoscaling per deployment."),
    ] = None,
    num_cpus: Annotated[
        int | None, typer.Option("--num-cpus", min=1, help="Local cluster only: logical CPUs to offer.")
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option("--api-key", envvar="REJOINDER_API_KEY", help="Require this key on every API call."),
    ] = None,
    allow_origin: Annotated[
        list[str] | None, typer.Option("--allow-origin", help="Web origin that may connect; repeatable.")
    ] = None,
    allow_host: Annotated[
        list[str] | None, typer.Option("--allow-host", help="Host name accepted besides loopback ones.")
    ] = None,
    preset_name: Annotated[str, typer.Option("--preset", help="Model set.")] = "cpu",
    config_file: Annotated[Path | None, typer.Option("--config", help="JSON file with any settings.")] = None,
    llm_parallel: Annotated[int | None, typer.Option("--llm-parallel", help="llama.cpp slots.")] = None,
    log_level: Annotated[str, typer.Option("--log-level", help="debug, info, warning or error.")] = "info",
) -> None:
    """Run the server as Ray Serve deployments: session hosts (WebSocket Realtime and HTTP
    endpoints, a session cap each) over STT, LLM and TTS deployments that scale on their own."""
    logs.setup(log_level)
    if importlib.util.find_spec("ray") is None:
        raise BackendUnavailable("rejoinder cluster needs Ray Serve; pip install 'rejoinder[cluster]'")
    from rejoinder.cli.common import _check_port, build_config
    from rejoinder.cluster.app import start, stop
    from rejoinder.cluster.settings import load_settings
    from rejoinder.config import with_llm_parallel
    from rejoinder.server.security import checked_api_key, settings_from_options

    api_key = checked_api_key(api_key)
    config = with_llm_parallel(build_config(preset_name, config_file), llm_parallel)
    settings = load_settings(cluster_config, hosts=hosts, sessions_per_host=sessions_per_host)
    security = settings_from_options(host, allow_origin, allow_host)
    if address is None:
        _check_port(host, port)
    with err.status("starting the cluster and loading the models in their replicas"):
        try:
            running = start(config, settings, address, host, port, num_cpus, api_key, log_level, security)
        except ConnectionError as exc:
            raise BadInputError(f"cannot join the Ray cluster at {address}: {exc}") from None
    total = settings.hosts.replicas * settings.sessions_per_host
    err.print(
        f"Rejoinder cluster on {running.url}/ (WebSocket /v1/realtime): {settings.hosts.replicas} session "
        f"host(s) x {settings.sessions_per_host} sessions = {total} live sessions; Ctrl-C stops it"
    )
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):  # SIGINT too: a background job may ignore it
        signal.signal(sig, lambda *_: stopped.set())
    try:
        stopped.wait()
    finally:
        err.print("stopping the cluster")
        stop(running)
