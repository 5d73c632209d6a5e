"""Freed heap memory goes back to the OS: the server's RSS follows its load, not its history."""

from __future__ import annotations

import asyncio
import platform

import pytest
from aiohttp import web

from helpers import rss_mb
from rejoinder.server import memory


@pytest.mark.skipif(platform.system() != "Linux" or memory._glibc() is None, reason="glibc only")
def test_trim_returns_fragmented_free_memory() -> None:
    chunks = [bytearray(100_000) for _ in range(2000)]  # ~200 MB from the heap, below mmap size
    kept = chunks[::10]  # live blocks between the freed ones: glibc cannot shrink the heap alone
    del chunks
    before = rss_mb()
    assert memory.trim()
    after = rss_mb()
    assert before - after > 100, (before, after)
    assert len(kept) == 200


def test_the_server_trims_on_its_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(memory, "trim", lambda: calls.append(1) or True)
    monkeypatch.setattr(memory, "_glibc", lambda: object())

    async def go() -> None:
        app = web.Application()
        app.cleanup_ctx.append(memory.trim_every(0.02))
        runner = web.AppRunner(app)
        await runner.setup()
        await asyncio.sleep(0.2)
        await runner.cleanup()
        stopped = len(calls)
        await asyncio.sleep(0.1)
        assert len(calls) == stopped  # the loop ends with the app

    asyncio.run(go())
    assert len(calls) >= 3
