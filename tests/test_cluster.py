"""The server as Ray Serve deployments, for real: a small local Ray cluster (head only, 2 CPUs),
two session-host replicas with a cap of one session each, over fake STT/LLM/TTS deployments (no
model packages, so it stays fast). Two Realtime clients each get a spoken answer, a third is
refused; scaled down to one host, the second is refused too."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from fast.test_admission import ask
from rejoinder.cluster.app import Running, build_app, start, stop
from rejoinder.cluster.settings import ClusterSettings, Scale
from rejoinder.config import Config

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.timeout(300),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),  # Ray's own pydantic use
]


def fake_config() -> Config:
    config = Config()
    for stage in ("vad", "stt", "llm", "tts"):
        getattr(config, stage).backend = "fake"  # FakeSTT hears tone 0 as "hello"
    config.router.enabled = False  # one (fake) LLM tier
    return config


def layout(hosts: int) -> ClusterSettings:
    small = Scale(num_cpus=0.25)
    return ClusterSettings(
        hosts=Scale(replicas=hosts, num_cpus=0.25),
        sessions_per_host=1,
        drain_s=5,
        stt=small,
        llm=small,
        tts=small,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def cluster() -> Iterator[Running]:
    t0 = time.perf_counter()
    running = start(fake_config(), layout(2), port=free_port(), num_cpus=2, log_level="warning")
    print(f"local Ray cluster and 5 replicas up in {time.perf_counter() - t0:.1f} s")
    try:
        yield running
    finally:
        stop(running)


Opened = tuple[aiohttp.ClientSession, list[Any], list[dict[str, Any]]]


async def open_sessions(url: str, count: int) -> Opened:
    """Opens `count` Realtime sockets one by one; the admitted ones and the refusals."""
    client = aiohttp.ClientSession()
    admitted, refused = [], []
    for _ in range(count):
        ws = await client.ws_connect(url.replace("http", "ws") + "/v1/realtime?model=rejoinder")
        event = json.loads((await ws.receive(timeout=30)).data)
        if event["type"] == "session.created":
            admitted.append(ws)
        else:
            refused.append(event)
            await ws.close()
        await asyncio.sleep(0.3)  # the router's view of each replica's load settles
    return client, admitted, refused


def test_two_hosts_admit_one_session_each_answer_both_and_refuse_a_third(cluster: Running) -> None:
    async def go() -> tuple[list[tuple[str, int]], list[dict[str, Any]], dict[str, Any]]:
        client, admitted, refused = await open_sessions(cluster.url, 3)
        try:
            answers = await asyncio.gather(*(ask(ws) for ws in admitted))
            async with client.get(cluster.url + "/health") as r:
                health = await r.json()
        finally:
            for ws in admitted:
                await ws.close()
            await client.close()
        return answers, refused, health

    answers, refused, health = asyncio.run(go())
    assert len(answers) == 2, refused
    assert all(text == "Hello there." and audio > 0 for text, audio in answers), answers
    assert len(refused) == 1 and refused[0]["error"]["code"] == "server_at_capacity", refused
    assert (health["capacity"], health["capacity_source"]) == (1, "configured")


def test_one_host_admits_one_session(cluster: Running) -> None:
    from ray import serve

    serve.run(build_app(fake_config(), layout(1)), name="rejoinder", route_prefix="/")  # scale down

    async def go() -> tuple[int, list[dict[str, Any]]]:
        client, admitted, refused = await open_sessions(cluster.url, 2)
        for ws in admitted:
            await ws.close()
        await client.close()
        return len(admitted), refused

    admitted, refused = asyncio.run(go())
    assert admitted == 1 and [e["error"]["code"] for e in refused] == ["server_at_capacity"]
