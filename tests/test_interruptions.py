"""The barge-in gate with a scripted transcriber: cues interrupt, backchannels and noises do not."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from rejoinder.interruptions import (
    BargeInGate,
    Decision,
    GateConfig,
    Transcriber,
    Words,
    classify,
    other_words,
)
from rejoinder.stages.stt import Transcript
from turn_fakes import ScriptedTranscriber, silence, tone

CONFIG = GateConfig()


def listen(gate: BargeInGate, audio: np.ndarray, silent_from_s: float | None = None) -> Decision:
    """Feed 32 ms blocks with the VAD's trailing silence, as a session would."""

    async def go() -> Decision:
        gate.start(tone(0.46))  # 300 ms prefix + 160 ms of speech: the confirmed onset
        decision = Decision.WAIT
        for i in range(0, audio.size, 512):
            at = (i + 512) / 16_000
            quiet = 0.0 if silent_from_s is None or at <= silent_from_s else (at - silent_from_s) * 1000
            decision = await gate.feed(audio[i : i + 512], quiet)
            if decision is not Decision.WAIT:
                break
        return decision

    return asyncio.run(go())


def test_a_cue_interrupts_at_the_first_read() -> None:
    words = ScriptedTranscriber("Wait")
    gate = BargeInGate(words, CONFIG)
    assert listen(gate, tone(1.0)) is Decision.INTERRUPT
    assert gate.decided_after_ms == pytest.approx(CONFIG.confirm_ms, abs=32)
    assert len(words.calls) == 1 and words.calls[0].size > 0.46 * 16_000


def test_a_backchannel_that_stops_is_ignored_when_the_utterance_ends() -> None:
    gate = BargeInGate(ScriptedTranscriber("Uh-huh."), CONFIG)
    audio = np.concatenate([tone(0.2), silence(1.0)])
    assert listen(gate, audio, silent_from_s=0.2) is Decision.WAIT  # the agent just goes on
    assert gate.speech_ended() is Decision.IGNORE  # and the utterance is no turn


def test_repeated_backchannels_that_go_on_are_not_an_interruption() -> None:
    gate = BargeInGate(ScriptedTranscriber("Yeah, yeah, okay."), CONFIG)
    assert listen(gate, np.concatenate([tone(0.9), silence(1.0)]), silent_from_s=0.9) is Decision.WAIT
    # at 96, 256, 416, 576, 736 and 896 ms of speech; none in the silence
    assert len(gate.check_ms) == 6
    assert gate.speech_ended() is Decision.IGNORE


def test_other_words_interrupt_once_the_user_goes_on() -> None:
    gate = BargeInGate(ScriptedTranscriber("Paris"), CONFIG)
    assert listen(gate, tone(1.5)) is Decision.INTERRUPT
    assert gate.decided_after_ms == pytest.approx(CONFIG.min_speech_ms, abs=32)


def test_two_other_words_interrupt_at_once() -> None:
    gate = BargeInGate(ScriptedTranscriber("Go back"), CONFIG)
    assert listen(gate, tone(1.5)) is Decision.INTERRUPT
    assert gate.decided_after_ms == pytest.approx(CONFIG.confirm_ms, abs=32)
    slow = BargeInGate(ScriptedTranscriber("Go back"), GateConfig(min_words=0))
    assert listen(slow, tone(1.5)) is Decision.INTERRUPT
    assert slow.decided_after_ms == pytest.approx(CONFIG.min_speech_ms, abs=32)


def test_one_unknown_word_that_stops_does_not_interrupt() -> None:
    gate = BargeInGate(ScriptedTranscriber("Cheers"), CONFIG)
    audio = np.concatenate([tone(0.25), silence(1.0)])
    assert listen(gate, audio, silent_from_s=0.25) is Decision.WAIT
    assert gate.speech_ended() is Decision.IGNORE


def test_words_after_a_pause_still_interrupt() -> None:
    """ "Way" (a misheard "wait,"), a pause, then "what did you say?" """
    texts = iter(["Way", "Way", "Way, what did you say?"])
    gate = BargeInGate(lambda audio: _say(next(texts)), CONFIG)

    async def go() -> Decision:
        gate.start(tone(0.46))
        for block, quiet in [(tone(0.064), 0.0)] * 2 + [(silence(0.032), 32.0 * k) for k in range(1, 20)]:
            assert await gate.feed(block, quiet) is Decision.WAIT  # silence decides nothing
        decision = Decision.WAIT
        for _ in range(20):
            decision = await gate.feed(tone(0.032), 0.0)
            if decision is not Decision.WAIT:
                break
        return decision

    assert asyncio.run(go()) is Decision.INTERRUPT
    assert gate.decided_after_ms is not None and gate.decided_after_ms > 700


async def _say(text: str) -> str:
    return text


def _reads(*heard: tuple[str, float | None]) -> Transcriber:
    """A transcriber that says how sure it is: each read gives the next (text, confidence)."""
    script = iter(heard)
    last: list[tuple[str, float | None]] = []

    async def read(audio: np.ndarray) -> Transcript:
        last[:] = [next(script, last[0] if last else ("", None))]
        return Transcript(last[0][0], "en", audio.size / 16_000, last[0][1])

    return read


