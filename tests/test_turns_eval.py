"""The turn-taking evaluation on a few bundled clips, with the real VAD, Smart Turn and Whisper."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from rejoinder import registry
from rejoinder.config import STTConfig, VADConfig
from rejoinder.evals import interruptions, turns
from rejoinder.evals.turn_data import load


@pytest.fixture(scope="module")
def stages() -> dict[str, Any]:
    return {
        "vad": registry.create("vad", "silero", VADConfig()),
        "stt": registry.create("stt", "faster-whisper", STTConfig()),
        "turn": registry.create("turn", "smart-turn", VADConfig()),
    }


def test_the_set_is_complete_and_labelled() -> None:
    clips = load()
    kinds = [c.kind for c in clips if c.set == "turns"]
    assert kinds.count("complete") >= 40 and kinds.count("pause") >= 40
    for clip in clips:
        assert 0 < clip.speech_start_s < clip.speech_end_s
        for start, end in clip.pauses:
            assert clip.speech_start_s < start < end < clip.speech_end_s
            if clip.source == "piper":
                assert 0.5 <= end - start <= 1.5
    assert {c.set for c in clips} >= {"turns", "agent", "backchannel", "interruption", "noise", "speech"}
    assert all(c.source.startswith("human") for c in clips if c.set == "speech")


def test_no_sentence_is_in_both_splits() -> None:
    clips = load()
    for group in ("turns", "backchannel", "interruption"):
        tune = {c.text for c in clips if c.set == group and c.split == "tune"}
        held = {c.text for c in clips if c.set == group and c.split == "held-out"}
        assert tune and held and not tune & held
        if group != "turns":  # the barge-in set's second, later split shares no sentence either
            fresh = {c.text for c in clips if c.set == group and c.split == "fresh"}
            assert len(fresh) >= 30 and not fresh & (tune | held)
    for kind in ("complete", "pause"):
        assert sum(c.kind == kind and c.split == "held-out" for c in clips) >= 30
    assert {c.method for c in clips if c.kind == "pause"} >= {"comma", "cut"}


def test_smart_waits_through_an_unfinished_phrase_the_fixed_silence_cuts(stages: dict[str, Any]) -> None:
    async def transcribe(audio: Any) -> str:
        return str((await stages["stt"].transcribe(audio)).text)

    flights = [c for c in load() if c.text.startswith("My flight leaves from |")]
    flight = max(flights, key=lambda c: c.pauses[0][1] - c.pauses[0][0])
    question = next(c for c in load() if c.text == "What is the capital of Italy?")
    assert flight.pauses[0][1] - flight.pauses[0][0] > 0.8  # longer than the fixed detector waits
    baseline, smart = turns.detectors(stages["turn"], transcribe, ["auto"], sound_only=False)

    async def score(detector: turns.Detector, clip: Any) -> turns.ClipResult:
        return (await turns.run_clip(stages["vad"], detector, clip))[0]

    cut = asyncio.run(score(baseline, flight))
    waited = asyncio.run(score(smart, flight))
    assert cut.cut_off and cut.cut_in_pause
    assert not waited.cut_off and waited.delay_ms is not None
    fixed, fast = asyncio.run(score(baseline, question)), asyncio.run(score(smart, question))
    assert fixed.delay_ms is not None and fast.delay_ms is not None
    assert fast.reason == "model" and fast.delay_ms < fixed.delay_ms


def test_the_report_has_both_detectors_in_one_run(stages: dict[str, Any]) -> None:
    report = turns.run(stages["vad"], stages["turn"], stt=stages["stt"], limit=3)
    names = [s["detector"] for s in report["endpointing"]]
    assert names == ["silence 500 ms", "smart (auto)", "no text model (auto)", "model only (auto)"]
    assert report["clips"]["complete"] == 3
    json.dumps(report)
    assert "false cut-offs" in turns.format_report(report)


def test_the_late_check_row_reads_smart_turn_at_the_check() -> None:
    """`--late-check` adds the same detector with the early reading off, beside it in one run."""
    names = [(d.name, d.config.early_check) for d in turns.detectors(None, None, ["high"])]
    assert names == [("silence 500 ms", True)]  # no model: the baseline alone
    model = object()  # never called: only the rows are built here

    async def transcribe(audio: Any) -> str:
        return ""

    rows = turns.detectors(model, transcribe, ["high"], sound_only=False, late_check=True)  # type: ignore[arg-type]
    assert [(d.name, d.config.early_check) for d in rows[1:]] == [
        ("smart (high)", True),
        ("read at the check (high)", False),
    ]


def test_a_cue_interrupts_and_a_backchannel_does_not(stages: dict[str, Any]) -> None:
    clips = load()
    agent = next(c for c in clips if c.set == "agent")
    stop = next(c for c in clips if c.set == "interruption" and c.text == "Stop.")
    okay = next(c for c in clips if c.set == "backchannel" and c.text == "Okay.")
    config = interruptions.GateConfig()

    async def trial(clip: Any) -> interruptions.Trial:
        return await interruptions.run_trial(
            stages["vad"], stages["stt"], clip, agent, interruptions.ECHO_GAIN, 0, config
        )

    stopped, acknowledged = asyncio.run(trial(stop)), asyncio.run(trial(okay))
    assert stopped.onset and stopped.decision == "interrupt"
    assert stopped.decided_after_ms is not None and stopped.decided_after_ms <= 200
    assert acknowledged.onset and acknowledged.decision == "ignore"
    summary = interruptions.summary([stopped, acknowledged])
    assert summary["interruption"]["gate_interrupts"] == 1 and summary["backchannel"]["gate_interrupts"] == 0
