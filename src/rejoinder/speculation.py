"""Work started during the end-of-turn silence, kept if the user has really finished.

When the user pauses, STT starts on the speech so far and, once the transcript is in, the LLM
starts writing into a buffer; as soon as the first speakable clause is written, the TTS starts
synthesising it into a buffer too. If the pause turns out to be the end of the turn, the turn
takes over the transcript, the tokens and the first clause's audio already made; if the user
speaks on, all of it is cancelled (llama.cpp stops at its next token). Nothing is spoken before
the turn is committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from rejoinder.chunking import ClauseChunker
from rejoinder.config import ChunkerConfig
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


async def _drain(queue: asyncio.Queue[object]) -> AsyncIterator[Any]:
    """Items put by a producer task until it puts _END; an exception it put is raised here, in
    the turn that adopted the work, as it would have been had the turn done the work itself."""
    while True:
        item = await queue.get()
        if item is _END:
            return
        if isinstance(item, Exception):
            raise item
        yield item


class Speculation:
    def __init__(
        self,
        engine: Engine,
        audio: np.ndarray,
        plan_for: Callable[[str], TurnPlan],
        chunker: ChunkerConfig | None = None,
    ) -> None:
        self.stt_start = time.perf_counter()
        self.transcript_at: float | None = None
        self.llm_start: float | None = None
        self.first_token_at: float | None = None
        self.llm_done_at: float | None = None
        self.first_clause_at: float | None = None
        self.plan: TurnPlan | None = None
        self._text: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._tokens: asyncio.Queue[object] = asyncio.Queue()
        self._chunker = ClauseChunker(chunker)
        self._first_clause: str | None = None
        self._audio: asyncio.Queue[object] = asyncio.Queue()
        self._tts_task: asyncio.Task[None] | None = None
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
                if self._first_clause is None:
                    self._start_speaking(engine, self._chunker.push(piece))
            self.llm_done_at = time.perf_counter()
            self._tokens.put_nowait(_END)
            if self._first_clause is None:  # a one-sentence reply is only complete at the end
                self._start_speaking(engine, self._chunker.flush())
        except Exception as exc:
            self._tokens.put_nowait(exc)

    def _start_speaking(self, engine: Engine, clauses: list[str]) -> None:
        if clauses:
            self._first_clause, self.first_clause_at = clauses[0], time.perf_counter()
            self._tts_task = asyncio.create_task(self._synthesise(engine, clauses[0]))

    async def _synthesise(self, engine: Engine, clause: str) -> None:
        try:
            async for chunk in engine.tts.stream(clause):
                self._audio.put_nowait(chunk)
            self._audio.put_nowait(_END)
        except Exception as exc:
            self._audio.put_nowait(exc)

    def first_audio(self, clause: str) -> AsyncIterator[np.ndarray] | None:
        """The audio being made for `clause` if it is the first clause synthesised here, else None."""
        if self._tts_task is None or clause != self._first_clause:
            return None
        return _drain(self._audio)

    async def transcript(self) -> str:
        return await self._text

    def tokens(self) -> AsyncIterator[str]:
        """The LLM's pieces: those already written at once, then the rest as they come."""
        return _drain(self._tokens)

    async def cancel(self) -> None:
        if self._tts_task is not None:
            self._tts_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._tts_task
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task
        if not self._text.done():
            self._text.cancel()
