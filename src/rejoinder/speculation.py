"""Work started during the end-of-turn silence, kept if the user has really finished.

When the user pauses, STT starts on the speech so far and, once the transcript is in, the LLM
starts writing into a buffer. If the pause turns out to be the end of the turn, the turn takes
over the transcript and the tokens already written; if the user speaks on, all of it is
cancelled (llama.cpp stops at its next token). Nothing is spoken before the turn is committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import numpy as np

from rejoinder.engine import Engine
from rejoinder.stages.llm import LLM, GenerationParams, Message
from rejoinder.stages.router import RouteDecision


@dataclass(frozen=True)
class TurnPlan:
    """Who answers a transcript, and with what prompt: decided by the router (if any)."""

    llm: LLM
    messages: list[Message]
    params: GenerationParams
    route: RouteDecision | None = None


_END = object()


class Speculation:
    def __init__(self, engine: Engine, audio: np.ndarray, plan_for: Callable[[str], TurnPlan]) -> None:
        self.stt_start = time.perf_counter()
        self.transcript_at: float | None = None
        self.llm_start: float | None = None
        self.first_token_at: float | None = None
        self.llm_done_at: float | None = None
        self.plan: TurnPlan | None = None
        self._text: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._tokens: asyncio.Queue[object] = asyncio.Queue()
        self._task = asyncio.create_task(self._run(engine, audio, plan_for))

    async def _run(self, engine: Engine, audio: np.ndarray, plan_for: Callable[[str], TurnPlan]) -> None:
        try:
            text = (await engine.stt.transcribe(audio)).text
        except Exception as exc:
            self._text.set_exception(exc)
            return
        self.transcript_at = time.perf_counter()
        self._text.set_result(text)
        if not text.strip():
            return
        self.llm_start = time.perf_counter()
        self.plan = plan = plan_for(text)  # routing on the partial transcript picks the model early
        try:
            async for piece in plan.llm.stream(plan.messages, plan.params):
                if self.first_token_at is None:
                    self.first_token_at = time.perf_counter()
                self._tokens.put_nowait(piece)
            self.llm_done_at = time.perf_counter()
            self._tokens.put_nowait(_END)
        except Exception as exc:
            self._tokens.put_nowait(exc)

    async def transcript(self) -> str:
        return await self._text

    async def tokens(self) -> AsyncIterator[str]:
        """The LLM's pieces: those already written at once, then the rest as they come."""
        while True:
            item = await self._tokens.get()
            if item is _END:
                return
            if isinstance(item, Exception):
                raise item
            yield str(item)

    async def cancel(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task
        if not self._text.done():
            self._text.cancel()
