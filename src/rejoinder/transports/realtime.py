"""The OpenAI Realtime protocol (GA event names) over any message channel.

Client events in, Session calls out; Session events in, server events out. Audio on the wire is
base64 PCM16 mono at 24 kHz, as in the OpenAI spec. Reply audio is paced to the listener (a
short lead ahead of real time) so that on barge-in the unsent remainder is simply dropped; the
playback log tells the session which words had been heard, and only those stay in the history.
Used by the WebSocket endpoint and the WebRTC data channel.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import numpy as np

from rejoinder.audio import SAMPLE_RATE, StreamResampler, from_pcm16, to_pcm16
from rejoinder.config import Config
from rejoinder.engine import Engine
from rejoinder.events import Event
from rejoinder.playback import KEEP_TURNS, PlaybackLog
from rejoinder.session import Session

log = logging.getLogger(__name__)

WIRE_RATE = 24_000
LEAD_S = 0.25
"""How far reply audio is sent ahead of real time."""
DELTA_S = 0.1
"""Audio per response.output_audio.delta."""
MAX_EVENT_BYTES = 1 << 20
MAX_BUFFER_S = 120.0
"""Manual (no VAD) input buffer limit."""

Send = Callable[[dict[str, Any]], Awaitable[None]]


class ProtocolError(Exception):
    def __init__(self, message: str, code: str = "invalid_event", param: str | None = None) -> None:
        super().__init__(message)
        self.code, self.param = code, param


def _id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


class RealtimeConnection:
    """One client connection = one Session."""

    def __init__(
        self,
        engine: Engine,
        send: Send,
        config: Config | None = None,
        model: str = "rejoinder",
        audio_out: Callable[[np.ndarray], None] | None = None,
        audio_clear: Callable[[], None] | None = None,
        on_turn: Callable[[dict[str, Any]], None] | None = None,
        on_error: Callable[[], None] | None = None,
    ) -> None:
        """`audio_out`: where reply audio (24 kHz float) goes instead of base64 delta events (WebRTC)."""
        self._send_raw = send
        self._audio_out = audio_out
        self._audio_clear = audio_clear
        self._dropped: set[int] = set()
        self._drop_signal = asyncio.Event()
        self._on_turn = on_turn
        self._on_error = on_error
        self.config = (config or engine.config).model_copy(deep=True)
        self.model = model
        self.playback = PlaybackLog()
        self.session = Session(engine, self._on_event, self.config, playback=self.playback)
        self.session_id = _id("sess")
        self.voice = self.config.tts.voice
        self.vad_enabled = True
        self.create_response = True
        self._in = StreamResampler(WIRE_RATE, SAMPLE_RATE)
        self._manual: list[np.ndarray] = []
        self._manual_samples = 0
        self._pending_text: str | None = None
        self._item_ids: dict[int, str] = {}
        self._responses: dict[int, dict[str, Any]] = {}
        self._assistant_items: dict[str, int] = {}
        """Recent reply items -> their turn, for conversation.item.truncate."""
        self._truncate_at: dict[int, float] = {}
        """Truncations that arrived while their turn was still running (audio seconds)."""
        self._outbox: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
        self._pacer = asyncio.create_task(self._pace())
        self._closed = False
        self._last_item: str | None = None

    # ---- sending ------------------------------------------------------------------------------
    async def send(self, type_: str, **fields: Any) -> None:
        if self._closed:
            return
        try:
            await self._send_raw({"type": type_, "event_id": _id("event"), **fields})
        except (ConnectionError, RuntimeError):  # the client vanished: stop talking to it
            self._closed = True

    async def error(
        self, message: str, code: str = "invalid_event", param: str | None = None, event_id: str | None = None
    ) -> None:
        if self._on_error:
            self._on_error()
        await self.send(
            "error",
            error={
                "type": "invalid_request_error",
                "code": code,
                "message": message,
                "param": param,
                "event_id": event_id,
            },
        )

    async def start(self) -> None:
        await self.send("session.created", session=self.describe())

    def describe(self) -> dict[str, Any]:
        vad = self.config.vad
        turn_detection = (
            {
                "type": "server_vad",
                "threshold": vad.threshold,
                "prefix_padding_ms": vad.prefix_padding_ms,
                "silence_duration_ms": vad.min_silence_ms,
                "create_response": self.create_response,
                "interrupt_response": vad.interrupt_response,
            }
            if self.vad_enabled
            else None
        )
        return {
            "type": "realtime",
            "object": "realtime.session",
            "id": self.session_id,
            "model": self.model,
            "output_modalities": ["audio"],
            "instructions": self.config.llm.system_prompt,
            "max_output_tokens": self.config.llm.max_tokens,
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": WIRE_RATE},
                    "turn_detection": turn_detection,
                    "transcription": {"model": f"{self.config.stt.backend}:{self.config.stt.model}"},
                },
                "output": {"format": {"type": "audio/pcm", "rate": WIRE_RATE}, "voice": self.voice},
            },
        }

    # ---- client events ------------------------------------------------------------------------
    async def handle(self, raw: str | bytes) -> None:
        """One client message; a bad one gets an `error` event and the session goes on."""
        event_id = None
        try:
            if len(raw) > MAX_EVENT_BYTES:
                raise ProtocolError(
                    f"event of {len(raw)} bytes exceeds the {MAX_EVENT_BYTES} byte limit", "event_too_large"
                )
            try:
                message = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise ProtocolError("the message is not valid JSON", "invalid_json") from None
            if not isinstance(message, dict) or not isinstance(message.get("type"), str):
                raise ProtocolError(
                    "an event must be a JSON object with a string 'type'", "missing_type", "type"
                )
            event_id = message.get("event_id")
            handler = self._handlers.get(message["type"])
            if handler is None:
                raise ProtocolError(f"unsupported event type {message['type']!r}", "unknown_event", "type")
            await handler(self, message)
        except ProtocolError as exc:
            await self.error(str(exc), exc.code, exc.param, event_id)
        except Exception as exc:  # never a dead session for one bad event
            log.exception("realtime event failed")
            await self.error(f"internal error: {type(exc).__name__}: {exc}", "server_error", None, event_id)

    async def _session_update(self, message: dict[str, Any]) -> None:
        session = message.get("session")
        if not isinstance(session, dict):
            raise ProtocolError("session.update needs a 'session' object", "invalid_value", "session")
        cfg = self.config
        if "instructions" in session:
            if not isinstance(session["instructions"], str):
                raise ProtocolError("instructions must be a string", "invalid_value", "session.instructions")
            cfg.llm.system_prompt = session["instructions"] or cfg.llm.system_prompt
        audio = session.get("audio") or {}
        voice = session.get("voice", (audio.get("output") or {}).get("voice"))
        if voice is not None:
            self.voice = str(voice)  # one packaged voice: any name is accepted and reported back
        fmt = (audio.get("input") or {}).get("format") or {}
        if fmt and (fmt.get("type", "audio/pcm") != "audio/pcm" or fmt.get("rate", WIRE_RATE) != WIRE_RATE):
            raise ProtocolError(
                "only audio/pcm at 24000 Hz is supported", "invalid_value", "session.audio.input.format"
            )
        input_cfg = audio.get("input") or {}
        if "turn_detection" in input_cfg or "turn_detection" in session:
            await self._turn_detection(input_cfg.get("turn_detection", session.get("turn_detection")))
        if "max_output_tokens" in session and session["max_output_tokens"] not in (None, "inf"):
            try:
                cfg.llm.max_tokens = int(session["max_output_tokens"])
            except (TypeError, ValueError):
                raise ProtocolError(
                    "max_output_tokens must be an integer", "invalid_value", "session.max_output_tokens"
                ) from None
        await self.send("session.updated", session=self.describe())

    async def _turn_detection(self, td: Any) -> None:
        if td is None:
            self.vad_enabled = False
            return
        if not isinstance(td, dict) or td.get("type", "server_vad") != "server_vad":
            raise ProtocolError(
                "turn_detection must be null or {'type': 'server_vad', ...}",
                "invalid_value",
                "session.audio.input.turn_detection",
            )
        vad = self.config.vad
        try:
            for key, field in (
                ("threshold", "threshold"),
                ("silence_duration_ms", "min_silence_ms"),
                ("prefix_padding_ms", "prefix_padding_ms"),
                ("interrupt_response", "interrupt_response"),
            ):
                if key in td and td[key] is not None:
                    setattr(vad, field, td[key])
        except ValueError as exc:
            raise ProtocolError(
                f"invalid turn_detection: {str(exc).splitlines()[-1].strip()}",
                "invalid_value",
                "session.audio.input.turn_detection",
            ) from None
        self.create_response = bool(td.get("create_response", True))
        self.vad_enabled = True
        self.session.config = self.config
        self.session.reset_detector()

    async def _append(self, message: dict[str, Any]) -> None:
        data = message.get("audio")
        if not isinstance(data, str):
            raise ProtocolError("input_audio_buffer.append needs base64 'audio'", "invalid_value", "audio")
        try:
            pcm = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise ProtocolError("audio is not valid base64", "invalid_value", "audio") from None
        try:
            samples = self._in(from_pcm16(pcm))
        except Exception as exc:
            raise ProtocolError(f"audio is not PCM16: {exc}", "invalid_value", "audio") from None
        await self.feed_audio(samples)

    async def feed_audio(self, samples: np.ndarray) -> None:
        """16 kHz float audio from the user (WebSocket appends, or a WebRTC track)."""
        if self.vad_enabled:
            await self.session.push_audio(samples)
            return
        if self._manual_samples + samples.size > MAX_BUFFER_S * SAMPLE_RATE:
            raise ProtocolError(
                f"input audio buffer is full ({MAX_BUFFER_S:g} s); commit or clear it", "buffer_full", "audio"
            )
        self._manual.append(samples)
        self._manual_samples += samples.size

    async def _commit(self, message: dict[str, Any]) -> None:
        if self.vad_enabled:
            await self.session.end_audio()
            return
        if not self._manual_samples:
            raise ProtocolError("the input audio buffer is empty", "input_audio_buffer_commit_empty")
        audio = np.concatenate(self._manual)
        self._manual, self._manual_samples = [], 0
        self._item_ids[self.session.next_turn] = item = self._new_item()
        await self.send("input_audio_buffer.committed", item_id=item, previous_item_id=self._last_item)
        self._last_item = item
        self._pending_text = await self.session.transcribe(audio)

    async def _clear(self, message: dict[str, Any]) -> None:
        self._manual, self._manual_samples = [], 0
        self.session.reset_detector()
        await self.send("input_audio_buffer.cleared")

    async def _item_create(self, message: dict[str, Any]) -> None:
        item = message.get("item")
        if (
            not isinstance(item, dict)
            or item.get("type", "message") != "message"
            or item.get("role") != "user"
        ):
            raise ProtocolError("only user message items are supported", "invalid_value", "item")
        texts = [
            c.get("text", "")
            for c in item.get("content") or []
            if isinstance(c, dict) and c.get("type") in ("input_text", "text")
        ]
        if not any(t.strip() for t in texts):
            raise ProtocolError("the item has no input_text content", "invalid_value", "item.content")
        self._pending_text = " ".join(t.strip() for t in texts if t.strip())
        item_id = item.get("id") or self._new_item()
        await self.send(
            "conversation.item.added",
            previous_item_id=self._last_item,
            item={
                "id": item_id,
                "type": "message",
                "role": "user",
                "status": "completed",
                "content": [{"type": "input_text", "text": self._pending_text}],
            },
        )
        self._last_item = item_id

    async def _response_create(self, message: dict[str, Any]) -> None:
        if self._pending_text is None:
            raise ProtocolError(
                "nothing to respond to: append and commit audio or create a user item first", "no_input"
            )
        text, self._pending_text = self._pending_text, None
        task = asyncio.create_task(self.session.respond(text))
        task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)

    async def _item_truncate(self, message: dict[str, Any]) -> None:
        """The client stopped playing a reply at audio_end_ms: only what it played stays in the
        history (it cannot lengthen what the server already knows was cut)."""
        item_id, end_ms = message.get("item_id"), message.get("audio_end_ms")
        turn = self._assistant_items.get(item_id) if isinstance(item_id, str) else None
        if turn is None:
            raise ProtocolError(
                f"no recent assistant item {item_id!r} to truncate", "item_not_found", "item_id"
            )
        if message.get("content_index", 0) != 0:
            raise ProtocolError("content_index must be 0 (one audio part)", "invalid_value", "content_index")
        if not isinstance(end_ms, int) or isinstance(end_ms, bool) or end_ms < 0:
            raise ProtocolError(
                "audio_end_ms must be a non-negative integer", "invalid_value", "audio_end_ms"
            )
        if self._truncate(turn, end_ms / 1000) is None:
            self._truncate_at[turn] = end_ms / 1000  # the turn is still running: apply when it ends
        await self.send("conversation.item.truncated", item_id=item_id, content_index=0, audio_end_ms=end_ms)

    def _truncate(self, turn: int, audio_s: float) -> str | None:
        """The reply kept for `turn` once cut `audio_s` into its audio; None if not known yet."""
        heard = self.playback.heard_until(turn, audio_s)
        return None if heard is None else self.session.truncate_reply(turn, " ".join(heard))

    async def _response_cancel(self, message: dict[str, Any]) -> None:
        if not self.session.busy:
            raise ProtocolError("there is no response in progress", "response_cancel_not_active")
        await self.session.interrupt()

    _handlers: ClassVar[dict[str, Callable[[RealtimeConnection, dict[str, Any]], Awaitable[None]]]] = {
        "session.update": _session_update,
        "input_audio_buffer.append": _append,
        "input_audio_buffer.commit": _commit,
        "input_audio_buffer.clear": _clear,
        "conversation.item.create": _item_create,
        "conversation.item.truncate": _item_truncate,
        "response.create": _response_create,
        "response.cancel": _response_cancel,
    }

    def _new_item(self) -> str:
        return _id("item")

    # ---- session events -> server events ------------------------------------------------------
    async def _on_event(self, event: Event) -> None:
        turn = event.turn
        if event.type == "speech_started":
            self._item_ids[self.session.next_turn] = item = self._new_item()
            await self.send(
                "input_audio_buffer.speech_started",
                item_id=item,
                audio_start_ms=int(event.data["at_s"] * 1000),
            )
        elif event.type == "speech_stopped":
            item = self._item_ids.setdefault(self.session.next_turn, self._new_item())
            await self.send(
                "input_audio_buffer.speech_stopped", item_id=item, audio_end_ms=int(event.data["at_s"] * 1000)
            )
            await self.send("input_audio_buffer.committed", item_id=item, previous_item_id=self._last_item)
            self._last_item = item
        elif event.type == "transcript" and turn is not None:
            if turn in self._item_ids:
                await self.send(
                    "conversation.item.input_audio_transcription.completed",
                    item_id=self._item_ids[turn],
                    content_index=0,
                    transcript=event.data["text"],
                )
        elif event.type == "reply_clause" and turn is not None:
            await self._response(turn)
            self.playback.clause(turn, event.data["clause"], event.data["text"])
            await self._outbox.put(("text", turn, event.data["text"] + " "))
        elif event.type == "audio" and turn is not None and event.audio is not None:
            response = await self._response(turn)
            resampler = response.setdefault(
                "resampler", StreamResampler(int(event.data["sample_rate"]), WIRE_RATE)
            )
            audio = resampler(event.audio)
            self.playback.produced(turn, event.data["clause"], audio.size / WIRE_RATE)
            await self._outbox.put(("audio", turn, (event.data["clause"], audio)))
        elif event.type == "clause_done" and turn is not None:
            await self._outbox.put(("delivered", turn, event.data["clause"]))
        elif event.type == "reply_done" and turn is not None and event.data.get("status") == "cancelled":
            self._drop_unsent(turn)
        elif event.type == "turn_report":
            if turn is not None and turn in self._truncate_at:
                kept = self._truncate(turn, self._truncate_at.pop(turn))
                if kept is not None:
                    event.data["reply"] = kept
            if self._on_turn:
                self._on_turn(dict(event.data))
            await self._outbox.put(("done", turn, dict(event.data)))
        elif event.type == "error":
            await self.send(
                "error",
                error={
                    "type": "server_error",
                    "code": "turn_failed",
                    "message": event.data.get("message", "turn failed"),
                    "param": None,
                    "event_id": None,
                },
            )

    async def _response(self, turn: int) -> dict[str, Any]:
        if turn not in self._responses:
            self._responses[turn] = response = {"id": _id("resp"), "item": _id("item")}
            self._assistant_items[response["item"]] = turn
            for old in list(self._assistant_items)[:-KEEP_TURNS]:
                del self._assistant_items[old]
            await self.send(
                "response.created",
                response={
                    "id": response["id"],
                    "object": "realtime.response",
                    "status": "in_progress",
                    "output": [],
                },
            )
            await self.send(
                "response.output_item.added",
                response_id=response["id"],
                output_index=0,
                item={
                    "id": response["item"],
                    "type": "message",
                    "role": "assistant",
                    "status": "in_progress",
                    "content": [],
                },
            )
            await self.send(
                "response.content_part.added",
                response_id=response["id"],
                item_id=response["item"],
                output_index=0,
                content_index=0,
                part={"type": "output_audio", "transcript": ""},
            )
        return self._responses[turn]

    def _drop_unsent(self, turn: int) -> None:
        """Barge-in: reply audio of `turn` not yet sent is never sent (nor queued in a media track)."""
        self._dropped.add(turn)
        self._drop_signal.set()
        if self._audio_clear is not None:
            self._audio_clear()

    async def _pace(self) -> None:
        """Send queued reply audio no more than LEAD_S ahead of real time; confirm delivered clauses."""
        started: float | None = None
        sent_s = 0.0
        try:
            while True:
                kind, turn, payload = await self._outbox.get()
                response = self._responses.get(turn)
                if turn in self._dropped and kind != "done":
                    continue
                if kind == "text" and response:
                    await self.send(
                        "response.output_audio_transcript.delta",
                        response_id=response["id"],
                        item_id=response["item"],
                        output_index=0,
                        content_index=0,
                        delta=payload,
                    )
                elif kind == "audio" and response:
                    clause, payload = payload
                    step = int(DELTA_S * WIRE_RATE)
                    for i in range(0, payload.size, step):
                        now = time.perf_counter()
                        if started is None or now > started + sent_s:  # playback ran dry: restart the clock
                            started, sent_s = now, 0.0
                        ahead = started + sent_s - now
                        if ahead > LEAD_S:  # wait, unless a barge-in cuts the wait short
                            with contextlib.suppress(TimeoutError):
                                await asyncio.wait_for(self._drop_signal.wait(), ahead - LEAD_S)
                        if turn in self._dropped:
                            break
                        piece = payload[i : i + step]
                        if self._audio_out is not None:
                            self._audio_out(piece)
                        else:
                            await self.send(
                                "response.output_audio.delta",
                                response_id=response["id"],
                                item_id=response["item"],
                                output_index=0,
                                content_index=0,
                                delta=base64.b64encode(to_pcm16(piece)).decode(),
                            )
                        self.playback.sent(turn, clause, piece.size / WIRE_RATE, started + sent_s)
                        sent_s += piece.size / WIRE_RATE
                elif kind == "delivered":
                    self.playback.delivered(turn, payload)
                elif kind == "done":
                    self._dropped.discard(turn)
                    self._drop_signal.clear()
                    await self._finish(turn, payload)
        except asyncio.CancelledError:
            pass

    async def _finish(self, turn: int, report: dict[str, Any]) -> None:
        response = self._responses.pop(turn, None)
        if response is None:
            return  # nothing was said (empty transcript or failure before any speech)
        status = {"completed": "completed", "cancelled": "cancelled"}.get(report["status"], "failed")
        spoken = report.get("reply", "")
        base = {
            "response_id": response["id"],
            "item_id": response["item"],
            "output_index": 0,
            "content_index": 0,
        }
        await self.send("response.output_audio.done", **base)
        await self.send("response.output_audio_transcript.done", **base, transcript=spoken)
        part = {"type": "output_audio", "transcript": spoken}
        await self.send("response.content_part.done", **base, part=part)
        item = {
            "id": response["item"],
            "type": "message",
            "role": "assistant",
            "status": "completed" if status == "completed" else "incomplete",
            "content": [part],
        }
        await self.send("response.output_item.done", response_id=response["id"], output_index=0, item=item)
        timings = report.get("timings_ms", {})
        metadata = {f"{k}_ms": str(v) for k, v in timings.items() if v is not None}
        if report.get("route"):
            metadata["route_tier"] = str(report["route"]["tier"])
            metadata["route_score"] = str(report["route"]["score"])
        await self.send(
            "response.done",
            response={
                "id": response["id"],
                "object": "realtime.response",
                "status": status,
                "status_details": {
                    "type": status,
                    "reason": "turn_detected" if status == "cancelled" else None,
                },
                "output": [item],
                "metadata": metadata,
            },
        )

    async def close(self) -> None:
        self._closed = True
        self._pacer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._pacer
        await self.session.close()
