"""One conversation's turns: listen -> (speculate) -> commit -> speak -> listen, and barge-in.

The session owns the order of turns and the conversation's state. What the user is doing is
the listener's call (listener.py), one turn's work the runner's (turn.py), who answers the
responder's (responder.py), and where the audio goes and what was heard the output's
(output.py). Transports push audio in and receive typed events; they never decide about turns.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import numpy as np

from rejoinder.answer import Answer, ResponseOptions
from rejoinder.config import Config
from rejoinder.endpointing import TurnTaker
from rejoinder.engine import Engine
from rejoinder.events import (
    EventSink,
    SessionEvent,
    State,
    StateChanged,
    Transcribed,
    UserSpeechStarted,
    UserSpeechStopped,
    ignore,
)
from rejoinder.listener import Listener
from rejoinder.output import AudioOutput, DirectOutput
from rejoinder.responder import Responder
from rejoinder.speculation import Speculation
from rejoinder.stages.llm import Message
from rejoinder.streams import settle
from rejoinder.timeline import EndOfTurnDecision, Timeline, TurnReport
from rejoinder.turn import TurnRunner
from rejoinder.turns import SpeechEnded, TurnDetector


class Session:
    def __init__(
        self,
        engine: Engine,
        sink: EventSink = ignore,
        config: Config | None = None,
        output: AudioOutput | None = None,
        keep_reports: int | None = None,
    ) -> None:
        """`output`: a live transport's paced output; a turn then lasts until its audio has
        played, and on barge-in only the words heard enter the history. `keep_reports`: how many
        of the latest turn reports a long-lived session keeps (None: all, as file mode needs)."""
        self.engine = engine
        self.config = config or engine.config
        self.responder = Responder(engine, self.config)
        self.responder.notify = self._emit
        self.responder.listener_ahead = lambda: self.output.queued_s()
        self._sink = sink
        self.state: State = "listening"
        self.listener = Listener(engine, self.config, self.responder, self)
        self._turn_task: asyncio.Task[None] | None = None
        """The latest turn."""
        self._running: dict[asyncio.Task[None], None] = {}
        """Every turn not yet ended, oldest first (a turn waits for those before it to end)."""
        self._runner = TurnRunner(
            engine,
            self.responder,
            output or DirectOutput(),
            self._emit,
            self._set_state,
            lambda: self._turn_task is asyncio.current_task(),
            keep_reports=keep_reports,
        )
        self._background: set[asyncio.Future[None]] = set()
        self._turns = 0
        self.answers_turns = True
        """False: a turn that turn detection ends is transcribed and handed to `on_unanswered`,
        not answered (a Realtime client's create_response: false answers it when it asks)."""
        self.on_unanswered: Callable[[str], None] = lambda text: None

    @property
    def history(self) -> list[Message]:
        return self.responder.history

    @property
    def reports(self) -> list[TurnReport]:
        return self._runner.reports

    @property
    def output(self) -> AudioOutput:
        return self._runner.output

    @output.setter
    def output(self, output: AudioOutput) -> None:
        """A transport that paces its own audio sets this before the first turn."""
        self._runner.output = output

    # --- audio in (the listener decides what the user is doing) -------------------------------
    @property
    def taker(self) -> TurnTaker:
        return self.listener.taker

    @property
    def detector(self) -> TurnDetector:
        return self.listener.detector

    @property
    def next_turn(self) -> int:
        """Index the next turn will get (the one a user is speaking now)."""
        return self._turns

    def reset_detector(self) -> None:
        """Start turn detection afresh (new settings, or the client cleared its buffer)."""
        self.listener.reset()

    async def push_audio(self, samples: np.ndarray) -> None:
        """16 kHz mono float32 audio from the user, any block size."""
        await self.listener.push(samples)

    async def end_audio(self) -> None:
        """The input stream ended: an utterance still open becomes a turn."""
        await self.listener.end()

    async def user_speaking(self, at_s: float) -> None:
        await self._set_state("user_speaking")
        await self._emit(UserSpeechStarted(self._turns, at_s))

    async def user_finished(self, ended: SpeechEnded, speculation: Speculation | None) -> None:
        report = self._new_report(ended.start_s, ended.end_s)
        report.endpointing_ms = round(ended.endpointing_ms, 1)
        report.end_of_turn = EndOfTurnDecision(
            ended.reason, ended.probability, round(ended.check_ms, 1), ended.detail
        )
        await self._emit(UserSpeechStopped(report.index, ended.end_s))
        if not self.answers_turns:
            if speculation is not None:
                await speculation.cancel()
            await self._set_state("listening")
            self.on_unanswered(await self.transcribe(ended.audio, report.index))
            return
        report.speculative = speculation is not None
        await self._set_state("thinking")
        self._start_turn(
            report,
            self._runner.run(report, ended.audio, speculation=speculation),
            lambda: self._runner.never_started(report, ended.audio, speculation),
        )

    def _new_report(self, start_s: float, end_s: float) -> TurnReport:
        timeline = Timeline()
        timeline.mark("speech_end")
        report = TurnReport(index=self._turns, start_s=start_s, end_s=end_s, timeline=timeline)
        self._turns += 1
        return report

    # --- the turn -------------------------------------------------------------------------
    async def respond(self, text: str) -> TurnReport:
        """Answer a typed message as if it had been heard (no STT)."""
        report, task = self.reply_to(text)
        await settle(task)
        return report

    def reply_to(
        self, text: str, resume: bool = False, options: ResponseOptions | None = None
    ) -> tuple[TurnReport, asyncio.Task[None]]:
        """Start answering a typed message; its turn index is taken now, before any await.
        `resume`: no new message, answer on from the history (after a client's tool outputs).
        Whatever was being answered is cancelled at once, and this turn starts when it has ended:
        however many requests come at once, one turn runs, and each one gets its end. Returns the
        report and the turn's own task (cancelled if the turn is)."""
        report = self._new_report(0.0, 0.0)
        self._cancel_turns()
        return report, self._start_turn(report, self._typed_turn(report, text, resume, options))

    async def _typed_turn(
        self, report: TurnReport, text: str, resume: bool, options: ResponseOptions | None
    ) -> None:
        await self._set_state("thinking")
        await self._runner.run(report, None, text, resume=resume, options=options)

    async def transcribe(self, audio: np.ndarray, turn: int | None = None) -> str:
        """Transcribe a committed buffer without answering it yet: manual turn-taking's (the next
        turn's), or a turn the VAD ended when the session does not answer on its own (`turn`)."""
        text = (await self.engine.stt.transcribe(audio)).text
        await self._emit(Transcribed(self._turns if turn is None else turn, text))
        return text

    def _start_turn(
        self,
        report: TurnReport,
        turn: Coroutine[Any, Any, None],
        unstarted: Callable[[], None] = lambda: None,
    ) -> asyncio.Task[None]:
        """Run a turn once every earlier turn has ended (they run on if they may not be
        interrupted, or end soon if cancelled) and the words of those cut are in the history.
        A turn cancelled before it could start is still reported (so every response gets its
        end), and `unstarted` is called."""
        earlier = [task for task in self._running if not task.done()]

        async def after_earlier() -> None:
            for task in earlier:
                await settle(asyncio.shield(task))
            for task in list(self._runner.late):
                await settle(asyncio.shield(task))
            await turn

        def reported(task: asyncio.Task[None]) -> None:
            self._running.pop(task, None)
            if any(r is report for r in self.reports):  # it finished
                return
            turn.close()
            report.status = "cancelled"
            unstarted()
            finish = asyncio.ensure_future(self._runner.finish(report, Answer(timeline=report.timeline)))
            self._background.add(finish)
            finish.add_done_callback(self._background.discard)

        task = asyncio.create_task(after_earlier())
        self._running[task] = None
        task.add_done_callback(reported)
        self._turn_task = task
        return task

    def truncate_reply(self, turn: int, heard: str) -> str | None:
        """The listener heard only `heard` of `turn`'s reply (the client says so): shorten the
        reply in the history to it. Never lengthens what is kept. Returns the reply now kept, or
        None while the turn is unknown (not finished yet)."""
        report = next((r for r in self.reports if r.index == turn), None)
        if report is None:
            return None
        if len(heard.split()) >= len(report.reply.split()):
            return report.reply
        self.responder.truncate(report.transcript, report.reply, heard)
        report.reply = heard
        return heard

    @property
    def busy(self) -> bool:
        """A turn is being answered (thinking or speaking)."""
        return any(not task.done() for task in self._running)

    # --- control --------------------------------------------------------------------------
    async def interrupt(self) -> None:
        """Barge-in: stop thinking and speaking now; history keeps only what was heard."""
        for task in self._cancel_turns():
            await settle(task)

    def _cancel_turns(self) -> list[asyncio.Task[None]]:
        """Cancel every turn not yet ended, a turn waiting for an earlier one included."""
        tasks = [task for task in self._running if not task.done()]
        for task in tasks:
            task.cancel()
        return tasks

    async def wait_idle(self) -> None:
        task = self._turn_task
        if task is not None:
            await settle(task)

    async def close(self) -> None:
        await self.listener.close()
        await self.interrupt()
        for task in list(self._runner.late):
            task.cancel()
            await settle(task)
        self.responder.close()

    async def _set_state(self, state: State) -> None:
        if state != self.state:
            self.state = state
            await self._emit(StateChanged(state))

    async def _emit(self, event: SessionEvent) -> None:
        await self._sink(event)