def test_unsure_other_words_wait_and_the_hum_they_were_is_ignored() -> None:
    """Moonshine reads "Mm-hmm" as "a merman" (confidence 0.41): not words yet."""
    gate = BargeInGate(_reads(("A merman", 0.41), ("A member", 0.43)), CONFIG)
    audio = np.concatenate([tone(0.5), silence(1.0)])
    assert listen(gate, audio, silent_from_s=0.5) is Decision.WAIT
    assert gate.confidence == 0.43
    assert gate.speech_ended() is Decision.IGNORE


def test_unsure_words_interrupt_once_a_later_read_is_sure() -> None:
    gate = BargeInGate(_reads(("Float down", 0.32), ("Slow down", 0.68), ("Slow down please", 0.9)), CONFIG)
    assert listen(gate, tone(1.5)) is Decision.INTERRUPT
    assert gate.text == "Slow down please"
    assert gate.decided_after_ms == pytest.approx(CONFIG.confirm_ms + 2 * CONFIG.recheck_ms, abs=32)


def test_a_speaker_the_stt_is_never_sure_of_still_interrupts_by_going_on() -> None:
    gate = BargeInGate(_reads(("Tell me the", 0.5), ("Tell me the buff", 0.55)), CONFIG)
    assert listen(gate, tone(2.0)) is Decision.INTERRUPT
    assert gate.decided_after_ms == pytest.approx(CONFIG.unsure_until_ms, abs=32)


def test_a_cue_interrupts_however_unsure() -> None:
    gate = BargeInGate(_reads(("Wait", 0.2)), CONFIG)
    assert listen(gate, tone(1.0)) is Decision.INTERRUPT
    assert gate.decided_after_ms == pytest.approx(CONFIG.confirm_ms, abs=32)


def test_sure_words_and_an_stt_that_gives_no_confidence_interrupt_as_before() -> None:
    for confidence in (0.9, None):
        gate = BargeInGate(_reads(("Go back", confidence)), CONFIG)
        assert listen(gate, tone(1.5)) is Decision.INTERRUPT
        assert gate.decided_after_ms == pytest.approx(CONFIG.confirm_ms, abs=32)
    words_only = BargeInGate(_reads(("A merman", 0.41)), GateConfig(min_confidence=0.0))
    assert listen(words_only, tone(1.5)) is Decision.INTERRUPT  # the gate before the rule


def test_a_wordless_sound_that_goes_on_is_ignored() -> None:
    gate = BargeInGate(ScriptedTranscriber(""), CONFIG)
    assert listen(gate, tone(2.0)) is Decision.IGNORE
    assert gate.decided_after_ms == pytest.approx(CONFIG.max_wordless_ms, abs=32)


def test_a_failing_transcriber_interrupts() -> None:
    assert listen(BargeInGate(ScriptedTranscriber("", fail=True), CONFIG), tone(1.0)) is Decision.INTERRUPT


def test_speech_ended_and_cancel() -> None:
    gate = BargeInGate(ScriptedTranscriber("Okay"), CONFIG)
    gate.start(tone(0.46))
    assert gate.active and gate.speech_ended() is Decision.IGNORE and not gate.active
    gate.start(tone(0.46))
    gate.cancel()
    assert not gate.active
    assert asyncio.run(gate.feed(tone(0.5))) is Decision.WAIT  # nothing more is read once cancelled


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Uh-huh.", Words.NONE),
        ("Mm-hmm, yeah.", Words.NONE),
        ("I", Words.NONE),  # the start of "I see"
        ("All right", Words.NONE),
        ("", Words.NONE),
        ("Stop.", Words.CUE),
        ("No, I meant Berlin.", Words.CUE),
        ("Yeah, but what about Paris?", Words.CUE),
        ("Paris", Words.OTHER),
        ("I said Tuesday", Words.OTHER),
        ("Bright, bright.", Words.NONE),  # Whisper's "right, right"
        ("i-c", Words.NONE),  # "I see"
        ("Find me a flight", Words.OTHER),  # "find" is one letter from "fine", the rest is not
        ("How are you", Words.CUE),  # a cue is never taken for a backchannel ("wow")
        ("Yeah, totally.", Words.NONE),
        ("Five five", Words.OTHER),  # a number is never a near-miss of "fine"
        ("Fine, fine.", Words.NONE),
        ("Makes sense.", Words.NONE),
    ],
)
def test_classify(text: str, words: Words) -> None:
    assert classify(text) is words


def test_other_words_are_counted_past_backchannels() -> None:
    assert other_words("Yeah, go back") == 2
    assert other_words("Okay, okay") == 0


def test_endless_backchannels_keep_a_bounded_buffer() -> None:
    words = ScriptedTranscriber("yeah yeah")
    gate = BargeInGate(words, GateConfig(max_audio_s=2.0))
    assert listen(gate, tone(6.0)) is Decision.WAIT
    assert max(a.size for a in words.calls) <= 2.1 * 16_000
