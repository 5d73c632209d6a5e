"""Semantic endpointing (TurnTaker) with an energy VAD and a scripted end-of-turn model: fast."""

from __future__ import annotations

import asyncio
import dataclasses

import numpy as np
import pytest

from rejoinder.config import VADConfig
from rejoinder.endpointing import EAGERNESS, EndpointPolicy, TurnTaker
from rejoinder.turn_text import unfinished_reason
from rejoinder.turns import SpeechEnded, SpeechPaused, SpeechResumed, SpeechStarted
from turn_fakes import EnergyVAD, ScriptedEndOfTurn, ScriptedTextModel, ScriptedTranscriber, silence, tone

SMART = VADConfig(end_of_turn="smart")
MEDIUM = EndpointPolicy(
    first_check_ms=192, recheck_ms=480, threshold=0.9, question_threshold=0.5, cap_ms=1600
)
"""A policy that re-checks (the mechanism under test, whatever the eagerness defaults are)."""


def stream(taker: TurnTaker, audio: np.ndarray, block: int = 512) -> list[object]:
    async def go() -> list[object]:
        events: list[object] = []
        for i in range(0, audio.size, block):
            events += await taker.feed(audio[i : i + block])
        return events + await taker.finish()

    return asyncio.run(go())


def ends(events: list[object]) -> list[SpeechEnded]:
    return [e for e in events if isinstance(e, SpeechEnded)]


def turn(speech_s: float = 1.0, tail_s: float = 3.0) -> np.ndarray:
    return np.concatenate([silence(0.5), tone(speech_s), silence(tail_s)])


def test_a_complete_turn_ends_at_the_first_check() -> None:
    model = ScriptedEndOfTurn(0.95)
    events = stream(TurnTaker(EnergyVAD(), SMART, model), turn())
    [end] = ends(events)
    assert [type(e) for e in events] == [SpeechStarted, SpeechPaused, SpeechEnded]
    assert end.reason == "model" and not end.forced
    assert end.endpointing_ms == pytest.approx(MEDIUM.first_check_ms, abs=1)
    assert end.end_s == pytest.approx(1.5, abs=0.04)
    assert len(model.calls) == 1
    assert model.calls[0].size >= 16_000  # the turn's audio, trailing silence included


