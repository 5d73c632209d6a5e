"""A real server on a loopback port, run in its own thread and event loop, and client helpers."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from aiohttp import ClientSession, web

from helpers import SAMPLES
from rejoinder.audio import read_audio, resample, to_pcm16
from rejoinder.engine import Engine
from rejoinder.server.app import ServerSettings, create_app


@contextmanager
def running_server(
    engine: Engine, configure: Callable[[web.Application], None] | None = None, **settings: Any
) -> Iterator[str]:
    """Yields the base URL (http://127.0.0.1:PORT) of a live server; `configure` may adjust the app."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    state: dict[str, Any] = {}

    async def start() -> None:
        app = create_app(engine, ServerSettings(**settings))
        if configure is not None:
            configure(app)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        state["runner"] = runner
        state["port"] = runner.addresses[0][1]
        ready.set()

    thread = threading.Thread(
        target=lambda: (loop.run_until_complete(start()), loop.run_forever()), daemon=True
    )
    thread.start()
    assert ready.wait(30), "server did not start"
    try:
        yield f"http://127.0.0.1:{state['port']}"
    finally:
        asyncio.run_coroutine_threadsafe(state["runner"].cleanup(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def wire_audio(name: str) -> np.ndarray:
    """A bundled question as 24 kHz float, the Realtime wire rate."""
    return resample(read_audio(SAMPLES / f"{name}.wav"), 16_000, 24_000)


def b64(samples: np.ndarray) -> str:
    return base64.b64encode(to_pcm16(samples)).decode()


async def stream(ws: Any, samples: np.ndarray, realtime: bool = True, chunk_s: float = 0.1) -> None:
    """Append audio in chunks, paced at 1x when `realtime` (as a microphone would)."""
    step = int(chunk_s * 24_000)
    start = time.perf_counter()
    for n, i in enumerate(range(0, samples.size, step)):
        await ws.send_str(
            json.dumps({"type": "input_audio_buffer.append", "audio": b64(samples[i : i + step])})
        )
        if realtime:
            await asyncio.sleep(max(0.0, start + (n + 1) * chunk_s - time.perf_counter()))


async def events_until(
    ws: Any,
    done: str,
    timeout: float = 60,
    collect: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    events = collect if collect is not None else []
    async with asyncio.timeout(timeout):
        async for msg in ws:
            event = json.loads(msg.data)
            events.append(event)
            if event["type"] == done:
                return events
    raise AssertionError(f"socket closed before {done}: {[e['type'] for e in events]}")


@contextmanager
def nothing() -> Iterator[None]:
    yield


async def connect(base: str, client: ClientSession, **kwargs: Any) -> Any:
    return await client.ws_connect(base.replace("http", "ws") + "/v1/realtime?model=rejoinder", **kwargs)
