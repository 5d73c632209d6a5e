"""Session behaviour on fake stages: turns, speculation, barge-in with word-level history,
escalation, failures. Runs in seconds."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from fake_engine import SCRIPT, fake_engine
from rejoinder.backends.fake import FakeLLM, FakeSTT, silence, tone
from rejoinder.config import Config, RouterConfig
from rejoinder.engine import Engine
from rejoinder.events import (
    ClauseStarted,
    ReplyDone,
    SessionEvent,
    StateChanged,
    Transcribed,
    TurnFailed,
    TurnFinished,
    UserSpeechStarted,
    UserSpeechStopped,
)
from rejoinder.output import PacedOutput
from rejoinder.session import Session
from rejoinder.stages.llm import Message
from rejoinder.stages.router import RouteDecision
from rejoinder.streams import settle
from turn_fakes import ScriptedTextModel


class Events:
    def __init__(self) -> None:
        self.events: list[SessionEvent] = []

    async def __call__(self, event: SessionEvent) -> None:
        self.events.append(event)

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


async def speak(session: Session, audio: np.ndarray, realtime_silence: bool = True) -> None:
    """Speech goes in at once; silence at 1x, so speculation can overlap the end-of-turn wait."""
    for i in range(0, audio.size, 512):
        block = audio[i : i + 512]
        await session.push_audio(block)
        if realtime_silence and float(np.abs(block).max()) < 0.01:
            await asyncio.sleep(512 / 16_000)
    await session.end_audio()
    await session.wait_idle()


def test_a_spoken_turn_is_transcribed_answered_and_remembered(fakes: Engine) -> None:
    events = Events()
    session = Session(fakes, events)
    asyncio.run(speak(session, np.concatenate([tone(0, 0.8), silence(0.6)])))
    [report] = session.reports
    assert (report.transcript, report.reply, report.status) == (
        SCRIPT[0],
        "Rome is the capital of Italy.",
        "completed",
    )
    assert report.speculative and report.speculative_audio  # made during the end-of-turn silence
    assert fakes.stt.calls == 1 and len(fakes.llm.calls) == 1  # type: ignore[attr-defined]
    assert session.history == [
        {"role": "user", "content": SCRIPT[0]},
        {"role": "assistant", "content": "Rome is the capital of Italy."},
    ]
    names = [type(e).__name__ for e in events.events]
    assert names[:5] == [
        "StateChanged",
        "UserSpeechStarted",
        "UserSpeechStopped",
        "StateChanged",
        "Transcribed",
    ]
    assert names[-3:] == ["ReplyDone", "TurnFinished", "StateChanged"]
    assert [e.state for e in events.of(StateChanged)] == [
        "user_speaking",
        "thinking",
        "speaking",
        "listening",
    ]
    offsets = report.timeline.offsets_ms()
    assert offsets["stt_start"] < 0 < offsets["first_audio"]


def test_speculation_is_dropped_when_the_user_speaks_on(fakes: Engine) -> None:
    session = Session(fakes)
    audio = np.concatenate([tone(1, 0.5), silence(0.2), tone(1, 0.5), silence(0.5)])
    asyncio.run(speak(session, audio))
    [report] = session.reports
    assert report.transcript == SCRIPT[1] and fakes.stt.calls == 2  # type: ignore[attr-defined]
    assert len(fakes.llm.calls) <= 2 and fakes.llm.finished == 1  # type: ignore[attr-defined]


class Listener:
    """A PacedOutput target that 'plays' what it gets."""

    def __init__(self) -> None:
        self.audio_s = 0.0
        self.texts: list[str] = []
        self.cleared = 0

    async def text(self, turn: int, text: str) -> None:
        self.texts.append(text)

    async def audio(self, turn: int, samples: np.ndarray, sample_rate: int) -> None:
        self.audio_s += samples.size / sample_rate

    def clear(self) -> None:
        self.cleared += 1


def test_barge_in_keeps_the_words_the_listener_heard() -> None:
    reply = "One two three four five six seven eight, nine ten eleven twelve thirteen fourteen."
    engine = fake_engine(reply)

    async def go() -> Session:
        listener = Listener()
        session = Session(engine, output=PacedOutput(listener))
        task = asyncio.create_task(session.respond("Count"))
        while listener.audio_s < 0.6:  # about four words played
            await asyncio.sleep(0.01)
        await session.interrupt()
        await task
        assert listener.cleared == 1
        return session

    session = asyncio.run(go())
    [report] = session.reports
    assert report.status == "cancelled"
    words = report.reply.split()
    assert 1 <= len(words) < 8 and reply.startswith(report.reply), report.reply
    assert session.history[-1] == {"role": "assistant", "content": report.reply}


def test_a_finished_live_turn_lasts_until_its_audio_has_played() -> None:
    async def go() -> float:
        session = Session(fake_engine("Short reply here."), output=PacedOutput(Listener()))
        start = asyncio.get_running_loop().time()
        await session.respond("Hi")
        return asyncio.get_running_loop().time() - start

    assert asyncio.run(go()) >= 3 * 0.15 - 0.25  # three words of audio, sent at most LEAD_S ahead


def test_a_finished_reply_is_heard_whole_even_when_timers_fire_early(monkeypatch: Any) -> None:
    """uvloop (Ray Serve, uvicorn) may wake a sleep a few ms early; the end of the reply must
    still count as heard (a cluster test once recorded "Hello there." as "Hello")."""
    real_sleep = asyncio.sleep

    async def early(delay: float, *args: Any) -> Any:
        return await real_sleep(max(0.0, delay - 0.02), *args)

    monkeypatch.setattr(asyncio, "sleep", early)
    reply = "One two three four five six."

    async def go() -> str:
        session = Session(fake_engine(reply), output=PacedOutput(Listener()))
        return (await session.respond("Count")).reply

    assert asyncio.run(go()) == reply


def test_a_failing_llm_fails_the_turn_and_the_next_turn_works() -> None:
    llm = FakeLLM(reply="Fine.")
    llm.fail = True
    events = Events()
    session = Session(fake_engine(llm=llm), events)
    assert asyncio.run(session.respond("Hello")).status == "failed"
    assert "model crashed" in events.of(TurnFailed)[0].message
    llm.fail = False
    assert asyncio.run(session.respond("Hello")).reply == "Fine."


def test_the_token_limit_never_ends_a_reply_mid_phrase() -> None:
    engine = fake_engine("The sky is blue. It scatters light, mostly the short waves.")
    engine.config.llm.max_tokens = 8
    session = Session(engine)
    report = asyncio.run(session.respond("Why?"))
    assert (report.reply, report.unspoken_tail) == ("The sky is blue.", "It scatters light, mostly")


class FixedRouter:
    """Sends everything to one tier."""

    def __init__(self, tier: int) -> None:
        self.tier, self.tiers = tier, ["small", "large"]

    def route(self, text: str, history: object) -> RouteDecision:
        return RouteDecision(self.tiers[self.tier], self.tier, 0.1, "fixed", 0.0)

    def escalate(self, decision: RouteDecision) -> RouteDecision:
        return RouteDecision("large", 1, decision.score, "fixed", 0.0, escalated=True)


@pytest.mark.parametrize("escalate", [True, False])
def test_a_refusing_small_tier_hands_over_to_the_large_one(escalate: bool) -> None:
    small, large = FakeLLM(reply="I don't know, sorry."), FakeLLM(reply="It is Canberra.")
    engine = fake_engine(llm=small)
    engine.config.router = RouterConfig(enabled=True, escalate=escalate)
    engine.use_tiers([small, large], FixedRouter(0))
    report = asyncio.run(Session(engine).respond("Capital of Australia?"))
    assert report.route is not None
    if escalate:
        assert (report.reply, report.route.tier, report.route.escalated) == ("It is Canberra.", "large", True)
    else:
        assert (report.reply, report.route.tier) == ("I don't know, sorry.", "small")
    assert len(large.calls) == int(escalate)


@pytest.mark.parametrize(
    ("asked", "small_says", "hands_over"),
    [
        ("Hello?", "Hello!", True),
        ("Hello, how are you today?", "Hello, how are you today?", True),
        ("How are you today?", "How are you?", True),  # three words of the question, and no more
        ("Is it far?", "Is it?", False),  # short and not the whole question
        ("What is the capital of Italy?", "What is the capital of Italy? Rome.", False),
        ("Hello?", "Hello! How can I help?", False),  # a greeting back, then an answer
        ("Is Rome in Italy?", "Yes, Rome is in Italy.", False),
    ],
)
def test_a_small_tier_that_only_echoes_the_question_hands_over(
    asked: str, small_says: str, hands_over: bool
) -> None:
    small, large = FakeLLM(reply=small_says), FakeLLM(reply="I am well, thank you.")
    engine = fake_engine(llm=small)
    engine.config.router = RouterConfig(enabled=True, escalate=True)
    engine.use_tiers([small, large], FixedRouter(0))
    report = asyncio.run(Session(engine).respond(asked))
    assert report.route is not None and report.route.escalated == hands_over
    assert len(large.calls) == int(hands_over)


def test_every_tier_sees_the_whole_history() -> None:
    small, large = FakeLLM(reply="Nice to meet you, Ada."), FakeLLM(reply="Your name is Ada.")
    engine = fake_engine(llm=small)
    engine.config.router = RouterConfig(enabled=True)
    engine.use_tiers([small, large], FixedRouter(0))
    session = Session(engine)
    asyncio.run(session.respond("My name is Ada."))
    engine.router = FixedRouter(1)
    asyncio.run(session.respond("What is my name?"))
    assert [m["content"] for m in large.calls[0][1:]] == [
        "My name is Ada.",
        "Nice to meet you, Ada.",
        "What is my name?",
    ]


def test_a_turn_cancelled_before_it_starts_is_still_reported() -> None:
    events = Events()
    session = Session(fake_engine(FakeLLM(reply="x " * 40).reply), events)

    async def go() -> None:
        first = asyncio.create_task(session.respond("one"))
        await asyncio.sleep(0.05)
        second = asyncio.create_task(session.respond("two"))
        await asyncio.gather(first, second)

    asyncio.run(go())
    finished = [e.turn for e in events.of(TurnFinished)]
    assert sorted(finished) == [0, 1]
    assert [e.status for e in events.of(ReplyDone)] == ["cancelled", "completed"]
    assert events.of(ClauseStarted)


def test_config_defaults_are_untouched_by_fakes() -> None:
    assert Config().llm.backend == "llamacpp" and FakeSTT().script == ["hello"]


class SureEndOfTurn:
    """A fake end-of-turn model: every pause sounds like the end of a turn."""

    name, sample_rate, window_s = "fake", 16_000, 8.0

    def __init__(self, p: float = 0.97) -> None:
        self.p, self.calls = p, 0

    async def probability(self, audio: np.ndarray) -> float:
        self.calls += 1
        return self.p


@pytest.mark.parametrize(("p", "reason", "at_most_ms"), [(0.97, "model", 260), (0.1, "cap", 1700)])
def test_the_end_of_turn_model_ends_a_complete_turn_early_and_holds_an_unfinished_one(
    p: float, reason: str, at_most_ms: float
) -> None:
    engine = fake_engine(turn=SureEndOfTurn(p))
    engine.config.vad.end_of_turn = "smart"
    session = Session(engine)
    asyncio.run(speak(session, np.concatenate([tone(0, 0.8), silence(2.0)]), realtime_silence=False))
    [report] = session.reports
    assert report.end_of_turn is not None and report.end_of_turn.reason == reason
    assert report.endpointing_ms <= at_most_ms and engine.end_of_turn.calls >= 1  # type: ignore[union-attr]
    assert report.transcript == SCRIPT[0] and report.status == "completed"


@pytest.mark.parametrize(("p", "reason"), [(0.9, "model"), (0.01, "cap")])
def test_a_session_asks_the_text_model_and_its_turn_report_says_why_the_turn_waited(
    p: float, reason: str
) -> None:
    words = ScriptedTextModel(default=p)
    engine = fake_engine(turn=SureEndOfTurn(0.97), turn_text=words)
    engine.config.vad.end_of_turn = "smart"
    session = Session(engine)
    asyncio.run(speak(session, np.concatenate([tone(0, 0.8), silence(2.0)]), realtime_silence=False))
    [report] = session.reports
    assert words.calls == [SCRIPT[0]]
    decision = report.to_dict()["end_of_turn"]
    assert decision["reason"] == reason and ("text model" in decision.get("detail", "")) is (reason == "cap")


@pytest.mark.parametrize("language", ["fr", None])
def test_the_english_text_model_is_not_asked_about_another_language(language: str | None) -> None:
    words = ScriptedTextModel(default=0.01)  # would hold every turn to the cap
    engine = fake_engine(turn=SureEndOfTurn(0.97), turn_text=words)
    engine.config.vad.end_of_turn = "smart"
    engine.config.stt.language = language
    session = Session(engine)
    asyncio.run(speak(session, np.concatenate([tone(0, 0.8), silence(2.0)]), realtime_silence=False))
    [report] = session.reports
    assert words.calls == [] and report.end_of_turn is not None and report.end_of_turn.reason == "model"


def test_the_text_model_reads_the_user_after_the_agents_last_words() -> None:
    words = ScriptedTextModel(default=0.9)
    engine = fake_engine(turn=SureEndOfTurn(0.97), turn_text=words)
    engine.config.vad.end_of_turn = "smart"
    session = Session(engine)
    audio = np.concatenate([tone(0, 0.8), silence(1.5), tone(1, 0.8), silence(1.0)])
    asyncio.run(speak(session, audio))
    assert [r.transcript for r in session.reports] == SCRIPT[:2]
    reply = "Rome is the capital of Italy."
    assert words.contexts == ["", reply] and words.prepared == ["", reply]


@pytest.mark.parametrize(("utterance", "interrupted"), [(3, False), (2, True)])
def test_a_backchannel_does_not_stop_the_agent_but_real_words_do(
    utterance: int, interrupted: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="rejoinder.listener")
    engine = fake_engine("word " * 60)
    events = Events()

    async def go() -> Session:
        session = Session(engine, events)
        task = asyncio.create_task(session.respond("Talk"))
        await asyncio.sleep(0.3)  # the agent is speaking
        for block in np.array_split(np.concatenate([tone(utterance, 0.7), silence(0.8)]), 47):
            await session.push_audio(block)
            await asyncio.sleep(0.01)
        if not interrupted:
            assert session.busy  # still speaking
            await session.interrupt()
        await task
        await session.wait_idle()
        return session

    session = asyncio.run(go())
    first = session.reports[0]
    assert first.status == "cancelled"
    assert len(events.of(UserSpeechStarted)) == int(interrupted)
    if interrupted:  # the interruption became the next turn
        assert [r.transcript for r in session.reports[1:]] == [SCRIPT[2]]
    else:  # the backchannel was not a turn
        assert len(session.reports) == 1
    [decision] = [r for r in caplog.records if r.getMessage() in ("barge-in", "not a barge-in")]
    assert decision.getMessage() == ("barge-in" if interrupted else "not a barge-in")
    assert decision.words == SCRIPT[utterance] and decision.confidence is None  # type: ignore[attr-defined]


def test_words_whose_reply_was_never_heard_join_the_next_request() -> None:
    """A turn ended inside a pause ("Which is heavier" | "a pound of feathers or..."), its reply
    cut before a word of it played: the model, the router and the direct answers get the one
    request the user meant, and the history keeps it once."""
    llm = FakeLLM(reply="A fine question indeed.", delay_s=0.2)
    session = Session(fake_engine(llm=llm))

    async def go(first: str, then: str) -> None:
        cut, task = session.reply_to(first)
        await asyncio.sleep(0.05)  # still thinking: nothing said yet
        await session.respond(then)
        await settle(task)  # the turn's own task: cancelled
        assert cut.status == "cancelled" and cut.reply == ""

    asyncio.run(go("Which is heavier", "a pound of feathers or a kilogram of steel?"))
    assert session.reports[-1].reply == "A kilogram of steel is heavier."  # the comparison saw both
    users = [m["content"] for m in session.history if m["role"] == "user"]
    assert users == ["Which is heavier a pound of feathers or a kilogram of steel?"]
    asyncio.run(go("What is the capital", "of Italy?"))
    prompt = llm.calls[-1]
    assert [m["content"] for m in prompt if m["role"] == "user"][-1] == "What is the capital of Italy?"
    assert prompt[-2]["role"] != "user"  # not two user messages in a row
    users = [m["content"] for m in session.history if m["role"] == "user"]
    assert users[-1] == "What is the capital of Italy?" and "What is the capital" not in users
    # a reply that was heard closes its request: the next words are a request of their own
    asyncio.run(session.respond("And of France?"))
    assert [m["content"] for m in llm.calls[-1] if m["role"] == "user"][-1] == "And of France?"


class PrefillingLLM(FakeLLM):
    """A FakeLLM with a prompt cache: records what it was asked to prefill."""

    capabilities = frozenset({"prefill"})

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.prefilled: list[list[Message]] = []

    def prefill(self, messages: Sequence[Message], conversation: str | None = None) -> None:
        self.prefilled.append(list(messages))

    async def prefill_async(self, messages: Sequence[Message], conversation: str | None = None) -> None:
        self.prefill(messages)


def test_the_words_so_far_are_prefilled_while_the_user_speaks() -> None:
    """Every early_prefill_ms of speech the words so far go into the model's cache, as the user
    message of the prompt the turn will send; none while the session answers, none when off."""
    llm = PrefillingLLM(reply="Rome is the capital of Italy.")
    engine = fake_engine(llm=llm)
    session = Session(engine)

    async def talk() -> None:
        for _ in range(0, round(2.5 * 16_000), 512):  # 2.5 s of speech, at 1x
            await session.push_audio(tone(0, 512 / 16_000))
            await asyncio.sleep(512 / 16_000)
        await speak(session, silence(0.8))

    asyncio.run(talk())
    early = [m for m in llm.prefilled if m[-1]["role"] == "user"]
    assert len(early) == 4  # at 0.5, 1, 1.5 and 2 s of speech
    assert all(m[-1]["content"] == SCRIPT[0] and m[0]["role"] == "system" for m in early)
    [report] = session.reports
    assert report.transcript == SCRIPT[0] and report.reply == "Rome is the capital of Italy."
    assert llm.calls[-1][: len(early[0])] == early[0]  # the turn's prompt starts with what was cached

    off = fake_engine(llm=PrefillingLLM())
    off.config.vad.early_prefill_ms = 0
    quiet = Session(off)
    asyncio.run(speak(quiet, np.concatenate([tone(0, 2.5), silence(0.8)])))
    assert not [m for m in off.llm.prefilled if m[-1]["role"] == "user"]  # type: ignore[attr-defined]


@pytest.mark.parametrize("overload", [True, False])
def test_a_turn_that_would_wait_for_another_conversation_goes_to_the_small_tier(overload: bool) -> None:
    """While conversation A's reply is written on the strong tier, conversation B's turn routed
    there is answered by the small tier (route strategy 'overload'); A's own turns never count."""
    small, large = FakeLLM(reply="Quick answer.", delay_s=0.01), FakeLLM(reply="Slow " * 30, delay_s=0.02)
    engine = fake_engine(llm=small)
    engine.config.router = RouterConfig(enabled=True, overload=overload)
    engine.use_tiers([small, large], FixedRouter(1))
    first, second = Session(engine), Session(engine)

    async def go() -> tuple[Any, Any]:
        writing = asyncio.create_task(first.respond("Tell me a long story."))
        await asyncio.sleep(0.1)  # A is writing on the strong tier
        other = await second.respond("What is the capital of France?")
        return await writing, other

    a, b = asyncio.run(go())
    assert a.route.tier == "large" and a.route.strategy == "fixed"
    if overload:
        assert (b.route.tier, b.route.strategy, b.reply) == ("small", "overload", "Quick answer.")
    else:
        assert b.route.tier == "large" and b.reply.startswith("Slow")
    assert engine.writing["large"] == 0 and engine.writing["small"] == 0  # all released
    again = asyncio.run(first.respond("And then?"))  # alone again: the router's tier
    assert again.route is not None and again.route.tier == "large"


