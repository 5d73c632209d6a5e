"""One conversation: turn state, the streamed turn (STT -> LLM -> clauses -> TTS), barge-in and
the chat history of what was actually spoken.

Transports push audio in and receive Events; they never decide anything about turns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Coroutine
from enum import Enum
from typing import Any

import numpy as np

from rejoinder.chunking import ClauseChunker, ends_sentence
from rejoinder.config import Config, LLMConfig
from rejoinder.engine import Engine
from rejoinder.events import Event, EventSink, EventType
from rejoinder.playback import PlaybackLog
from rejoinder.routers.router import is_refusal
from rejoinder.speculation import Speculation, TurnPlan
from rejoinder.stages.llm import LLM, GenerationParams, Message
from rejoinder.stages.router import RouteDecision
from rejoinder.timeline import Timeline, TurnReport
from rejoinder.turns import SpeechPaused, SpeechResumed, SpeechStarted, TurnDetector, TurnEvent

log = logging.getLogger(__name__)


class TurnState(str, Enum):
    LISTENING = "listening"
    USER_SPEAKING = "user_speaking"
    THINKING = "thinking"
    SPEAKING = "speaking"


class Session:
    def __init__(
        self,
        engine: Engine,
        sink: EventSink,
        config: Config | None = None,
        playback: PlaybackLog | None = None,
    ) -> None:
        """`playback`: kept by a transport that paces audio to a listener; a turn then lasts until
        its audio has played, and on barge-in only the words heard enter the history."""
        self.engine = engine
        self.playback = playback
        self.config = config or engine.config
        self._sink = sink
        self.state = TurnState.LISTENING
        self.history: list[Message] = []
        self.reports: list[TurnReport] = []
        self._detector: TurnDetector | None = None
        self._turn_task: asyncio.Task[None] | None = None
        self._speculation: Speculation | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._turns = 0

    # --- audio in -------------------------------------------------------------------------
    @property
    def detector(self) -> TurnDetector:
        if self._detector is None:
            self._detector = TurnDetector(self.engine.vad.stream(), self.config.vad)
        return self._detector

    @property
    def next_turn(self) -> int:
        """Index the next turn will get (the one a user is speaking now)."""
        return self._turns

    def reset_detector(self) -> None:
        """Start turn detection afresh (new VAD settings, or the client cleared its buffer)."""
        self._detector = None

    async def push_audio(self, samples: np.ndarray) -> None:
        """16 kHz mono float32 audio from the user, any block size."""
        for event in self.detector.feed(samples):
            await self._on_turn_event(event)

    async def end_audio(self) -> None:
        """The input stream ended: an utterance still open becomes a turn."""
        for event in self.detector.finish():
            await self._on_turn_event(event)

    async def _on_turn_event(self, event: TurnEvent) -> None:
        if isinstance(event, SpeechPaused):
            await self._drop_speculation()
            self._speculation = Speculation(self.engine, event.audio, self._plan, self.config.chunker)
            return
        if isinstance(event, SpeechResumed):
            await self._drop_speculation()
            return
        if isinstance(event, SpeechStarted):
            await self._drop_speculation()
            if self.config.vad.interrupt_response and self.busy:
                await self.interrupt()
            await self._set_state(TurnState.USER_SPEAKING)
            await self._emit("speech_started", at_s=event.at_s)
            return
        timeline = Timeline()
        timeline.mark("speech_end")
        await self._emit("speech_stopped", at_s=event.end_s)
        report = TurnReport(
            index=self._turns,
            start_s=event.start_s,
            end_s=event.end_s,
            endpointing_ms=0.0 if event.forced else float(self.config.vad.min_silence_ms),
            timeline=timeline,
        )
        self._turns += 1
        speculation, self._speculation = self._speculation, None
        report.extra["speculative"] = speculation is not None
        await self._set_state(TurnState.THINKING)
        self._start_turn(self._run_turn(report, event.audio, speculation=speculation))

    # --- the turn -------------------------------------------------------------------------
    async def respond(self, text: str) -> TurnReport:
        """Answer a typed message as if it had been heard (no STT)."""
        timeline = Timeline()
        timeline.mark("speech_end")
        report = TurnReport(index=self._turns, start_s=0.0, end_s=0.0, timeline=timeline)
        self._turns += 1
        await self.interrupt()
        await self._set_state(TurnState.THINKING)
        self._start_turn(self._run_turn(report, None, text))
        await self.wait_idle()
        return report

    async def transcribe(self, audio: np.ndarray) -> str:
        """Transcribe a committed buffer (manual turn-taking) without answering it yet."""
        text = (await self.engine.stt.transcribe(audio)).text
        await self._emit("transcript", self._turns, text=text)
        return text

    def _start_turn(self, turn: Coroutine[Any, Any, None]) -> None:
        """Run a turn; if the previous one may not be interrupted, after it."""
        previous = self._turn_task

        async def after_previous() -> None:
            try:
                if previous is not None and not previous.done():
                    with contextlib.suppress(asyncio.CancelledError):
                        await asyncio.shield(previous)
            except BaseException:
                turn.close()  # cancelled while waiting: this turn never starts
                raise
            await turn

        self._turn_task = asyncio.create_task(after_previous())

    async def _run_turn(
        self,
        report: TurnReport,
        audio: np.ndarray | None,
        text: str | None = None,
        speculation: Speculation | None = None,
    ) -> None:
        tl = report.timeline
        spoken: list[str] = []
        """Clauses whose audio was fully emitted (all of them unless the turn is cut short)."""
        try:
            if speculation is not None:
                tl.mark("stt_start", speculation.stt_start)
                text = await speculation.transcript()
                tl.mark("transcript", speculation.transcript_at)
            elif text is None:
                assert audio is not None
                tl.mark("stt_start")
                text = (await self.engine.stt.transcribe(audio)).text
            tl.mark("transcript")
            report.transcript = text
            await self._emit("transcript", report.index, text=text)
            if not text.strip():
                report.status = "empty"
                return
            await self._speak_reply(report, text, spoken, speculation)
            report.status = "completed"
        except asyncio.CancelledError:
            report.status = "cancelled"
            if speculation is not None:
                await speculation.cancel()
            raise
        except Exception as exc:  # one failed turn must not kill the session
            report.status, report.error = "failed", f"{type(exc).__name__}: {exc}"
            log.exception("turn failed", extra={"turn": report.index})
            await self._emit("error", report.index, message=report.error)
        finally:
            tl.mark("reply_done")
            if self.playback is not None and report.status == "cancelled":
                spoken[:] = self.playback.heard(report.index)
            report.reply = " ".join(spoken)
            if report.transcript.strip() and report.status in ("completed", "cancelled") and spoken:
                self._remember(
                    {"role": "user", "content": report.transcript},
                    {"role": "assistant", "content": report.reply},
                )
            elif report.transcript.strip() and report.status == "cancelled":
                self._remember({"role": "user", "content": report.transcript})
            self.reports.append(report)
            log.info("turn", extra={"turn": report.to_dict()})
            self._prefill_history()
            with contextlib.suppress(Exception):
                await self._emit("reply_done", report.index, status=report.status, text=report.reply)
                await self._emit("turn_report", report.index, **report.to_dict())
                if self._turn_task is asyncio.current_task():
                    await self._set_state(TurnState.LISTENING)

    def truncate_reply(self, turn: int, heard: str) -> str | None:
        """The listener heard only `heard` of `turn`'s reply (the client says so): shorten the
        reply in the history to it. Never lengthens what is kept. Returns the reply now kept, or
        None while the turn is unknown (not finished yet)."""
        report = next((r for r in self.reports if r.index == turn), None)
        if report is None:
            return None
        if len(heard.split()) >= len(report.reply.split()):
            return report.reply
        for i in range(len(self.history) - 1, 0, -1):
            message, before = self.history[i], self.history[i - 1]
            if (message["role"], message["content"], before["content"]) == (
                "assistant",
                report.reply,
                report.transcript,
            ):
                if heard:
                    self.history[i] = {"role": "assistant", "content": heard}
                else:
                    del self.history[i]
                break
        report.reply = heard
        self._prefill_history()
        return heard

    def _plan(self, text: str) -> TurnPlan:
        """Route the transcript (when routing is on) and build the prompt for the chosen tier."""
        llm, cfg, route = self.engine.llm, self.config.llm, None
        router = self.engine.router
        if router is not None:
            route = router.route(text, self.history)
            llm, cfg = (
                self.engine.tier_llms[route.tier_index],
                self.config.tier_configs()[route.tier_index].llm,
            )
        return self._plan_with(text, llm, cfg, route)

    def _plan_with(self, text: str, llm: LLM, cfg: LLMConfig, route: RouteDecision | None) -> TurnPlan:
        params = GenerationParams(
            temperature=cfg.temperature, top_p=cfg.top_p, max_tokens=cfg.max_tokens, seed=cfg.seed
        )
        messages: list[Message] = [{"role": "system", "content": cfg.system_prompt}, *self.history]
        if text:
            messages.append({"role": "user", "content": text})
        return TurnPlan(llm, messages, params, route)

    def _remember(self, *messages: Message) -> None:
        """Append to the history; past the limit, drop the older half at once.

        Dropping one exchange per turn would shift the prompt every turn and throw away the LLM's
        cached prefix; halving keeps the prefix stable between (rare) cuts.
        """
        self.history += messages
        keep = self.config.llm.history_turns * 2
        if len(self.history) > keep:
            self.history = self.history[-max(2, keep // 2) :] if keep else []

    def _prefill_history(self) -> None:
        """Let each LLM cache the new history while the user listens, so the next turn starts fast."""
        if not self.history:
            return
        if self.engine.router is not None:
            tiers = zip(self.engine.tier_llms, self.config.tier_configs(), strict=True)
            plans = [self._plan_with("", llm, tier.llm, None) for llm, tier in tiers]
        else:
            plans = [self._plan_with("", self.engine.llm, self.config.llm, None)]
        for plan in plans:
            prefill = getattr(plan.llm, "prefill_async", None)
            if prefill is not None:
                task = asyncio.create_task(prefill(plan.messages))
                self._background.add(task)
                task.add_done_callback(self._background.discard)

    async def _speak_reply(
        self, report: TurnReport, text: str, spoken: list[str], speculation: Speculation | None = None
    ) -> None:
        """LLM and TTS run concurrently: each clause is synthesised while the LLM keeps writing."""
        tl = report.timeline
        clauses: asyncio.Queue[str | None] = asyncio.Queue()
        if speculation is not None and speculation.plan is not None:
            plan = speculation.plan
            tokens: AsyncIterator[str] = speculation.tokens()
            tl.mark("llm_start", speculation.llm_start)
            if speculation.first_token_at is not None:
                tl.mark("first_token", speculation.first_token_at)
            if speculation.first_clause_at is not None:
                tl.mark("first_clause", speculation.first_clause_at)
        else:
            plan = self._plan(text)
            tl.mark("llm_start")
            tokens = plan.llm.stream(plan.messages, plan.params)
        if plan.route is not None:
            report.extra["route"] = plan.route.to_dict()
        router = self.engine.router
        check_refusal = (
            router is not None
            and self.config.router.escalate
            and plan.route is not None
            and plan.route.tier_index < len(router.tiers) - 1
        )

        def release(new: list[str]) -> bool:
            """Queue clauses for the TTS; False if the first one is a refusal to escalate."""
            nonlocal check_refusal
            for clause in new:
                if check_refusal:
                    check_refusal = False
                    if is_refusal(clause):
                        return False
                tl.mark("first_clause")
                clauses.put_nowait(clause)
            return True

        async def think() -> None:
            nonlocal tokens
            done_at = speculation.llm_done_at if speculation else None
            max_tokens = plan.params.max_tokens
            try:
                while True:
                    chunker = ClauseChunker(self.config.chunker)
                    accepted, pieces = True, 0
                    async for piece in tokens:
                        tl.mark("first_token")
                        pieces += 1
                        if not (accepted := release(chunker.push(piece))):
                            break
                    else:
                        tl.mark("llm_done", done_at)
                        rest = chunker.flush()
                        cut_off = pieces >= max_tokens and rest and not ends_sentence(rest[-1])
                        if cut_off and len(rest) < chunker.emitted:
                            # Stopped by the token limit mid-sentence, after something was said:
                            # the unfinished phrase is not spoken (the report keeps it).
                            report.extra["unspoken_tail"] = rest.pop()
                        accepted = release(rest)
                    if accepted:
                        return
                    # The lower tier says it cannot answer and nothing was spoken: ask the top tier.
                    assert router is not None and plan.route is not None
                    await tokens.aclose()  # type: ignore[attr-defined]
                    route = router.escalate(plan.route)
                    top = self.config.tier_configs()[route.tier_index].llm
                    upgraded = self._plan_with(text, self.engine.tier_llms[route.tier_index], top, route)
                    report.extra["route"] = route.to_dict()
                    tokens, done_at = upgraded.llm.stream(upgraded.messages, upgraded.params), None
                    max_tokens = upgraded.params.max_tokens
            finally:
                clauses.put_nowait(None)

        async def speak() -> None:
            tts = self.engine.tts
            index = 0
            while (clause := await clauses.get()) is not None:
                await self._emit("reply_clause", report.index, text=clause, clause=index)
                made = speculation.first_audio(clause) if speculation is not None and index == 0 else None
                if made is not None:  # synthesised during the end-of-turn silence
                    report.extra["speculative_audio"] = True
                async for chunk in made or tts.stream(clause):
                    if "first_audio" not in tl.marks:
                        tl.mark("first_audio")
                        await self._set_state(TurnState.SPEAKING)
                    await self._emit(
                        "audio", report.index, audio=chunk, sample_rate=tts.sample_rate, clause=index
                    )
                spoken.append(clause)
                await self._emit("clause_done", report.index, text=clause, clause=index)
                index += 1

        thinker = asyncio.create_task(think())
        try:
            await speak()
            await thinker
            if self.playback is not None:  # speaking lasts until it is heard: barge-in until then cuts it
                await self.playback.until_heard(report.index, len(spoken))
        finally:
            thinker.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await thinker

    @property
    def busy(self) -> bool:
        """A turn is being answered (thinking or speaking)."""
        return self._turn_task is not None and not self._turn_task.done()

    # --- control --------------------------------------------------------------------------
    async def interrupt(self) -> None:
        """Barge-in: stop thinking and speaking now; history keeps only what was spoken."""
        task = self._turn_task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def wait_idle(self) -> None:
        task = self._turn_task
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def close(self) -> None:
        await self._drop_speculation()
        await self.interrupt()
        for task in list(self._background):
            task.cancel()

    async def _drop_speculation(self) -> None:
        if self._speculation is not None:
            speculation, self._speculation = self._speculation, None
            await speculation.cancel()

    async def _set_state(self, state: TurnState) -> None:
        if state != self.state:
            self.state = state
            await self._emit("state", state=state.value)

    async def _emit(
        self, type_: EventType, turn: int | None = None, audio: np.ndarray | None = None, **data: object
    ) -> None:
        await self._sink(Event(type_, turn, dict(data), audio))
