"""Gives freed heap memory back to the OS, so a long-running server's RSS follows its load.

glibc keeps freed pages in per-thread arenas. A server with dozens of threads (model workers,
aiortc, executors) and bursts of large requests keeps RSS it no longer uses; fewer arenas and a
periodic `malloc_trim` return it (the soak's saw-tooth, docs/soak.md; most of its earlier climb
was Piper's onnxruntime arena, now off).
Everything here is a no-op where the C library is not glibc.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
from collections.abc import AsyncIterator, Callable
from functools import cache

from aiohttp import web

_M_ARENA_MAX = -8  # mallopt parameter (malloc.h)


@cache
def _glibc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    with contextlib.suppress(OSError):
        libc = ctypes.CDLL(name)
        if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt"):
            return libc
    return None


def limit_arenas(count: int = 4) -> bool:
    """Call before the threads start (before loading models): later threads share `count` arenas."""
    libc = _glibc()
    return bool(libc is not None and libc.mallopt(_M_ARENA_MAX, count))


def trim() -> bool:
    """Return free heap pages of every arena to the OS; True if any was returned."""
    libc = _glibc()
    return bool(libc is not None and libc.malloc_trim(0))


def trim_every(interval_s: float) -> Callable[[web.Application], AsyncIterator[None]]:
    """An aiohttp cleanup context that trims every `interval_s` (off the event loop)."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        async def loop() -> None:
            while True:
                await asyncio.sleep(interval_s)
                await asyncio.get_running_loop().run_in_executor(None, trim)

        task = asyncio.create_task(loop()) if interval_s > 0 and _glibc() is not None else None
        yield
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return context