def test_an_unfinished_turn_waits_for_the_cap_asking_again() -> None:
    model = ScriptedEndOfTurn(0.3)
    [end] = ends(stream(TurnTaker(EnergyVAD(), SMART, model, policy=MEDIUM), turn()))
    assert end.reason == "cap"
    assert end.endpointing_ms == pytest.approx(MEDIUM.cap_ms, abs=32)
    assert len(model.calls) == 1 + int((MEDIUM.cap_ms - MEDIUM.first_check_ms) // MEDIUM.recheck_ms)


def test_a_late_yes_ends_the_turn_at_a_recheck() -> None:
    answers = iter([0.2, 0.95])
    model = ScriptedEndOfTurn(lambda audio: next(answers))
    [end] = ends(stream(TurnTaker(EnergyVAD(), SMART, model, policy=MEDIUM), turn()))
    assert end.reason == "model"
    assert end.endpointing_ms == pytest.approx(MEDIUM.first_check_ms + MEDIUM.recheck_ms, abs=32)


def test_a_recheck_needs_its_own_higher_bar() -> None:
    strict = dataclasses.replace(MEDIUM, recheck_threshold=0.99)
    answers = iter([0.2, 0.95, 0.995])
    model = ScriptedEndOfTurn(lambda audio: next(answers))
    [end] = ends(stream(TurnTaker(EnergyVAD(), SMART, model, policy=strict), turn()))
    assert end.reason == "model" and end.probability == pytest.approx(0.995)
    assert end.endpointing_ms == pytest.approx(MEDIUM.first_check_ms + 2 * MEDIUM.recheck_ms, abs=32)
    # the bar is per pause: the next pause's first check has the ordinary one again
    answers2 = iter([0.2, 0.95])
    model2 = ScriptedEndOfTurn(lambda audio: next(answers2))
    two = np.concatenate([turn(tail_s=1.0), tone(0.5), silence(3.0)])
    taker = TurnTaker(EnergyVAD(), SMART, model2, policy=dataclasses.replace(strict, cap_ms=600))
    first, second = ends(stream(taker, two))
    assert first.reason == "cap" and second.reason == "model"


@pytest.mark.parametrize("eagerness", ["high", "medium", "low"])
def test_eagerness_sets_the_first_check(eagerness: str) -> None:
    config = VADConfig(end_of_turn="smart", eagerness=eagerness)  # type: ignore[arg-type]
    [end] = ends(stream(TurnTaker(EnergyVAD(), config, ScriptedEndOfTurn(0.99)), turn()))
    first = max(EAGERNESS[eagerness].first_check_ms, 160)  # the SpeechPaused frame comes first
    assert end.endpointing_ms == pytest.approx(first, abs=33)


def test_unfinished_words_hold_the_turn_open_whatever_the_model_says() -> None:
    model = ScriptedEndOfTurn(0.99)
    words = ScriptedTranscriber("My flight leaves from")
    [end] = ends(stream(TurnTaker(EnergyVAD(), SMART, model, words), turn()))
    assert end.reason == "cap" and "ends with 'from'" in end.detail
    assert len(words.calls) == 1  # transcribed once, at the pause
    assert len(model.calls) == 1  # no re-checks while the words say "unfinished"


def test_a_question_needs_less_certainty() -> None:
    model = ScriptedEndOfTurn(0.6)
    statement = ends(stream(TurnTaker(EnergyVAD(), SMART, model, ScriptedTranscriber("I like it.")), turn()))
    question = ends(stream(TurnTaker(EnergyVAD(), SMART, model, ScriptedTranscriber("Why?")), turn()))
    assert statement[0].reason == "cap"
    assert question[0].reason == "model" and question[0].endpointing_ms < 250


def test_a_pause_then_more_speech_is_one_turn() -> None:
    audio = np.concatenate([silence(0.5), tone(1.0), silence(0.8), tone(1.0), silence(3.0)])
    answers = iter([0.1, 0.1, 0.99])  # two checks inside the pause say "not yet"
    model = ScriptedEndOfTurn(lambda audio: next(answers))
    events = stream(TurnTaker(EnergyVAD(), SMART, model), audio)
    assert [type(e) for e in events] == [
        SpeechStarted, SpeechPaused, SpeechResumed, SpeechPaused, SpeechEnded,
    ]  # fmt: skip
    [end] = ends(events)
    assert end.start_s < 0.6 and end.end_s == pytest.approx(3.3, abs=0.05)


def test_silence_mode_ends_after_the_fixed_silence_and_asks_no_model() -> None:
    model = ScriptedEndOfTurn(0.99)
    config = VADConfig(end_of_turn="silence", min_silence_ms=500)
    taker = TurnTaker(EnergyVAD(), config, model)
    [end] = ends(stream(taker, turn()))
    assert taker.mode == "silence" and not model.calls
    assert end.reason == "silence" and end.endpointing_ms == pytest.approx(512, abs=1)


def test_block_size_and_a_slow_model_do_not_change_decisions() -> None:
    """Decisions hang on stream position: a file fed in big blocks, faster than real time, with a
    model that takes 30 ms, ends its turns where a live 32 ms stream with an instant model does."""
    audio = np.concatenate([turn(1.0, 1.0), tone(0.7), silence(3.0)])

    def answer(audio: np.ndarray) -> float:
        return 0.95 if audio.size > 30_000 else 0.2  # a longer turn sounds complete sooner

    live = ends(stream(TurnTaker(EnergyVAD(), SMART, ScriptedEndOfTurn(answer), policy=MEDIUM), audio, 512))
    slow = ScriptedEndOfTurn(answer, delay_s=0.03)
    bulk = ends(stream(TurnTaker(EnergyVAD(), SMART, slow, policy=MEDIUM), audio, 16_000))
    assert [(e.end_s, e.decided_s, e.reason) for e in live] == [
        (e.end_s, e.decided_s, e.reason) for e in bulk
    ]
    assert len(live) == 2


def test_a_failing_model_falls_back_to_the_fixed_silence() -> None:
    model = ScriptedEndOfTurn(0.0, fail=True)
    [end] = ends(stream(TurnTaker(EnergyVAD(), SMART, model), turn()))
    assert end.reason == "silence" and "failed" in end.detail
    assert 500 <= end.endpointing_ms < 800


def test_a_failing_transcriber_leaves_the_model_to_judge() -> None:
    words = ScriptedTranscriber("", fail=True)
    [end] = ends(stream(TurnTaker(EnergyVAD(), SMART, ScriptedEndOfTurn(0.95), words), turn()))
    assert end.reason == "model"


def test_words_the_text_model_finds_unfinished_hold_the_turn_to_the_cap() -> None:
    text = ScriptedTextModel({"Can you": 0.01, "Can you help me?": 0.6})
    policy = EAGERNESS["medium"]
    assert policy.text_threshold is not None and 0.01 < policy.text_threshold < 0.6

    def judged(said: str, model: ScriptedTextModel = text, config: VADConfig = SMART) -> SpeechEnded:
        taker = TurnTaker(
            EnergyVAD(), config, ScriptedEndOfTurn(0.99), ScriptedTranscriber(said), text_model=model
        )
        [end] = ends(stream(taker, turn()))
        return end

    held = judged("Can you")
    assert held.reason == "cap" and "p=0.010 (text model)" in held.detail
    assert held.endpointing_ms == pytest.approx(policy.cap_ms, abs=32)
    assert judged("Can you help me?").reason == "model"
    assert text.calls == ["Can you", "Can you help me?"]
    # one word is an answer the model cannot judge alone; the rules' verdict needs no model
    assert judged("Yes.").reason == "model" and judged("My flight leaves from").reason == "cap"
    assert text.calls == ["Can you", "Can you help me?"]
    # a failing model leaves the turn to the others; 'none' turns it off
    assert judged("Can you", ScriptedTextModel(fail=True)).reason == "model"
    assert judged("Can you", config=SMART.model_copy(update={"turn_text_backend": "none"})).reason == "model"


def test_the_pause_is_read_by_both_models_before_the_check() -> None:
    """Smart Turn and the text model start at the pause (SpeechPaused), so the check finds their
    answers ready; the check asks Smart Turn nothing more."""
    text = ScriptedTextModel(default=0.9)
    model = ScriptedEndOfTurn(0.99)
    taker = TurnTaker(EnergyVAD(), SMART, model, ScriptedTranscriber("Can you help me?"), text_model=text)
    audio = turn()

    async def go() -> SpeechEnded:
        for i in range(0, audio.size, 512):
            events = await taker.feed(audio[i : i + 512])
            if any(isinstance(e, SpeechPaused) for e in events):
                for _ in range(5):
                    await asyncio.sleep(0)
                assert text.calls == ["Can you help me?"] and len(model.calls) == 1
            if ended := [e for e in events if isinstance(e, SpeechEnded)]:
                return ended[0]
        raise AssertionError("the turn never ended")

    end = asyncio.run(go())
    assert len(model.calls) == 1 and text.calls == ["Can you help me?"]
    assert end.reason == "model" and end.detail == "p=0.99 (question)"


def _read_at_pause(early: bool, words: bool = True) -> tuple[np.ndarray, int]:
    """What the model read first, and how many reads had been made when SpeechPaused came."""
    model = ScriptedEndOfTurn(0.99)
    config = VADConfig(end_of_turn="smart", early_check=early)
    taker = TurnTaker(EnergyVAD(), config, model, ScriptedTranscriber("Can you help me?") if words else None)
    audio, at_pause = turn(), -1

    async def go() -> None:
        nonlocal at_pause
        for i in range(0, audio.size, 512):
            events = await taker.feed(audio[i : i + 512])
            await asyncio.sleep(0)
            if any(isinstance(e, SpeechPaused) for e in events):
                at_pause = len(model.calls)

    asyncio.run(go())
    assert len(model.calls) == 1
    return model.calls[0], at_pause


def test_the_early_reading_hears_as_much_silence_as_the_check_would() -> None:
    """Read at the pause, the silence heard so far is repeated up to the first check, so the model
    gets the same length of sound it would have got at the check."""
    early, read_at_pause = _read_at_pause(early=True)
    late, not_yet = _read_at_pause(early=False)
    assert read_at_pause == 1 and not_yet == 0
    assert early.size == late.size
    by_sound, read_by_sound = _read_at_pause(early=True, words=False)  # no transcript: the same
    assert read_by_sound == 1 and by_sound.size == late.size
    assert np.abs(early[-round(0.19 * 16_000) :]).max() < 0.01  # the tail is still silence


def test_an_early_reading_is_dropped_when_the_user_speaks_on() -> None:
    """A pause read early, then more speech: the next pause is read afresh, with the new words'
    sound in it, and the turn ends on that reading."""
    model = ScriptedEndOfTurn(lambda audio: 0.99 if audio.size > 2.0 * 16_000 else 0.1)
    taker = TurnTaker(EnergyVAD(), SMART, model, ScriptedTranscriber("Book a table for two."))
    audio = np.concatenate([tone(1.0), silence(0.17), tone(0.8), silence(3.0)])

    async def go() -> list[object]:
        events: list[object] = []
        for i in range(0, audio.size, 512):
            events += await taker.feed(audio[i : i + 512])
            await asyncio.sleep(0)  # as a live loop does between blocks: the early reading runs
        return events

    [end] = ends(asyncio.run(go()))
    assert end.reason == "model" and len(model.calls) == 2
    assert model.calls[0].size < 1.5 * 16_000 < 2.0 * 16_000 < model.calls[1].size


def test_input_ending_mid_turn_forces_the_end() -> None:
    [end] = ends(stream(TurnTaker(EnergyVAD(), SMART, ScriptedEndOfTurn(0.1)), turn(tail_s=0.1)))
    assert end.forced and end.reason == "input_end"


@pytest.mark.parametrize(
    ("text", "unfinished"),
    [
        ("My flight leaves from", True),
        ("So I was thinking...", True),
        ("Uh, and then", True),
        ("I'd like to book a table for", True),
        ("The reason I'm calling is", True),
        ("If it rains tomorrow.", True),
        ("My phone number is 555.", True),
        ("Call me back on 077.", True),  # digits in groups, no keyword
        ("I need eggs, milk, bread.", True),  # a list without its closing "and"
        ("I need eggs, milk.", True),
        ("Send it to 42 Elm Road.", True),  # an address in progress
        ("Send it to 42 Elm Road, Cambridge.", True),
        ("My name is spelled S, M.", True),  # spelling
        ("My name is spelled s.", True),  # Moonshine writes a spelled letter in lower case
        ("My appointment is on March.", True),  # a date in progress
        ("We could", True),  # a modal with no full stop: trailing off
        ("Hello.", True),  # a greeting alone: usually followed by the request
        ("Hi there!", True),
        ("Hello?", True),  # the STT's punctuation of one word is a guess
        ("Hello, how are you today?", False),
        ("Which is heavier", True),  # a comparison that names nothing yet: the options follow
        ("Which one is better?", True),
        ("Which is heavier, a kilogram of feathers or a kilogram of steel?", False),
        ("Tom is taller than Sam. Who is taller?", False),
        ("What is the answer?", False),
        ("My phone number is five five five.", True),  # numbers in words (Moonshine writes them so)
        ("Send it to forty-two Elm Road.", True),
        ("I was born in nineteen ninety.", False),
        ("Wake me up at seven.", False),
        ("I need eggs, milk and bread.", False),  # the list is closed
        ("That's all I wanted to know, thanks.", False),
        ("Sure, go ahead.", False),
        ("Yes, I can.", False),
        ("I was born in 1990.", False),  # a year, not digits being dictated
        ("Wake me up at 7.", False),
        ("The appointment is on March 15th.", False),
        ("What is the capital of Italy?", False),
        ("Where are you from?", False),
        ("Turn it on.", False),
        ("I think so.", False),
        ("Thank you.", False),
        ("Set a timer for 10 minutes.", False),
        ("I don't know where it is.", False),
        ("", False),
    ],
)
def test_transcript_cues(text: str, unfinished: bool) -> None:
    assert (unfinished_reason(text) is not None) is unfinished


def test_the_pause_transcript_starts_at_speech_paused_for_the_speculation_to_share() -> None:
    words = ScriptedTranscriber("Why?", delay_s=0.01)
    taker = TurnTaker(EnergyVAD(), SMART, ScriptedEndOfTurn(0.9), words)
    audio = turn()
    seen: list[object] = []

    async def go() -> None:
        for i in range(0, audio.size, 512):
            for event in await taker.feed(audio[i : i + 512]):
                if isinstance(event, SpeechPaused):
                    assert taker.pause_transcript is not None
                    seen.append(await taker.pause_transcript)
                    assert words.calls[0].size == event.audio.size
                seen.append(type(event))

    asyncio.run(go())
    assert seen == [SpeechStarted, "Why?", SpeechPaused, SpeechEnded]
    assert len(words.calls) == 1
