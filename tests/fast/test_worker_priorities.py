"""The rest of a playing reply waits for other turns' first audio; spare work (a prefill) never
holds up a turn."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from rejoinder.backends import worker as worker_module
from rejoinder.backends.worker import ModelWorker, Priority, batch_priority, follow_priority


def test_a_turns_first_clause_goes_before_other_replies_later_clauses() -> None:
    worker: ModelWorker[None] = ModelWorker("tts-test")
    gate = threading.Event()
    order: list[str] = []

    async def go() -> None:
        blocker = asyncio.ensure_future(worker.run(gate.wait))
        await asyncio.sleep(0.05)
        with follow_priority():
            later = [asyncio.ensure_future(worker.run(order.append, f"later{i}")) for i in range(2)]
        await asyncio.sleep(0)
        with batch_priority():
            batch = asyncio.ensure_future(worker.run(order.append, "batch"))
        await asyncio.sleep(0)
        first = asyncio.ensure_future(worker.run(order.append, "first"))
        await asyncio.sleep(0.05)
        assert worker.waiting(Priority.FOLLOW) == 2 and worker.waiting(Priority.VOICE) == 1
        gate.set()
        await asyncio.gather(blocker, first, batch, *later)

    asyncio.run(go())
    worker.close()
    assert order == ["first", "later0", "later1", "batch"]


def test_batch_work_also_waits_for_a_playing_replys_later_clauses() -> None:
    tts: ModelWorker[None] = ModelWorker("tts-test")
    stt: ModelWorker[None] = ModelWorker("stt-test")
    gate = threading.Event()
    order: list[str] = []

    def later_clause() -> None:
        gate.wait(5)
        order.append("later")

    async def go() -> None:
        with follow_priority():
            later = asyncio.ensure_future(tts.run(later_clause))
        await asyncio.sleep(0.05)
        with batch_priority():
            batch = asyncio.ensure_future(stt.run(order.append, "batch"))
        await asyncio.sleep(0.3)
        assert order == []  # the STT worker is free, yet the HTTP job waits for the voice work
        gate.set()
        await asyncio.gather(later, batch)

    asyncio.run(go())
    tts.close()
    stt.close()
    assert order == ["later", "batch"]


def test_spare_work_runs_when_no_turn_needs_a_model_and_is_skipped_when_one_does() -> None:
    llm: ModelWorker[None] = ModelWorker("llm-test")
    stt: ModelWorker[None] = ModelWorker("stt-test")
    transcribing, writing = threading.Event(), threading.Event()
    ran: list[str] = []

    async def go() -> tuple[bool, bool, bool, bool]:
        alone = await llm.run_spare(ran.append, "alone")
        voice = asyncio.ensure_future(stt.run(transcribing.wait, 5))  # a turn is being transcribed
        await asyncio.sleep(0.05)
        during = await llm.run_spare(ran.append, "during")
        # queued behind a turn on its own model; when its turn comes the other turn still transcribes
        turn = asyncio.ensure_future(llm.run(writing.wait, 5))
        await asyncio.sleep(0.05)
        voice_free = llm.idle
        spare = asyncio.ensure_future(llm.run_spare(ran.append, "queued"))
        await asyncio.sleep(0.05)
        writing.set()
        await turn
        queued = await spare
        transcribing.set()
        await voice
        return alone, during, queued, voice_free

    alone, during, queued, llm_was_idle = asyncio.run(go())
    llm.close()
    stt.close()
    assert not llm_was_idle
    assert (alone, during, queued) == (True, False, False)
    assert ran == ["alone"]


def test_a_batch_job_waits_for_other_models_voice_work_only_so_long(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sessions that never pause must not starve an HTTP request for ever."""
    monkeypatch.setattr(worker_module, "BATCH_MAX_WAIT_S", 0.3)
    llm: ModelWorker[None] = ModelWorker("llm-test")
    stt: ModelWorker[None] = ModelWorker("stt-test")
    turns_go_on = threading.Event()

    async def go() -> float:
        voice = asyncio.ensure_future(llm.run(turns_go_on.wait, 5))  # voice work that never pauses
        await asyncio.sleep(0.05)
        start = time.perf_counter()
        with batch_priority():
            await stt.run(lambda: None)
        waited = time.perf_counter() - start
        turns_go_on.set()
        await voice
        return waited

    waited = asyncio.run(go())
    llm.close()
    stt.close()
    assert 0.25 <= waited < 2.0, waited
