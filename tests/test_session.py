"""The streamed turn on the real models: transcript, answer, audio, history, barge-in."""

from __future__ import annotations

import asyncio

import numpy as np

from conftest import run
from helpers import SAMPLES
from rejoinder.audio import read_audio
from rejoinder.engine import Engine
from rejoinder.events import ClauseStarted, ReplyDone, SessionEvent, TurnFailed
from rejoinder.output import DirectOutput
from rejoinder.session import Session
from rejoinder.transports.file import reply_to_file
from scripted import RecordingLLM, RecordingTTS, ScriptedLLM


def unrouted(engine: Engine) -> Engine:
    """The engine with its small tier alone: these tests are about one model's stream."""
    single = engine.with_stages()
    single.router, single.tiers = None, single.tiers[:1]
    return single


class Collector:
    """Records the session's events and the audio it writes (a DirectOutput that listens)."""

    def __init__(self) -> None:
        self.events: list[SessionEvent] = []
        self.audio: list[tuple[int, float]] = []
        self.output = DirectOutput(lambda turn, audio, rate: self.audio.append((turn, audio.size / rate)))

    async def __call__(self, event: SessionEvent) -> None:
        self.events.append(event)

    def of(self, kind: type) -> list:  # type: ignore[type-arg]
        return [e for e in self.events if isinstance(e, kind)]

    def audio_s(self) -> float:
        return sum(seconds for _, seconds in self.audio)

    def session(self, engine: Engine, config=None) -> Session:  # type: ignore[no-untyped-def]
        return Session(engine, self, config, output=self.output)


async def speak_file(session: Session, name: str) -> None:
    audio = read_audio(SAMPLES / f"{name}.wav")
    for i in range(0, audio.size, 512):
        await session.push_audio(audio[i : i + 512])
    await session.end_audio()
    await session.wait_idle()


def test_spoken_question_gets_a_correct_spoken_answer(engine: Engine) -> None:
    sink = Collector()
    session = sink.session(engine)
    run(speak_file(session, "capital_of_italy"))
    [report] = session.reports
    assert "capital of italy" in report.transcript.lower()
    assert "rome" in report.reply.lower()
    assert report.status == "completed"
    assert sink.audio_s() > 0.8
    marks = report.timeline.offsets_ms()
    # STT may finish in the end-of-turn silence (before speech_end); the rest follows in order
    order = ["transcript", "first_token", "first_clause", "first_audio", "reply_done"]
    assert [marks[m] for m in order] == sorted(marks[m] for m in order)
    assert marks["speech_end"] == 0 < marks["first_audio"]
    kinds = [type(e).__name__ for e in sink.events]
    assert kinds[:5] == [
        "StateChanged",
        "UserSpeechStarted",
        "UserSpeechStopped",
        "StateChanged",
        "Transcribed",
    ]
    assert kinds[-3:] == ["ReplyDone", "TurnFinished", "StateChanged"]
    assert session.state == "listening"


def test_first_audio_is_ready_while_the_llm_is_still_writing(engine: Engine) -> None:
    """Streaming: the first clause is spoken before the reply is complete (scripted, slow LLM)."""
    llm = ScriptedLLM("The sky looks blue, because air scatters blue light the most. " * 3, delay_s=0.04)
    session = Session(unrouted(engine).with_stages(llm=llm), Collector())
    report = run(session.respond("Why is the sky blue?"))
    marks = report.timeline.marks
    assert marks["first_audio"] < marks["llm_done"]


def test_real_llm_long_answer_streams(engine: Engine) -> None:
    session = Session(unrouted(engine), Collector())
    report = run(session.respond("Why is the sky blue?"))
    assert report.status == "completed"
    marks = report.timeline.marks
    assert marks["first_clause"] < marks["llm_done"]  # a clause left the chunker before the LLM ended


def test_history_is_kept_across_turns(engine: Engine) -> None:
    llm = RecordingLLM(engine.llm)
    session = Session(unrouted(engine).with_stages(llm=llm), Collector())
    first = run(session.respond("What is the capital of France?"))
    run(session.respond("And what is its most famous tower?"))
    second_prompt = llm.calls[1]
    assert [m["role"] for m in second_prompt] == ["system", "user", "assistant", "user"]
    assert second_prompt[1]["content"] == "What is the capital of France?"
    assert second_prompt[2]["content"] == first.reply
    assert len(session.history) == 4


def test_barge_in_keeps_only_what_was_spoken(engine: Engine) -> None:
    llm = ScriptedLLM("First clause is here, second clause is there, third clause is everywhere. " * 4, 0.05)
    sink = Collector()
    session = sink.session(unrouted(engine).with_stages(llm=llm))

    async def scenario() -> None:
        task = asyncio.create_task(session.respond("Talk to me"))
        while not sink.audio:
            await asyncio.sleep(0.01)
        await session.interrupt()
        await task

    run(scenario())
    [report] = session.reports
    assert report.status == "cancelled"
    assert llm.finished == 0  # generation was stopped, not run to the end
    started = [e.text for e in sink.of(ClauseStarted)]
    # Only whole clauses whose audio went out count as spoken: a prefix of what was started.
    assert report.reply in {" ".join(started[:k]) for k in range(len(started) + 1)}
    assert len(report.reply) < len(llm.reply.strip())
    if report.reply:
        assert session.history[-2:] == [
            {"role": "user", "content": "Talk to me"},
            {"role": "assistant", "content": report.reply},
        ]
    else:
        assert session.history == [{"role": "user", "content": "Talk to me"}]
    assert sink.of(ReplyDone)[-1].status == "cancelled"


