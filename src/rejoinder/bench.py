"""Latency benchmark: recorded questions replayed through the live pipeline at 1x speed.

Each simulated client streams 20 ms frames on a real-time clock, as a microphone would, waits
for the whole reply to "play" (tracking playback so underruns are seen), then asks the next
question. The sequential baseline (whole transcript with Whisper's full 30 s window, then the
whole reply, then the whole speech) runs on the same utterances in the same process.
"""

from __future__ import annotations

import asyncio
import resource
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rejoinder.audio import SAMPLE_RATE, read_audio
from rejoinder.engine import Engine
from rejoinder.errors import BadInputError
from rejoinder.events import SessionEvent, TurnFinished
from rejoinder.listening import ListeningClock
from rejoinder.output import DirectOutput
from rejoinder.responder import params_for
from rejoinder.session import Session
from rejoinder.turns import SpeechEnded, TurnDetector

FRAME_S = 0.02
STAGES = (
    "voice_to_voice",
    "endpointing",
    "stt",
    "llm_first_token",
    "first_clause",
    "tts_first_audio",
    "first_audio",
)


def corpus() -> list[Path]:
    samples = Path(__file__).parent / "data" / "samples"
    return sorted(samples.glob("*.wav"))


def summarise(values: list[float]) -> dict[str, float | int]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(np.ceil(0.95 * len(ordered))) - 1)]
    return {
        "n": len(values),
        "median": round(statistics.median(values), 1),
        "p95": round(p95, 1),
        "min": round(ordered[0], 1),
        "max": round(ordered[-1], 1),
    }


@dataclass
class Client:
    """One simulated user: streams audio in real time and 'plays' what comes back."""

    session: Session | None = None
    started: float = 0.0
    """Wall time of stream position 0."""
    clock: ListeningClock = field(default_factory=ListeningClock)
    turns: list[dict[str, Any]] = field(default_factory=list)
    _position: int = 0
    """Samples streamed so far."""
    _current_turn: int | None = None
    _done: asyncio.Event = field(default_factory=asyncio.Event)

    def on_audio(self, turn: int, audio: np.ndarray, sample_rate: int) -> None:
        """'Plays' reply audio as it arrives, counting the gaps a listener would hear."""
        new_reply, self._current_turn = turn != self._current_turn, turn
        self.clock.play(audio.size / sample_rate, time.perf_counter(), new_reply)

    async def on_event(self, event: SessionEvent) -> None:
        if isinstance(event, TurnFinished):
            report = event.report.to_dict()
            decided = event.report.timeline.marks["speech_end"]
            # the user stopped speaking at stream position end_s; the VAD decided at `decided`
            report["endpointing_wall_ms"] = round((decided - (self.started + report["end_s"])) * 1000, 1)
            self.turns.append(report)
            self._done.set()

    async def ask(self, audio: np.ndarray, frame: int) -> None:
        assert self.session is not None
        self._done.clear()
        await self._stream(audio, frame)
        while not self._done.is_set():  # keep the microphone open (silence) until the reply is in
            await self._stream(np.zeros(frame, np.float32), frame)
        while time.perf_counter() < self.clock.ends_at + 0.3:  # and until it has been heard
            await self._stream(np.zeros(frame, np.float32), frame)

    async def _stream(self, audio: np.ndarray, frame: int) -> None:
        assert self.session is not None
        for i in range(0, audio.size, frame):
            position = self._position / SAMPLE_RATE
            delay = self.started + position - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            block = audio[i : i + frame]
            await self.session.push_audio(block)
            self._position += block.size


def _check_spoken(engine: Engine, path: Path, audio: np.ndarray) -> None:
    """Refuse a question the VAD hears no turn in: the replay waits for each question's reply
    (with the microphone open), and a silent file would keep it waiting for ever."""
    detector = TurnDetector(engine.vad.stream(), engine.config.vad)
    events = [*detector.feed(audio), *detector.finish()]
    if not any(isinstance(e, SpeechEnded) for e in events):
        raise BadInputError(f"{path}: no speech found; bench needs spoken questions")


async def _client(engine: Engine, questions: list[np.ndarray], delay_s: float) -> Client:
    await asyncio.sleep(delay_s)
    client = Client()
    client.session = Session(engine, client.on_event, output=DirectOutput(client.on_audio))
    client.started = time.perf_counter()
    frame = int(FRAME_S * SAMPLE_RATE)
    for audio in questions:
        await client.ask(audio, frame)
    await client.session.close()
    return client


def _stage_values(turn: dict[str, Any]) -> dict[str, float | None]:
    t, tl = turn["timings_ms"], turn["timeline_ms"]
    endpointing, first = turn.get("endpointing_wall_ms"), t["first_audio"]
    return {
        # the user stopped speaking -> the first reply audio: what a person hears as the delay
        "voice_to_voice": None if endpointing is None or first is None else round(endpointing + first, 1),
        "endpointing": turn.get("endpointing_wall_ms"),
        "stt": t["stt"],
        "llm_first_token": t["llm_first_token"],
        "first_clause": tl.get("first_clause"),
        "tts_first_audio": t["tts_first_audio"],
        "first_audio": t["first_audio"],
    }


