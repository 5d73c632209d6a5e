"""A playing reply's later words wait while another turn writes its first clause (llm_heads)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from rejoinder.backends import llamacpp, llm_heads
from rejoinder.backends.llama_slots import SlotAffinity
from rejoinder.backends.llamacpp import LlamaCppLLM
from rejoinder.backends.llm_heads import HeadGate, ListenerAhead, listener_ahead
from rejoinder.backends.worker import ModelWorker, batch_priority
from rejoinder.config import LLMConfig
from rejoinder.stages.llm import GenerationParams

TOKEN_S = 0.01


def _tokens(text: str) -> list[str]:
    return [word + " " for word in text.split(" ")]


LONG = _tokens("The sky is blue. Sunlight scatters off the air and blue light scatters most")
SHORT = _tokens("Paris is the capital of France. It is")
SLOW = _tokens("well let me see what I can find out here for you")  # no clause end


def _covered() -> float:
    return 10.0  # the listener has plenty of the reply still to hear


class _TokenServer:
    """llama.cpp's server core as far as streaming goes: one token per TOKEN_S, stops when told,
    and continues a final assistant message from where it ends."""

    def __init__(self, scripts: dict[str, list[str]]) -> None:
        self.scripts = scripts
        self.requests: list[dict[str, Any]] = []
        self.tokens: list[tuple[str, float]] = []  # (script, when written)
        self._lock = threading.Lock()

    def handle_chat_completions(self, request: dict[str, Any], on_chunk: Any = None) -> dict[str, Any]:
        messages = request["messages"]
        with self._lock:
            self.requests.append(request)
        script = messages[0]["content"]
        tokens = self.scripts[script]
        done = messages[-1]["content"] if messages[-1]["role"] == "assistant" else ""
        start = next(i for i in range(len(tokens) + 1) if "".join(tokens[:i]) == done)
        for token in tokens[start : start + request["max_tokens"]]:
            time.sleep(TOKEN_S)
            with self._lock:
                self.tokens.append((script, time.monotonic()))
            if on_chunk({"choices": [{"delta": {"content": token}}]}):
                break
        return {}


def _llm(scripts: dict[str, list[str]]) -> LlamaCppLLM:
    llm = LlamaCppLLM.__new__(LlamaCppLLM)  # no model: the streaming plumbing is under test
    llm.config = LLMConfig(parallel=2, tail_pause_s=1.0)
    llm.server = _TokenServer(scripts)  # type: ignore[assignment]
    llm._worker = ModelWorker("llm-heads-test", threads=2)
    llm._slots = SlotAffinity(2)
    return llm


@pytest.fixture(autouse=True)
def _own_gate(monkeypatch: pytest.MonkeyPatch) -> None:
    gate = HeadGate()
    monkeypatch.setattr(llamacpp, "HEADS", gate)
    monkeypatch.setattr(llm_heads, "HEADS", gate)


async def _collect(
    llm: LlamaCppLLM, script: str, stamps: list[float] | None = None, ahead: ListenerAhead | None = _covered
) -> str:
    pieces = []
    messages = [{"role": "user", "content": script}]
    with listener_ahead(ahead):
        stream = llm.stream(messages, GenerationParams(conversation=script))  # type: ignore[arg-type]
    async for piece in stream:
        pieces.append(piece)
        if stamps is not None:
            stamps.append(time.monotonic())
    return "".join(pieces)


def _run(
    llm: LlamaCppLLM, second: str, after_tokens: int, ahead: ListenerAhead | None = _covered
) -> tuple[str, str, list[float]]:
    async def go() -> tuple[str, str, list[float]]:
        started: list[float] = []
        first = asyncio.create_task(_collect(llm, "long", ahead=ahead))
        while sum(1 for s, _ in llm.server.tokens if s == "long") < after_tokens:  # type: ignore[attr-defined]
            await asyncio.sleep(0.001)
        started.append(time.monotonic())
        other = await _collect(llm, second, started)
        return await first, other, started

    try:
        return asyncio.run(go())
    finally:
        llm._worker.close()


def test_a_reply_past_its_first_clause_waits_while_another_turn_writes_its_first_clause() -> None:
    llm = _llm({"long": LONG, "short": SHORT})
    long_text, short_text, stamps = _run(llm, "short", after_tokens=6)  # "The sky is blue." is out
    assert long_text == "".join(LONG)  # continued where it stopped, nothing lost or repeated
    assert short_text == "".join(SHORT)
    began, clause_done = stamps[0], stamps[6]  # "... France." is the sixth piece
    during = [t for s, t in llm.server.tokens if s == "long" and began + TOKEN_S < t < clause_done]  # type: ignore[attr-defined]
    assert len(during) <= 1, during  # at most the token in flight when the other turn began
    after = [t for s, t in llm.server.tokens if s == "long" and t > clause_done]  # type: ignore[attr-defined]
    assert after, "the reply went on once the other turn's first clause was out"
    requests = [r for r in llm.server.requests if r["messages"][0]["content"] == "long"]  # type: ignore[attr-defined]
    assert len(requests) >= 2 and len({r["id_slot"] for r in requests}) == 1  # same slot, same cache
    assert requests[1]["messages"][-1]["role"] == "assistant"


def test_a_reply_still_writing_its_first_clause_does_not_wait() -> None:
    llm = _llm({"long": LONG, "short": SHORT})
    _, _, stamps = _run(llm, "short", after_tokens=1)  # "The" only: both write their first clause
    long_tokens = [t for s, t in llm.server.tokens if s == "long"]  # type: ignore[attr-defined]
    assert long_tokens[3] < stamps[6]  # "blue." came while "short" wrote "... France."


def test_the_pause_is_bounded_when_the_other_turn_never_finishes_a_clause(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slow = [t for t in SLOW for _ in range(3)]  # 36 tokens, 0.36 s, never a clause end
    llm = _llm({"long": LONG, "slow": slow})
    llm.config = LLMConfig(parallel=2, tail_pause_s=0.05)
    long_text, _, stamps = _run(llm, "slow", after_tokens=6)
    assert long_text == "".join(LONG)
    during = [t for s, t in llm.server.tokens if s == "long" and stamps[0] < t < stamps[-1]]  # type: ignore[attr-defined]
    assert len(during) >= len(LONG) - 7  # it paused about 0.05 s, then wrote beside the other


def test_off_by_default_a_reply_never_steps_aside() -> None:
    llm = _llm({"long": LONG, "short": SHORT})
    llm.config = LLMConfig(parallel=2)
    long_text, _, _ = _run(llm, "short", after_tokens=6)
    assert long_text == "".join(LONG)
    assert len([r for r in llm.server.requests if r["messages"][0]["content"] == "long"]) == 1  # type: ignore[attr-defined]


def test_batch_work_does_not_hold_back_voice_tails() -> None:
    llm = _llm({"long": LONG, "short": SHORT})

    async def go() -> None:
        first = asyncio.create_task(_collect(llm, "long"))
        while sum(1 for s, _ in llm.server.tokens if s == "long") < 6:  # type: ignore[attr-defined]
            await asyncio.sleep(0.001)
        with batch_priority():  # an HTTP request: no head
            await _collect(llm, "short")
        await first

    asyncio.run(go())
    llm._worker.close()
    assert len([r for r in llm.server.requests if r["messages"][0]["content"] == "long"]) == 1  # type: ignore[attr-defined]


def test_the_gate_counts_a_stream_as_a_head_until_its_first_clause_or_its_end() -> None:
    gate = HeadGate()
    a, b = gate.open(), gate.open()
    assert gate.count == 2
    for piece in ("The sky", " is", " blue."):
        a.wrote(piece)
    a.wrote(" It")  # the chunker cuts once it sees what follows the full stop
    assert not a.writing_first_clause and gate.count == 1
    b.close()
    b.close()  # closing twice counts once
    assert gate.count == 0
    assert asyncio.run(gate.until_clear(1.0)) < 0.05


def test_on_a_single_slot_a_reply_does_not_step_aside() -> None:
    """The other turn would take the slot and its cache: the reply would read its prompt again."""
    llm = _llm({"long": LONG, "short": SHORT})
    llm._slots = SlotAffinity(1)
    assert llm.config.tail_pause_s > 0
    long_text, _, _ = _run(llm, "short", after_tokens=6)
    assert long_text == "".join(LONG)
    assert len([r for r in llm.server.requests if r["messages"][0]["content"] == "long"]) == 1  # type: ignore[attr-defined]


def _requests_for(llm: LlamaCppLLM, script: str) -> int:
    return len([r for r in llm.server.requests if r["messages"][0]["content"] == script])  # type: ignore[attr-defined]


def test_a_reply_whose_listener_would_hear_the_pause_does_not_step_aside() -> None:
    llm = _llm({"long": LONG, "short": SHORT})
    long_text, _, _ = _run(llm, "short", after_tokens=6, ahead=lambda: 0.5)  # under tail_pause_queued_s
    assert long_text == "".join(LONG)
    assert _requests_for(llm, "long") == 1


def test_a_reply_with_no_listener_clock_does_not_step_aside() -> None:
    llm = _llm({"long": LONG, "short": SHORT})
    _run(llm, "short", after_tokens=6, ahead=None)
    assert _requests_for(llm, "long") == 1


def test_a_paused_reply_goes_on_once_its_listener_runs_short() -> None:
    """The other turn's first clause takes longer than the listener's queue lasts: the reply
    goes on beside it rather than leave the listener in silence."""
    llm = _llm({"long": LONG, "slow": SLOW * 3})  # the chunker cuts its first clause at 30 words
    llm.config = LLMConfig(parallel=2, tail_pause_s=5.0, tail_pause_queued_s=2.0)
    start = time.monotonic()
    long_text, _, stamps = _run(llm, "slow", after_tokens=6, ahead=lambda: 2.15 - (time.monotonic() - start))
    assert long_text == "".join(LONG)
    assert _requests_for(llm, "long") == 2  # it did pause, once
    went_on = min(t for s, t in llm.server.tokens if s == "long" and t > stamps[0] + 2 * TOKEN_S)  # type: ignore[attr-defined]
    assert went_on < stamps[0] + 0.2 < stamps[28]  # long before the other's 30 words were out
