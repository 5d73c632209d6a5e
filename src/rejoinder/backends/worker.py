"""Runs a loaded model's blocking calls on its own thread(s), off the event loop.

One worker per model instance: calls to the model are serialised (most runtimes are not
re-entrant), the event loop stays free, and different stages of different sessions overlap.

Jobs have a priority. Live voice turns submit at `Priority.VOICE` (the default); the rest of a
reply that has started to play (its second clause on) is spoken under `follow_priority()` at
`Priority.FOLLOW`, so another turn's way to its first audio goes first: the listener is already
hearing the earlier clauses, and one clause of waiting fits in what they still have to hear. The
HTTP model endpoints run under `batch_priority()` and submit at `Priority.BATCH`. Optional work
that only makes a later turn faster (a prompt-cache prefill) goes through `run_spare`: it runs
only if no voice job is queued or running anywhere when its turn comes, else it is skipped, since
a prefill cannot be interrupted and under load the cache it fills is overwritten before it is
used (in a soak, a strong-tier turn waited up to 10 s for its first token behind other
sessions' prefills and history re-reads; docs/soak.md). A waiting voice job runs
before any waiting batch job, and long batch work yields the thread between steps (one item of
an `iterate_steps` iterator, one `yield_requested()` check of a producer), so a voice job waits
for at most one step of batch work, never for a whole request.

The cores are shared by all models, so batch work also waits while a voice job is queued or
running on ANY worker (`_VOICE`): a voice turn's LLM does not share the CPU with an HTTP
request's synthesis. Batch work runs in the gaps between voice jobs; a batch job that has waited
`BATCH_MAX_WAIT_S` for a gap runs anyway once its own model is free, so that sessions that never
pause (a busy server) cannot starve an HTTP request for ever (a soak's transcription request
timed out after 30 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextvars import ContextVar
from enum import IntEnum
from typing import Any, Generic, TypeVar

T = TypeVar("T")
Emit = Callable[[T], bool]
"""Called from the worker thread for each item; False means the consumer has gone: stop."""

_DONE = object()
BATCH_MAX_WAIT_S = 2.0
"""Longest a batch job waits for voice work on OTHER models to pause (its own model's voice jobs
always go first)."""


class Priority(IntEnum):
    """Lower runs first."""

    VOICE = 0
    FOLLOW = 1
    SPARE = 2
    BATCH = 3


_priority: ContextVar[Priority] = ContextVar("rejoinder_model_priority", default=Priority.VOICE)
_running = threading.local()
"""The priority of the job the current worker thread is running (for yield_requested)."""


def current_priority() -> Priority:
    return _priority.get()


@contextlib.contextmanager
def _scoped(priority: Priority) -> Iterator[None]:
    token = _priority.set(priority)
    try:
        yield
    finally:
        _priority.reset(token)


def batch_priority() -> contextlib.AbstractContextManager[None]:
    """Model calls made inside (in this task or thread) queue behind live voice work."""
    return _scoped(Priority.BATCH)


def follow_priority() -> contextlib.AbstractContextManager[None]:
    """Model calls made inside queue behind other turns' way to their first audio."""
    return _scoped(Priority.FOLLOW)