async def _sequential(engine: Engine, questions: list[np.ndarray]) -> list[dict[str, float]]:
    """The naive pipeline on the same utterances: each stage whole before the next starts, each
    question answered by the tier the router picks for it (the same model as the live turn)."""
    from rejoinder import registry

    full_stt = registry.create(
        "stt", engine.config.stt.backend, engine.config.stt.model_copy(update={"encoder_window": "full"})
    )
    results = []
    for audio in questions:
        detector = TurnDetector(engine.vad.stream(), engine.config.vad)
        ends = [e for e in [*detector.feed(audio), *detector.finish()] if isinstance(e, SpeechEnded)]
        for end in ends:
            t0 = time.perf_counter()
            text = (await full_stt.transcribe(end.audio)).text
            t1 = time.perf_counter()
            llm, cfg = engine.llm, engine.config.llm
            if engine.router is not None and len(engine.tiers) > 1:  # the model the live turn gets
                tier = engine.tiers[engine.router.route(text, []).tier_index]
                llm, cfg = tier.llm, tier.config
            messages = [{"role": "system", "content": cfg.system_prompt}, {"role": "user", "content": text}]
            reply = "".join([p async for p in llm.stream(messages, params_for(cfg))])  # type: ignore[arg-type]
            t2 = time.perf_counter()
            first = None
            async for _chunk in engine.tts.stream(reply or "Sorry."):
                first = first or time.perf_counter()
            assert first is not None
            results.append(
                {
                    "stt": (t1 - t0) * 1000,
                    "llm_total": (t2 - t1) * 1000,
                    "tts_first_audio": (first - t2) * 1000,
                    "first_audio": (first - t0) * 1000,
                }
            )
    return results


def _first_audio_by(
    turns: list[dict[str, Any]], group: Callable[[dict[str, Any]], str], stage: str = "first_audio"
) -> dict[str, dict[str, float | int]]:
    """A stage's figures per group of turns (each LLM tier: routing's latency cost; tool turns
    apart from plain ones); by default first audio after the end-of-turn decision."""
    groups: dict[str, list[float]] = {}
    for t in turns:
        if (value := _stage_values(t)[stage]) is not None:
            groups.setdefault(group(t), []).append(value)
    return {name: summarise(values) for name, values in sorted(groups.items())}


def _tier(turn: dict[str, Any]) -> str:
    return str((turn.get("route") or {}).get("tier", "default"))


def _kind(turn: dict[str, Any]) -> str:
    """plain; tool (the model chose the call); tool, direct (the words decided it: tools/direct.py)."""
    if not turn.get("tool_calls"):
        return "plain"
    return "tool, direct" if (turn.get("route") or {}).get("strategy") == "direct" else "tool"


async def run_bench(
    engine: Engine, files: list[Path], runs: int = 1, clients: int = 1, baseline: bool = True
) -> dict[str, Any]:
    spoken = [read_audio(f, max_s=30) for f in files]
    for path, audio in zip(files, spoken, strict=True):
        _check_spoken(engine, path, audio)
    questions = spoken * runs
    t0 = time.perf_counter()
    done = await asyncio.gather(*(_client(engine, questions, i * 0.7) for i in range(clients)))
    wall = time.perf_counter() - t0
    turns = [t for c in done for t in c.turns]
    per_stage: dict[str, list[float]] = {s: [] for s in STAGES}
    for turn in turns:
        for stage, value in _stage_values(turn).items():
            if value is not None:
                per_stage[stage].append(value)
    audio_s = sum(q.size for q in questions) / SAMPLE_RATE * clients
    stt_rtf = [
        t["timings_ms"]["stt"] / 1000 / max(0.1, t["end_s"] - t["start_s"])
        for t in turns
        if t["timings_ms"]["stt"] is not None
    ]
    result: dict[str, Any] = {
        "config": {
            "clients": clients,
            "runs": runs,
            "files": len(files),
            "preset": engine.config.preset,
            "end_silence_ms": engine.config.vad.min_silence_ms,
            "speculate_after_ms": engine.config.vad.speculate_after_ms,
        },
        "turns": len(turns),
        "expected_turns": len(questions) * clients,
        "stages_ms": {s: summarise(v) for s, v in per_stage.items()},
        "first_audio_by_tier_ms": _first_audio_by(turns, _tier),
        "first_audio_by_kind_ms": _first_audio_by(turns, _kind),
        "voice_to_voice_by_kind_ms": _first_audio_by(turns, _kind, "voice_to_voice"),
        "speculative_share": round(sum(bool(t.get("speculative")) for t in turns) / max(1, len(turns)), 2),
        "speculative_audio_share": round(
            sum(bool(t.get("speculative_audio")) for t in turns) / max(1, len(turns)), 2
        ),
        "underruns": sum(c.clock.underruns for c in done),
        "underrun_ms": round(sum(c.clock.underrun_ms for c in done), 1),
        "stt_rtf": summarise(stt_rtf),
        "input_audio_s": round(audio_s, 1),
        "wall_s": round(wall, 1),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        "transcripts": [t["transcript"] for t in turns[: len(questions)]],
    }
    if baseline:
        seq = await _sequential(engine, questions)
        result["baseline_sequential_ms"] = {k: summarise([r[k] for r in seq]) for k in seq[0]} if seq else {}
        ours = result["stages_ms"]["first_audio"].get("median")
        theirs = result["baseline_sequential_ms"].get("first_audio", {}).get("median")
        if ours and theirs:
            result["speedup_first_audio_median"] = round(theirs / ours, 2)
    return result
