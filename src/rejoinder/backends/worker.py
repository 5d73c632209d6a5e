"""Runs a loaded model's blocking calls on its own thread(s), off the event loop.

One worker per model instance: calls to the model are serialised (most runtimes are not
re-entrant), the event loop stays free, and different stages of different sessions overlap.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Generic, TypeVar

T = TypeVar("T")
Emit = Callable[[T], bool]
"""Called from the worker thread for each item; False means the consumer has gone: stop."""

_DONE = object()


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class ModelWorker(Generic[T]):
    def __init__(self, name: str, threads: int = 1) -> None:
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=f"rejoinder-{name}")

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def iterate(self, produce: Callable[[Emit[T]], None]) -> AsyncIterator[T]:
        """Turn a blocking producer into an async iterator; leaving the loop early stops it."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()
        stop = threading.Event()

        def put(item: object) -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed under us: nobody listens
                loop.call_soon_threadsafe(queue.put_nowait, item)

        def emit(item: T) -> bool:
            if stop.is_set():
                return False
            put(item)
            return True

        def job() -> None:
            try:
                if not stop.is_set():
                    produce(emit)
            except BaseException as exc:
                put(_Failure(exc))
            finally:
                put(_DONE)

        loop.run_in_executor(self._pool, job)
        try:
            while True:
                item = await queue.get()
                if item is _DONE:
                    return
                if isinstance(item, _Failure):
                    raise item.exc
                yield item  # type: ignore[misc]
        finally:
            stop.set()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