class PendingCount:
    """Work in progress across threads that other work waits for (voice jobs here, LLM streams
    writing their first clause in llm_heads)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._pending = 0

    def enter(self) -> None:
        with self._cond:
            self._pending += 1

    def leave(self) -> None:
        with self._cond:
            self._pending -= 1
            if self._pending <= 0:
                self._cond.notify_all()

    @property
    def count(self) -> int:
        return self._pending

    @property
    def busy(self) -> bool:
        return self._pending > 0

    def wait_clear(self, timeout_s: float) -> None:
        """Block until nothing is pending, at most `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._pending > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._cond.wait(left)


_VOICE = PendingCount()
"""Voice jobs queued or running in any worker of this process."""


def voice_work_pending() -> bool:
    """Whether a voice job is queued or running on any worker: optional work (an early prefill)
    waits for a moment when no session needs the cores."""
    return _VOICE.busy


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class ModelWorker(Generic[T]):
    def __init__(self, name: str, threads: int = 1) -> None:
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=f"rejoinder-{name}")
        self._lock = threading.Lock()
        self._heap: list[tuple[int, int, float, Callable[[], None]]] = []
        """(priority, order, when queued, job)"""
        self._seq = itertools.count()
        self._active = 0

    # ---- scheduling ------------------------------------------------------------------------
    def _submit(self, priority: Priority, job: Callable[[], None]) -> None:
        """Queue `job`; each pool task runs the most urgent queued job, not its own."""
        if priority <= Priority.FOLLOW:
            _VOICE.enter()
        with self._lock:
            heapq.heappush(self._heap, (int(priority), next(self._seq), time.monotonic(), job))
        self._pool.submit(self._run_next)

    def _run_next(self) -> None:
        with self._lock:
            priority, seq, queued, job = heapq.heappop(self._heap)
            self._active += 1
        while priority == Priority.BATCH and _VOICE.busy and time.monotonic() - queued < BATCH_MAX_WAIT_S:
            _VOICE.wait_clear(0.05)  # a voice turn is on some model: keep the cores for it
            with self._lock:
                if self._heap and self._heap[0][0] < priority:  # ... or on this one: run it first
                    heapq.heappush(self._heap, (priority, seq, queued, job))
                    priority, seq, queued, job = heapq.heappop(self._heap)
        _running.priority = priority
        try:
            job()
        finally:
            _running.priority = None
            with self._lock:
                self._active -= 1
            if priority <= Priority.FOLLOW:
                _VOICE.leave()

    @property
    def idle(self) -> bool:
        """Nothing running and nothing queued."""
        with self._lock:
            return self._active == 0 and not self._heap

    def waiting(self, priority: Priority | None = None) -> int:
        """Jobs queued (at `priority`, or at any priority)."""
        with self._lock:
            return sum(1 for p, *_ in self._heap if priority is None or p == priority)

    def yield_requested(self) -> bool:
        """True inside a job when more urgent work waits: a batch job steps aside for voice work
        queued or running anywhere, a follow-on clause for a turn's first audio on this model."""
        running = getattr(_running, "priority", None)
        if running is None or running == Priority.VOICE:
            return False
        if running == Priority.BATCH and _VOICE.busy:
            return True
        with self._lock:
            return bool(self._heap) and self._heap[0][0] < running

    # ---- API ---------------------------------------------------------------------------------
    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        future: Future[Any] = Future()

        def job() -> None:
            if not future.set_running_or_notify_cancel():
                return  # the caller gave up before the job started
            try:
                future.set_result(fn(*args))
            except BaseException as exc:
                future.set_exception(exc)

        self._submit(current_priority(), job)
        return await asyncio.wrap_future(future)

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

        self._submit(current_priority(), job)
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

    async def iterate_steps(self, start: Callable[[], Iterator[T]]) -> AsyncIterator[T]:
        """Like `iterate`, for work that comes out as an iterator: each item is one step.

        Between steps the job checks for more urgent work; if some is waiting, it puts the rest
        of the iterator back in the queue behind it (same thread, state kept), so a voice turn
        waits for at most one item of a long batch request.
        """
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()
        stop = threading.Event()
        priority = current_priority()
        state: dict[str, Iterator[T]] = {}

        def put(item: object) -> None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(queue.put_nowait, item)

        def job() -> None:
            finished = True
            try:
                if stop.is_set():
                    return
                if "it" not in state:
                    state["it"] = start()
                for item in state["it"]:
                    if stop.is_set():
                        return
                    put(item)
                    if self.yield_requested():
                        finished = False
                        self._submit(priority, job)
                        return
            except BaseException as exc:
                put(_Failure(exc))
            finally:
                if finished:
                    put(_DONE)
                    close = getattr(state.get("it"), "close", None)
                    if close is not None:
                        with contextlib.suppress(Exception):
                            close()

        self._submit(priority, job)
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

    async def run_spare(self, fn: Callable[..., Any], *args: Any) -> bool:
        """Run `fn` only if no voice work is queued or running anywhere when it would start;
        whether it ran."""
        if _VOICE.busy:
            return False
        future: Future[bool] = Future()

        def job() -> None:
            if not future.set_running_or_notify_cancel():
                return
            if _VOICE.busy:
                future.set_result(False)
                return
            try:
                fn(*args)
                future.set_result(True)
            except BaseException as exc:
                future.set_exception(exc)

        self._submit(Priority.SPARE, job)
        return await asyncio.wrap_future(future)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:  # jobs that will never run must not hold the voice gate
            dropped, self._heap = self._heap, []
        for priority, *_ in dropped:
            if priority <= Priority.FOLLOW:
                _VOICE.leave()
