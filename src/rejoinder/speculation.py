"""Work started during the end-of-turn silence, kept if the user has really finished.

When the user pauses, STT starts on the speech so far and, once the transcript is in, the
responder starts writing its answer into a buffer; as soon as the first clause is complete, the
TTS starts synthesising it into a buffer too. If the pause turns out to be the end of the turn,
the turn takes over the transcript, the clauses and the first clause's audio already made; if
the user speaks on, all of it is cancelled (llama.cpp stops at its next token). Nothing is
spoken before the turn is committed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import numpy as np

from rejoinder.answer import Answer
from rejoinder.engine import Engine
from rejoinder.responder import Responder
from rejoinder.streams import END, drain, fill


class Speculation:
    def __init__(
        self,
        engine: Engine,
        responder: Responder,
        audio: np.ndarray,
        transcript: asyncio.Future[str] | None = None,
    ) -> None:
        """`transcript`: the pause's transcription already started by turn detection, if any."""
        self.answer = Answer(speculative=True)
        self.answer.timeline.mark("stt_start")
        self._text: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._clauses: asyncio.Queue[object] = asyncio.Queue()
        self._first_clause: str | None = None
        self._audio: asyncio.Queue[object] = asyncio.Queue()
        self._tts_task: asyncio.Task[None] | None = None
        self._hearing: asyncio.Future[str] = (
            transcript if transcript is not None else asyncio.ensure_future(words_of(engine, audio))
        )
        self._shared = transcript is not None
        """Shared with turn detection: never cancelled from here."""
        self._task = asyncio.create_task(self._run(engine, responder))

    async def _run(self, engine: Engine, responder: Responder) -> None:
        try:
            text = await asyncio.shield(self._hearing)
        except Exception as exc:
            self._text.set_exception(exc)
            return
        self.answer.timeline.mark("transcript")
        self._text.set_result(text)
        if not text.strip():
            self._clauses.put_nowait(END)
            return
        clauses = responder.answer(text, self.answer)
        try:
            first = await anext(clauses, None)
            if first is None:
                self._clauses.put_nowait(END)
                return
            self._first_clause = first
            self._clauses.put_nowait(first)
            self._tts_task = asyncio.create_task(fill(engine.tts.stream(first), self._audio))
            await fill(clauses, self._clauses)
        except Exception as exc:  # raised in the turn that adopts this work
            self._clauses.put_nowait(exc)
        finally:
            await clauses.aclose()  # the LLM stops if the user spoke on

    async def transcript(self) -> str:
        return await asyncio.shield(self._text)  # a cancelled turn must not cancel the words

    def keep_words(self) -> asyncio.Future[str] | None:
        """The user's words while they are still being transcribed, kept through `cancel`: a turn
        cut before its transcript was in still said them (None once they are known)."""
        if self._text.done():
            return None
        self._shared = True
        return self._hearing

    def clauses(self) -> AsyncIterator[str]:
        """The reply's clauses: those already written at once, then the rest as they come."""
        return drain(self._clauses)

    def first_audio(self, clause: str) -> AsyncIterator[np.ndarray] | None:
        """The audio being made for `clause` if it is the first clause, synthesised here; else None."""
        if self._tts_task is None or clause != self._first_clause:
            return None
        return drain(self._audio)

    async def cancel(self) -> None:
        if not self._shared:
            self._hearing.cancel()
        for task in (self._tts_task, self._task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if not self._text.done():
            self._text.cancel()


async def words_of(engine: Engine, audio: np.ndarray) -> str:
    """The transcript's text, as a task of its own can hold it."""
    return (await engine.stt.transcribe(audio)).text
