"""Small async-stream tools shared by the turn, the speculation and the responder."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any, TypeVar

T = TypeVar("T")

END = object()
"""Put by a producer after its last item."""


async def drain(queue: asyncio.Queue[object]) -> AsyncIterator[T]:
    """Items put by a producer task until it puts END; an exception it put is raised here, in the
    consumer, as it would have been had the consumer done the work itself."""
    while True:
        item = await queue.get()
        if item is END:
            return
        if isinstance(item, Exception):
            raise item
        yield item  # type: ignore[misc]


async def fill(source: AsyncIterator[T], queue: asyncio.Queue[object]) -> None:
    """Copy `source` into `queue` for `drain`; close `source` if cancelled (stops the model)."""
    try:
        async for item in source:
            queue.put_nowait(item)
        queue.put_nowait(END)
    except Exception as exc:
        queue.put_nowait(exc)
    finally:
        with contextlib.suppress(Exception):
            await source.aclose()  # type: ignore[attr-defined]


async def close_stream(source: AsyncIterator[Any]) -> None:
    """Close `source` if it can be (an async generator): a model writing into it stops."""
    close = getattr(source, "aclose", None)
    if close is not None:
        await close()


async def run_ahead(source: AsyncIterator[T]) -> AsyncIterator[T]:
    """Iterate `source` in its own task, so it keeps producing while the consumer is busy (the
    LLM writes on while a clause is spoken); leaving early cancels it."""
    queue: asyncio.Queue[object] = asyncio.Queue()
    task = asyncio.create_task(fill(source, queue))
    try:
        item: T
        async for item in drain(queue):
            yield item
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


async def settle(task: asyncio.Future[Any]) -> None:
    """Wait until `task` has ended, whether it finished or was cancelled; a cancellation of the
    waiter itself (Ctrl-C, a closing connection) still goes through."""
    try:
        await task
    except asyncio.CancelledError:
        waiter = asyncio.current_task()
        if waiter is not None and getattr(waiter, "cancelling", lambda: 0)():
            raise
