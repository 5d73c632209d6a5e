"""Model worker priorities: voice jobs jump the queue and long batch work steps aside for them."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import replace

from rejoinder.backends.worker import ModelWorker, Priority, batch_priority, current_priority
from rejoinder.engine import Engine
from rejoinder.stages.llm import GenerationParams


def test_a_voice_job_runs_between_steps_of_a_long_batch_stream() -> None:
    worker: ModelWorker[int] = ModelWorker("test")
    order: list[str] = []

    def slow_steps() -> Iterator[int]:
        for i in range(40):
            time.sleep(0.02)  # one "sentence" of batch work
            order.append(f"batch{i}")
            yield i

    async def batch() -> list[int]:
        with batch_priority():
            return [i async for i in worker.iterate_steps(slow_steps)]

    async def voice() -> None:
        while len(order) < 5:  # the batch stream is well under way
            await asyncio.sleep(0.005)
        await worker.run(lambda: order.append("voice"))

    async def go() -> list[int]:
        items, _ = await asyncio.gather(batch(), voice())
        return items

    items = asyncio.run(go())
    worker.close()
    assert items == list(range(40))  # the batch stream lost nothing by stepping aside
    at = order.index("voice")
    assert 5 <= at < len(order) - 10, order  # within a step or two, not after the batch stream


def test_waiting_voice_jobs_run_before_waiting_batch_jobs() -> None:
    worker: ModelWorker[None] = ModelWorker("test")
    gate = threading.Event()
    order: list[str] = []

    async def go() -> None:
        blocker = asyncio.ensure_future(worker.run(gate.wait))
        await asyncio.sleep(0.05)
        with batch_priority():
            batch = [asyncio.ensure_future(worker.run(order.append, f"batch{i}")) for i in range(3)]
        await asyncio.sleep(0)
        voice = asyncio.ensure_future(worker.run(order.append, "voice"))
        await asyncio.sleep(0.05)
        assert worker.waiting(Priority.BATCH) == 3 and worker.waiting(Priority.VOICE) == 1
        gate.set()
        await asyncio.gather(blocker, voice, *batch)

    asyncio.run(go())
    worker.close()
    assert order == ["voice", "batch0", "batch1", "batch2"]


def test_batch_work_waits_while_any_model_runs_a_voice_job() -> None:
    """The models share the cores: an HTTP job on the TTS waits for a voice turn's LLM call."""
    llm: ModelWorker[None] = ModelWorker("llm-test")
    tts: ModelWorker[None] = ModelWorker("tts-test")
    gate = threading.Event()
    order: list[str] = []

    def voice_llm_call() -> None:
        gate.wait(5)
        order.append("voice-llm-done")

    async def go() -> None:
        voice = asyncio.ensure_future(llm.run(voice_llm_call))
        await asyncio.sleep(0.05)
        with batch_priority():
            batch = asyncio.ensure_future(tts.run(order.append, "batch-tts"))
        await asyncio.sleep(0.3)
        assert order == []  # the TTS worker is free, yet the batch job waits
        gate.set()
        await asyncio.gather(voice, batch)

    asyncio.run(go())
    llm.close()
    tts.close()
    assert order == ["voice-llm-done", "batch-tts"]


def test_batch_priority_is_scoped_to_its_task() -> None:
    async def go() -> tuple[Priority, Priority]:
        async def inside() -> Priority:
            with batch_priority():
                await asyncio.sleep(0.01)
                return current_priority()

        task = asyncio.ensure_future(inside())
        await asyncio.sleep(0)
        outside = current_priority()
        return await task, outside

    assert asyncio.run(go()) == (Priority.BATCH, Priority.VOICE)


def test_a_cancelled_job_that_never_started_is_skipped() -> None:
    worker: ModelWorker[None] = ModelWorker("test")
    gate = threading.Event()
    ran: list[int] = []

    async def go() -> None:
        blocker = asyncio.ensure_future(worker.run(gate.wait))
        await asyncio.sleep(0.05)
        queued = asyncio.ensure_future(worker.run(ran.append, 1))
        await asyncio.sleep(0.01)
        queued.cancel()
        # the cancellation reaches the worker's future once the loop has run it: wait for that
        with contextlib.suppress(asyncio.CancelledError):
            await queued
        gate.set()
        await blocker
        await asyncio.sleep(0.05)

    asyncio.run(go())
    worker.close()
    assert ran == []


