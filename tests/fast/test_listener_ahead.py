"""How much of a reply its listener has still to hear (PacedOutput.queued_s), and that a live
session's LLM streams can read it (llm_heads.listener_ahead)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import numpy as np

from fake_engine import fake_engine
from rejoinder.backends.fake import FakeLLM
from rejoinder.backends.llm_heads import current_listener_ahead
from rejoinder.output import LEAD_S, DirectOutput, PacedOutput
from rejoinder.session import Session
from rejoinder.stages.llm import GenerationParams, Message

RATE = 16_000


class _Target:
    async def text(self, turn: int, text: str) -> None:
        return

    async def audio(self, turn: int, samples: np.ndarray, sample_rate: int) -> None:
        return

    def clear(self) -> None:
        return


def test_queued_audio_counts_down_as_it_plays_and_a_barge_in_empties_it() -> None:
    async def go() -> list[float]:
        out = PacedOutput(_Target())
        seen = [out.queued_s()]
        out.begin_clause(0, 0, "words")
        await out.write(0, 0, np.zeros(2 * RATE, np.float32), RATE)
        seen.append(out.queued_s())
        await asyncio.sleep(0.5)
        seen.append(out.queued_s())
        await out.write(0, 0, np.zeros(RATE, np.float32), RATE)  # the next clause arrives
        seen.append(out.queued_s())
        out.clear(0)
        await asyncio.sleep(0.05)
        seen.append(out.queued_s())
        await out.aclose()
        return seen

    empty, written, later, more, cleared = asyncio.run(go())
    assert empty == 0.0
    assert abs(written - 2.0) < 0.05
    assert abs(later - 1.5) < 0.1
    assert abs(more - 2.5) < 0.1
    assert cleared <= LEAD_S + 0.11  # at most what was already sent ahead of real time


def test_audio_that_has_played_no_longer_counts() -> None:
    async def go() -> float:
        out = PacedOutput(_Target())
        out.begin_clause(0, 0, "words")
        await out.write(0, 0, np.zeros(RATE // 5, np.float32), RATE)
        await out.wait_played(0)
        value = out.queued_s()
        await out.aclose()
        return value

    assert asyncio.run(go()) == 0.0


def test_without_a_listener_clock_nothing_counts_as_queued() -> None:
    assert DirectOutput().queued_s() == 0.0


class _AheadLLM(FakeLLM):
    """Records, while the reply is written, how much of it the listener has still to hear."""

    def __init__(self, reply: str) -> None:
        super().__init__(reply=reply)
        self.ahead: list[float | None] = []

    def stream(self, messages: Sequence[Message], params: GenerationParams) -> AsyncIterator[str]:
        ahead = current_listener_ahead()
        inner = super().stream(messages, params)

        async def watch() -> AsyncIterator[str]:
            async for piece in inner:
                self.ahead.append(None if ahead is None else ahead())
                yield piece

        return watch()


def test_a_live_sessions_llm_streams_see_their_listeners_queue() -> None:
    reply = "One two three, four five six. Seven eight nine, ten eleven twelve. Thirteen fourteen."
    llm = _AheadLLM(reply)

    async def go() -> None:
        session = Session(fake_engine(llm=llm), output=PacedOutput(_Target()))
        await session.respond("Count")

    asyncio.run(go())
    assert llm.ahead and all(a is not None for a in llm.ahead)
    assert max(a for a in llm.ahead if a is not None) > 0.1  # earlier clauses were queued meanwhile


def test_file_mode_streams_never_count_as_covered() -> None:
    llm = _AheadLLM("Short reply, then more words here.")
    session = Session(fake_engine(llm=llm))
    asyncio.run(session.respond("Hi"))
    assert llm.ahead and all(a == 0.0 for a in llm.ahead)
