"""Barge-in evaluation: backchannels, noises and real interruptions over the agent's speech.

Each user clip (src/rejoinder/data/turns: 70 backchannels, 8 synthetic coughs and knocks, 70
real interruptions, in the splits tune, held-out and fresh; and 11 human recordings, the first
2.5 s of read sentences, split human) starts 1.5 s into one of the agent's spoken replies. The
microphone hears the user at full level over the agent's voice as residual echo (what is left after the
browser's echo cancellation, `echo_gain` of the agent's level) and a faint noise floor. The
VAD runs on it as in a session; the current behaviour interrupts at every confirmed onset
(`min_speech_ms`), the gate (interruptions.py) reads the words first; beside it, the same gate
reading words only (`min_confidence` 0: the STT's confidence ignored). Latency is from the
confirmed onset to the decision, in stream time and with the STT's wall time added.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from rejoinder.audio import SAMPLE_RATE
from rejoinder.bench import summarise
from rejoinder.config import STTConfig, VADConfig
from rejoinder.evals.turn_data import NOISE_FLOOR, Clip, load
from rejoinder.interruptions import BargeInGate, Decision, GateConfig
from rejoinder.stages.stt import STT, Transcript
from rejoinder.stages.vad import VAD
from rejoinder.turns import SpeechEnded, SpeechStarted, TurnDetector

USER_AT_S = 1.5
ECHO_GAIN = 0.005
"""Residual echo at -46 dB of the agent's level (good echo cancellation): at -40 dB and louder
Silero already hears the agent's own voice as speech, so every onset is the echo's."""
BLOCK = 512
GROUPS = ("backchannel", "noise", "interruption", "speech", "echo only")
"""'speech': people reading sentences (tests/data/human) over the agent: words, not
backchannels, in a human voice; like an interruption, each should stop the agent."""


@dataclass
class Trial:
    file: str
    group: str
    text: str
    split: str = "tune"
    onset: bool = False
    """The VAD confirmed speech after the user began (the current behaviour interrupts here)."""
    echo_onset: bool = False
    """The VAD confirmed speech before the user began (the agent's own echo)."""
    decision: str = "ignore"
    decided_after_ms: float | None = None
    check_ms: float = 0.0
    """Wall time of the STT reads up to the decision."""
    words: str = ""


def mix(agent: np.ndarray, user: np.ndarray | None, echo_gain: float, seed: int) -> np.ndarray:
    at = round(USER_AT_S * SAMPLE_RATE)
    length = max(agent.size, at + (user.size if user is not None else 0) + SAMPLE_RATE)
    out = np.zeros(length, np.float32)
    out[: agent.size] += agent * echo_gain
    if user is not None:
        out[at : at + user.size] += user
    return out + np.random.default_rng(seed).normal(0, NOISE_FLOOR, length).astype(np.float32)


async def run_trial(
    vad: VAD, stt: STT, clip: Clip | None, agent: Clip, echo_gain: float, seed: int, gate_config: GateConfig
) -> Trial:
    async def transcribe(audio: np.ndarray) -> Transcript:
        return await stt.transcribe(audio)

    user = clip.audio() if clip is not None else None
    audio = mix(agent.audio(), user, echo_gain, seed)
    group = clip.set if clip is not None else "echo only"
    trial = Trial(
        clip.file if clip else agent.file,
        group,
        clip.text if clip else "(agent echo only)",
        clip.split if clip else "held-out",
    )
    detector = TurnDetector(vad.stream(), VADConfig(end_of_turn="silence"))
    gate = BargeInGate(transcribe, gate_config)
    user_at = USER_AT_S * SAMPLE_RATE if clip is not None else float("inf")
    for start in range(0, audio.size, BLOCK):
        block = audio[start : start + BLOCK]
        started = False
        for event in detector.feed(block):
            if isinstance(event, SpeechStarted):
                if event.at_s * SAMPLE_RATE + 0.2 * SAMPLE_RATE < user_at:
                    trial.echo_onset = True
                trial.onset = trial.onset or start >= user_at
                gate.start(detector.utterance())  # the speech so far, this block included
                started = True
            elif isinstance(event, SpeechEnded) and gate.active:
                trial.decision = gate.speech_ended().value
        if gate.active and not started:
            decision = await gate.feed(block, detector.silence_ms)
            if decision is Decision.INTERRUPT:
                trial.decision, trial.words = decision.value, gate.text
                trial.decided_after_ms = gate.decided_after_ms
                trial.check_ms = round(sum(gate.check_ms), 1)
                break  # the agent stops; nothing more to decide
    if gate.active:
        trial.decision = gate.speech_ended().value
    trial.words = trial.words or gate.text
    return trial


def summary(trials: Sequence[Trial]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for group in GROUPS:
        chosen = [t for t in trials if t.group == group]
        if not chosen:
            continue
        interrupted_now = sum(t.onset or t.echo_onset for t in chosen)
        gated = sum(t.decision == "interrupt" for t in chosen)
        latency = [t.decided_after_ms for t in chosen if t.decided_after_ms is not None]
        with_stt = [t.decided_after_ms + t.check_ms for t in chosen if t.decided_after_ms is not None]
        out[group] = {
            "clips": len(chosen),
            "current_interrupts": interrupted_now,
            "gate_interrupts": gated,
            "gate_latency_ms": summarise([float(x) for x in latency]),
            "gate_latency_with_stt_ms": summarise([float(x) for x in with_stt]),
        }
    return out


def run(
    vad: VAD | None = None,
    stt: STT | None = None,
    echo_gain: float = ECHO_GAIN,
    gate_config: GateConfig | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    from rejoinder import registry

    vad = vad or registry.create("vad", "silero", VADConfig())
    stt = stt or registry.create("stt", STTConfig().backend, STTConfig())
    clips = load()
    agents = [c for c in clips if c.set == "agent"]
    users: list[Clip | None] = [c for c in clips if c.set in ("backchannel", "noise", "interruption")]
    users += [None] * len(agents)
    users += [c for c in clips if c.set == "speech"]  # last: earlier trials keep their agent and seed

    config = gate_config or GateConfig()
    words_only = dataclasses.replace(config, min_confidence=0.0)

    async def all_trials(config: GateConfig, label: str) -> list[Trial]:
        trials = []
        for i, clip in enumerate(users):
            trials.append(await run_trial(vad, stt, clip, agents[i % len(agents)], echo_gain, i, config))
            if progress:
                progress(
                    f"interruptions ({label}) {i + 1}/{len(users)} {trials[-1].file}: {trials[-1].decision}"
                )
        return trials

    trials = asyncio.run(all_trials(config, "gate"))
    # the same gate reading words only, beside it in the same run: what the STT's confidence changes
    baseline = asyncio.run(all_trials(words_only, "words only"))
    splits = sorted({t.split for t in trials})

    def rows(split: str | None) -> dict[str, Any]:
        chosen = [t for t in trials if split in (None, t.split)]
        out = summary(chosen)
        for group, row in out.items():
            row["words_only_interrupts"] = sum(
                t.decision == "interrupt" for t in baseline if t.group == group and split in (None, t.split)
            )
        return out

    return {
        "echo_gain": echo_gain,
        "min_confidence": config.min_confidence,
        "summary": rows(None),
        "summary_by_split": {k: rows(k) for k in splits},
        "trials": [asdict(t) for t in trials],
        "words_only_trials": [asdict(t) for t in baseline],
    }


def format_report(report: dict[str, Any]) -> str:
    lines = [
        f"Barge-in while the agent speaks (its residual echo at {report['echo_gain']:g} of its level): "
        "interruptions of the agent",
    ]
    sections = [("all clips", report["summary"])]
    sections += [(f"split {k}", rows) for k, rows in report.get("summary_by_split", {}).items()]
    for title, rows in sections:
        lines += ["", f"== {title} ==", *_format_rows(rows)]
    lines.append(
        "(backchannels, noises, echo: every interrupt is a false interruption; interruptions, speech: "
        "every clip not interrupted is missed)"
    )
    return "\n".join(lines)


def _format_rows(summary_rows: dict[str, Any]) -> list[str]:
    lines = [
        f"{'user sound':<14} {'clips':>5} {'current (onset)':>16} {'words only':>11} {'gate':>6}"
        f" {'gate p50 ms':>12} {'p95':>6} {'+STT p50':>9} {'p95':>6}",
    ]
    for group, s in summary_rows.items():
        lat, wall = s["gate_latency_ms"], s["gate_latency_with_stt_ms"]
        lines.append(
            f"{group:<14} {s['clips']:>5} {s['current_interrupts']:>16}"
            f" {s.get('words_only_interrupts', '-'):>11} {s['gate_interrupts']:>6}"
            f" {lat.get('median', '-'):>12} {lat.get('p95', '-'):>6} {wall.get('median', '-'):>9}"
            f" {wall.get('p95', '-'):>6}"
        )
    return lines