def test_batch_generation_steps_aside_for_voice_and_continues_where_it_stopped(engine: Engine) -> None:
    """A batch completion interrupted by voice turns goes on where it stopped: it starts as the one
    left alone and never starts over. Not the same text to the end: resumed, llama.cpp evaluates
    the prompt in other batch splits, whose logits differ in the last bits, and greedy decoding
    then takes the other side of a near-tie now and then (seen once, 311 characters in)."""
    llm = engine.llm
    messages = [{"role": "user", "content": "Tell me a long story about a dragon."}]
    params = GenerationParams(temperature=0.0, max_tokens=120, seed=0)
    finished: dict[str, float] = {}

    written = {"now": 0, "before_voice": 0}

    async def batch() -> str:
        pieces: list[str] = []
        with batch_priority():
            async for piece in llm.stream(messages, params):
                pieces.append(piece)
                written["now"] += len(piece)
        finished["batch"] = time.perf_counter()
        return "".join(pieces)

    async def voice_turns() -> list[str]:
        answers = []
        for turn in range(2):
            await asyncio.sleep(0.2)
            if turn == 0:
                written["before_voice"] = written["now"]
            answers.append(
                "".join(
                    [
                        p
                        async for p in llm.stream(
                            [{"role": "user", "content": "Say hi."}], GenerationParams(max_tokens=4)
                        )
                    ]
                )
            )
        finished["voice"] = time.perf_counter()
        return answers

    async def go() -> tuple[str, str, list[str]]:
        alone = await batch()
        written["now"] = 0
        shared, answers = await asyncio.gather(batch(), voice_turns())
        return alone, shared, answers

    alone, shared, answers = asyncio.run(go())
    assert all(answers)
    assert finished["voice"] < finished["batch"]  # both voice turns ran while the batch one was writing
    assert len(alone) > 200 and len(shared) > 200
    same = next((i for i, (a, b) in enumerate(zip(alone, shared, strict=False)) if a != b), len(alone))
    assert same >= max(40, written["before_voice"]), (alone, shared)  # what came before, kept
    assert shared.count(alone[:40]) == 1  # continued, not started over


def test_a_voice_reply_past_its_first_clause_lets_another_turn_write_first() -> None:
    """SmolLM2 with a slot per conversation: the first reply stops at its next token once its
    first clause is out and another turn starts, the other turn writes alone, and the first goes
    on from where it stopped on its own slot (llm_heads)."""
    from rejoinder.backends.llamacpp import LlamaCppLLM
    from rejoinder.backends.llm_heads import listener_ahead
    from rejoinder.config import LLMConfig

    llm = LlamaCppLLM(LLMConfig(parallel=2, tail_pause_s=1.0))
    requests: list[dict] = []
    server = llm.server

    class Recorder:  # what the story asks llama.cpp for
        def handle_chat_completions(self, request: dict, *rest: object) -> object:
            requests.append(request)
            return server.handle_chat_completions(request, *rest)

    llm.server = Recorder()  # type: ignore[assignment]
    story = [{"role": "user", "content": "Tell me a long story about a dragon."}]
    params = GenerationParams(temperature=0.0, max_tokens=120, seed=0)
    finished: dict[str, float] = {}
    written = {"now": 0, "before_hi": 0}
    story_times: list[float] = []

    async def reply() -> str:
        pieces: list[str] = []
        with listener_ahead(lambda: 10.0):  # its listener has plenty still to hear
            stream = llm.stream(story, replace(params, conversation="story"))
        async for piece in stream:
            pieces.append(piece)
            written["now"] += len(piece)
            story_times.append(time.perf_counter())
        finished["reply"] = time.perf_counter()
        return "".join(pieces)

    async def other_turn() -> str:
        while written["now"] < 80:  # well past the story's first clause
            await asyncio.sleep(0.005)
        written["before_hi"] = written["now"]
        finished["hi_start"] = time.perf_counter()
        hi_params = GenerationParams(max_tokens=4, conversation="hi")
        hi = [p async for p in llm.stream([{"role": "user", "content": "Say hi."}], hi_params)]
        finished["hi"] = time.perf_counter()
        return "".join(hi)

    async def go() -> tuple[str, str, str]:
        alone = await reply()
        written["now"] = 0
        story_times.clear()
        shared, hi = await asyncio.gather(reply(), other_turn())
        return alone, shared, hi

    alone, shared, hi = asyncio.run(go())
    llm._worker.close()
    assert hi
    assert finished["hi"] < finished["reply"]
    story_requests = [r for r in requests if r["messages"][0]["content"] == story[0]["content"]]
    assert len(story_requests) >= 3  # alone; then with the other turn: stopped, and went on
    going_on = story_requests[2]["messages"][-1]
    assert going_on["role"] == "assistant" and shared.startswith(going_on["content"])
    assert len(going_on["content"]) >= written["before_hi"]  # it stopped after the other turn began
    meanwhile = [t for t in story_times if finished["hi_start"] < t < finished["hi"]]
    assert len(meanwhile) <= 3, meanwhile  # a token or two in flight, none written beside it
    assert len(alone) > 200 and len(shared) > 200
    same = next((i for i, (a, b) in enumerate(zip(alone, shared, strict=False)) if a != b), len(alone))
    assert same >= written["before_hi"], (alone, shared)  # what came before, kept
    assert shared.count(alone[:40]) == 1  # continued, not started over