def test_a_long_lived_session_keeps_only_its_latest_reports() -> None:
    """Every turn's report was kept for the life of a live session (found by reading the code
    after a client made 400 empty turns): memory grew with each turn."""

    async def go() -> tuple[list[int], list[int]]:
        engine = fake_engine("Fine.")
        live = Session(engine, keep_reports=3)
        every = Session(engine)  # file mode: the whole report
        for session in (live, every):
            for i in range(10):
                await session.respond(f"Question {i}?")
            await session.close()
        return [r.index for r in live.reports], [r.index for r in every.reports]

    live, every = asyncio.run(go())
    assert 3 <= len(live) <= 6 and live == every[-len(live) :]
    assert len(every) == 10


@pytest.mark.parametrize(("stt_s", "gap_s"), [(0.6, 0.4), (1.0, 0.35), (0.3, 0.35), (0.05, 0.35)])
def test_every_utterance_cut_by_the_next_is_transcribed_and_reaches_the_model(
    stt_s: float, gap_s: float
) -> None:
    """Speech back to back, each utterance ending a turn that the next one cuts while it is
    still being transcribed, while it waits for the turn before it (1.0 s: never started), or
    once it speaks (0.05 s, the control): every committed turn gets
    its transcript, and the last request reads every word (found by probing: 15 items
    committed, 8 transcribed, and the cut questions gone from the history)."""
    llm = FakeLLM(reply="An answer to all of that.", delay_s=0.05)
    engine = fake_engine(llm=llm, stt=FakeSTT(script=SCRIPT, delay_s=stt_s))
    engine.config.vad.barge_in = "onset"
    events = Events()
    session = Session(engine, events)
    order = [0, 1, 0, 1, 0]
    audio = np.concatenate([part for i in order for part in (tone(i, 0.5), silence(gap_s))] + [silence(1.0)])
    asyncio.run(speak(session, audio))
    stopped = [e.turn for e in events.of(UserSpeechStopped)]
    assert len(stopped) == len(order)
    transcribed = {e.turn: e.text for e in events.of(Transcribed)}
    assert [transcribed.get(turn) for turn in stopped] == [SCRIPT[i] for i in order]
    asked = " ".join(m["content"] for m in llm.calls[-1] if m["role"] == "user")
    assert asked.count(SCRIPT[0]) == 3 and asked.count(SCRIPT[1]) == 2
