"""A conversation keeps its llama.cpp slot (its prompt cache) while other conversations come and go."""

from __future__ import annotations

from typing import Any

from rejoinder.backends.llama_slots import SlotAffinity
from rejoinder.backends.llamacpp import LlamaCppLLM
from rejoinder.config import LLMConfig
from rejoinder.stages.llm import GenerationParams


def test_each_conversation_comes_back_to_its_own_slot() -> None:
    slots = SlotAffinity(2)
    a = slots.acquire("a")
    slots.release(a)
    b = slots.acquire("b")
    slots.release(b)
    assert a != b
    for _ in range(3):  # taking turns
        for name, slot in (("a", a), ("b", b)):
            got = slots.acquire(name)
            slots.release(got)
            assert got == slot


def test_a_new_conversation_takes_an_idle_slot_the_least_recently_used_first() -> None:
    slots = SlotAffinity(3)
    first = {name: slots.acquire(name) for name in "abc"}
    slots.release(first["a"])
    slots.release(first["c"])  # b still writes; c was used after a
    d = slots.acquire("d")
    assert d == first["a"]  # idle and used longest ago: a's cache goes
    assert slots.owner(d) == "d"
    assert slots.acquire("b") == first["b"]  # its own slot, even while busy (the request waits)
    assert slots.acquire("c") == first["c"]


def test_when_every_slot_is_busy_the_least_recently_used_one_is_shared() -> None:
    slots = SlotAffinity(2)
    a, b = slots.acquire("a"), slots.acquire("b")
    assert slots.acquire(None) == a  # an HTTP request with no conversation
    slots.release(a)
    slots.release(a)
    assert slots.acquire("a") != b


class _Server:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    def handle_chat_completions(self, request: dict[str, Any], on_chunk: Any = None) -> dict[str, Any]:
        self.requests.append(request)
        if on_chunk is not None:
            on_chunk({"choices": [{"delta": {"content": "Hi."}}]})
        return {}


def test_the_llamacpp_tier_sends_a_conversations_requests_and_prefills_to_its_slot() -> None:
    import asyncio

    llm = _fake_llm(2)

    async def go() -> None:
        for who in ("a", "b", "a", "b"):
            messages = [{"role": "user", "content": who}]
            await llm.prefill_async(messages, who)  # type: ignore[arg-type]  (skipped if voice work runs)
            params = GenerationParams(conversation=who)
            assert "".join([p async for p in llm.stream(messages, params)]) == "Hi."  # type: ignore[arg-type]

    asyncio.run(go())
    llm._worker.close()
    requests = llm.server.requests  # type: ignore[attr-defined]
    slots = {who: {r["id_slot"] for r in requests if r["messages"][0]["content"] == who} for who in "ab"}
    assert len(requests) >= 4 and slots["a"] | slots["b"] == {0, 1}
    assert len(slots["a"]) == len(slots["b"]) == 1, slots


def _fake_llm(slots: int) -> LlamaCppLLM:
    from rejoinder.backends.worker import ModelWorker

    llm = LlamaCppLLM.__new__(LlamaCppLLM)  # no model: only the request plumbing is under test
    llm.config = LLMConfig(parallel=slots)
    llm.server = _Server()  # type: ignore[assignment]
    llm._worker = ModelWorker("llm-test", threads=slots)
    llm._slots = SlotAffinity(slots)
    return llm


def test_warming_fills_every_slot_but_the_first_with_the_system_prompt() -> None:
    import asyncio

    llm = _fake_llm(3)
    system = [{"role": "system", "content": "Be brief."}]
    filled = asyncio.run(llm.warm_slots(system))  # type: ignore[arg-type]
    llm._worker.close()
    requests = llm.server.requests  # type: ignore[attr-defined]
    assert filled == 2
    assert [r["id_slot"] for r in requests] == [1, 2]
    assert all(r["messages"] == system for r in requests)
    assert llm._slots.owner(1) is None  # warmed slots belong to no conversation yet


def test_serve_gives_the_default_strong_tier_a_slot_per_session_up_to_six() -> None:
    from rejoinder.config import Config, with_session_slots

    assert with_session_slots(Config(), 2).router.strong.parallel == 2
    assert with_session_slots(Config(), 9).router.strong.parallel == 6
    assert with_session_slots(Config(), 9).llm.parallel == 1  # the small tier re-reads fast
    configured = Config()
    configured.router.strong = configured.router.strong.model_copy(update={"parallel": 2})
    assert with_session_slots(configured, 7).router.strong.parallel == 2
    hub = Config()
    hub.router.strong = hub.router.strong.model_copy(update={"backend": "transformers"})
    assert with_session_slots(hub, 7).router.strong.parallel == 1  # slots are llama.cpp's


def test_an_ended_conversations_slot_goes_before_a_live_ones() -> None:
    slots = SlotAffinity(2)
    for name in ("live", "ended", "live"):  # "ended" was used last
        slots.release(slots.acquire(name))
    slots.forget("ended")
    new = slots.acquire("new")
    assert slots.owner(new) == "new" and slots.acquire("live") != new
