"""One Realtime client connection = one Session: client events dispatched by family, session
events translated back. Audio on the wire is base64 PCM16 mono at 24 kHz, as in the OpenAI spec.
Used by the WebSocket endpoint and the WebRTC data channel."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np

from rejoinder import json_input
from rejoinder.config import Config
from rejoinder.engine import Engine
from rejoinder.events import (
    ClauseStarted,
    ConversationEnded,
    SessionEvent,
    ToolCalled,
    ToolReturned,
    Transcribed,
    TurnFailed,
    TurnFinished,
    UserSpeechStarted,
    UserSpeechStopped,
)
from rejoinder.session import Session
from rejoinder.timeline import TurnReport
from rejoinder.transports.realtime.input_events import Input
from rejoinder.transports.realtime.items import Items
from rejoinder.transports.realtime.responses import Responses
from rejoinder.transports.realtime.session_events import SessionSettings
from rejoinder.transports.realtime.tool_events import ToolEvents
from rejoinder.transports.realtime.wire import MAX_EVENT_BYTES, ProtocolError, Send, Wire

KEEP_REPORTS = 64
"""Turn reports a connection keeps (truncation looks up the latest 16): a client making empty
turns at 35 a second would otherwise grow the server by every one of them."""

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[None]]


class RealtimeConnection:
    def __init__(
        self,
        engine: Engine,
        send: Send,
        config: Config | None = None,
        model: str = "rejoinder",
        audio_out: Callable[[np.ndarray], None] | None = None,
        audio_clear: Callable[[], None] | None = None,
        on_turn: Callable[[TurnReport], None] | None = None,
        on_error: Callable[[], None] | None = None,
        on_end: Callable[[], Awaitable[Any]] | None = None,
    ) -> None:
        """`audio_out`: where reply audio (24 kHz float) goes instead of base64 delta events (WebRTC).
        `on_end`: called when a tool ended the conversation and the goodbye has played (hang up)."""
        self.wire = Wire(send, on_error)
        self.config = (config or engine.config).model_copy(deep=True)
        self.session = Session(engine, self._on_event, self.config, keep_reports=KEEP_REPORTS)
        self.items = Items(self.wire, self.session)
        self.tools = ToolEvents(self.wire, self.session, self.items)
        self.settings = SessionSettings(self.wire, self.config, self.session, model, self.tools)
        self.input = Input(self.wire, self.session, self.settings, self.items, self.tools)
        self.responses = Responses(self.wire, self.session, self.input, audio_out, audio_clear, on_turn)
        self.tools.responses, self.responses.tools = self.responses, self.tools
        self._on_end = on_end
        self.session.output = self.responses.output
        self._handlers: dict[str, Handler] = {
            "session.update": self.settings.update,
            "input_audio_buffer.append": self.input.append,
            "input_audio_buffer.commit": self.input.commit,
            "input_audio_buffer.clear": self.input.clear,
            "conversation.item.create": self.input.item_create,
            "conversation.item.truncate": self.responses.truncate,
            "conversation.item.retrieve": self.items.retrieve,
            "conversation.item.delete": self.items.delete,
            "response.create": self.responses.create,
            "response.cancel": self.responses.cancel,
            "output_audio_buffer.clear": self.responses.clear_output,
        }

    async def start(self) -> None:
        await self.wire.send("session.created", session=self.settings.describe())

    async def handle(self, raw: str | bytes) -> None:
        """One client message; a bad one gets an `error` event and the session goes on."""
        event_id = None
        try:
            if len(raw) > MAX_EVENT_BYTES:
                raise ProtocolError(
                    f"event of {len(raw)} bytes exceeds the {MAX_EVENT_BYTES} byte limit", "event_too_large"
                )
            try:
                message = json_input.loads(raw)
            except json_input.BadJSON as exc:
                raise ProtocolError(f"the message: {exc}", "invalid_json") from None
            if not isinstance(message, dict) or not isinstance(message.get("type"), str):
                raise ProtocolError(
                    "an event must be a JSON object with a string 'type'", "missing_type", "type"
                )
            event_id = message.get("event_id") if isinstance(message.get("event_id"), str) else None
            handler = self._handlers.get(message["type"])
            if handler is None:
                raise ProtocolError(
                    f"unsupported event type {message['type'][:80]!r}", "unknown_event", "type"
                )
            await handler(message)
        except ProtocolError as exc:
            await self.wire.error(str(exc), exc.code, exc.param, event_id)
        except Exception as exc:  # never a dead session for one bad event
            log.exception("realtime event failed")
            await self.wire.error(
                f"internal error: {type(exc).__name__}", "server_error", None, event_id, "server_error"
            )

    async def feed_audio(self, samples: np.ndarray) -> None:
        """16 kHz float audio from a media track (WebRTC)."""
        try:
            await self.input.feed(samples)
        except ProtocolError as exc:
            await self.wire.error(str(exc), exc.code, exc.param)

    async def error(self, message: str, code: str = "invalid_event") -> None:
        await self.wire.error(message, code)

    async def _on_event(self, event: SessionEvent) -> None:
        if isinstance(event, UserSpeechStarted):
            await self.input.speech_started(event)
        elif isinstance(event, UserSpeechStopped):
            await self.input.speech_stopped(event)
        elif isinstance(event, Transcribed):
            await self.input.transcribed(event)
        elif isinstance(event, ClauseStarted):
            await self.responses.clause_started(event)
        elif isinstance(event, TurnFinished):
            await self.responses.turn_finished(event)
        elif isinstance(event, TurnFailed):
            await self.responses.turn_failed(event)
        elif isinstance(event, ToolCalled):
            await self.tools.called(event)
        elif isinstance(event, ToolReturned):
            await self.tools.returned(event)
        elif isinstance(event, ConversationEnded) and self._on_end is not None:
            await self._on_end()

    async def close(self) -> None:
        self.wire.closed = True
        await self.session.close()
        await self.responses.output.aclose()