def test_a_failing_llm_fails_the_turn_not_the_session(engine: Engine) -> None:
    sink = Collector()
    session = sink.session(unrouted(engine).with_stages(llm=ScriptedLLM("", fail=True)))
    report = run(session.respond("Hello"))
    assert report.status == "failed" and "model crashed" in (report.error or "")
    assert sink.of(TurnFailed)
    session.responder.engine = engine
    assert run(session.respond("What is the capital of Italy?")).status == "completed"


def test_multi_turn_file_answers_each_turn_in_order(engine: Engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from rejoinder.audio import WavWriter

    src = tmp_path / "conversation.wav"
    with WavWriter(src, 16_000) as w:
        for name in ("capital_of_italy", "spider_legs", "capital_of_france"):
            w.write(read_audio(SAMPLES / f"{name}.wav"))
    out = tmp_path / "replies.wav"
    reports, seconds = run(reply_to_file(engine, src, out))
    assert [r.index for r in reports] == [0, 1, 2]
    assert "italy" in reports[0].transcript.lower() and "rome" in reports[0].reply.lower()
    assert "spider" in reports[1].transcript.lower()
    assert "paris" in reports[2].reply.lower()
    assert reports[0].end_s < reports[1].start_s < reports[2].start_s
    written = read_audio(out)
    assert abs(written.size / 16_000 - seconds) < 0.1 and seconds > 2.0
    assert float(np.abs(written).max()) > 0.1


async def speak_in_real_time(session: Session, audio: np.ndarray, frame: int = 512) -> None:
    """Speech goes in fast; silence at 1x speed, so work can overlap the end-of-turn wait."""
    for i in range(0, audio.size, frame):
        block = audio[i : i + frame]
        await session.push_audio(block)
        if session.detector.speaking and float(np.abs(block).max()) < 0.01:
            await asyncio.sleep(frame / 16_000)
    await session.end_audio()
    await session.wait_idle()


def test_speculative_work_in_the_end_silence_is_adopted(engine: Engine) -> None:
    llm, tts, events = RecordingLLM(engine.llm), RecordingTTS(engine.tts), Collector()
    session = events.session(unrouted(engine).with_stages(llm=llm, tts=tts))
    run(speak_in_real_time(session, read_audio(SAMPLES / "capital_of_italy.wav")))
    [report] = session.reports
    assert report.speculative is True
    offsets = report.timeline.offsets_ms()
    # STT began in the end-of-turn silence (at 160 ms of it), before the decision (at 192 ms plus
    # the end-of-turn check), not after it
    assert offsets["stt_start"] < -20, offsets
    assert len(llm.calls) == 1 and "rome" in report.reply.lower()  # the speculative answer was used
    # The first clause was synthesised in the silence, once, and that audio is what was sent.
    spoken = [e.text for e in events.of(ClauseStarted)]
    assert report.speculative_audio is True and tts.calls == spoken, (tts.calls, spoken)
    assert events.audio_s() > 0.5


def test_speculation_is_discarded_when_the_user_goes_on(engine: Engine) -> None:
    llm = RecordingLLM(engine.llm)
    config = engine.config.model_copy(deep=True)
    config.vad.end_of_turn = "silence"  # "Hello." is a complete turn to the end-of-turn model
    session = Session(unrouted(engine).with_stages(llm=llm), Collector(), config)
    first = read_audio(SAMPLES / "hello.wav")[4000:-16000]
    second = read_audio(SAMPLES / "capital_of_france.wav")[4000:]
    gap = np.zeros(int(0.2 * 16_000), np.float32)  # with the clip tails: over 160 ms, under 500 ms
    run(speak_in_real_time(session, np.concatenate([first, gap, second])))
    [report] = session.reports
    assert "france" in report.transcript.lower() and "hello" in report.transcript.lower()
    assert llm.calls[-1][-1]["content"] == report.transcript  # the answer used the whole utterance
    assert all(call[-1]["content"] != report.transcript for call in llm.calls[:-1])


def test_a_reply_cut_by_the_token_limit_does_not_end_mid_phrase(engine: Engine) -> None:
    llm = ScriptedLLM("The sky is blue. It scatters light, mostly the short blue waves of sunlight.", 0.0)
    config = engine.config.model_copy(deep=True)
    config.llm.max_tokens = 8  # "The sky is blue. It scatters light, mostly"
    session = Session(unrouted(engine).with_stages(llm=llm), Collector(), config)
    report = run(session.respond("Why is the sky blue?"))
    assert report.reply == "The sky is blue."
    assert report.unspoken_tail == "It scatters light, mostly"
    assert session.history[-1] == {"role": "assistant", "content": "The sky is blue."}
    # A reply that ends within the limit is spoken whole, and so is a lone fragment.
    config.llm.max_tokens = 64
    assert run(session.respond("Why?")).reply.endswith("waves of sunlight.")
    config.llm.max_tokens = 3
    assert run(session.respond("Why?")).reply == "The sky is"


def test_a_turns_usage_is_the_models_own_token_count(engine: Engine) -> None:
    """llama.cpp's own usage report reaches the turn (and the Realtime response.done)."""
    session = Session(unrouted(engine), Collector())
    first = run(session.respond("What is the capital of France?"))
    second = run(session.respond("And of Italy?"))
    assert first.usage is not None and second.usage is not None
    assert first.usage.calls == 1 and second.usage.calls == 1
    limit = engine.config.llm.max_tokens
    assert len(first.reply.split()) <= first.usage.output_tokens <= limit  # words are whole tokens or more
    assert second.usage.input_tokens > first.usage.input_tokens  # its prompt holds the first exchange
    assert 0 < second.usage.cached_tokens < second.usage.input_tokens  # that prefix came from the cache
