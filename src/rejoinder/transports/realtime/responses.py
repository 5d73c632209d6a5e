"""The response family: `response.create` / `response.cancel` / `conversation.item.truncate` from
the client, and each reply's lifecycle events (created, transcript and audio deltas, done), sent
in step with the paced audio output."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rejoinder.audio import PCM_RATE, StreamResampler, to_pcm16
from rejoinder.events import ClauseStarted, TurnFailed, TurnFinished
from rejoinder.output import PacedOutput
from rejoinder.playback import KEEP_TURNS
from rejoinder.session import Session
from rejoinder.timeline import TurnReport
from rejoinder.transports.realtime.input_events import Input
from rejoinder.transports.realtime.items import Items
from rejoinder.transports.realtime.response_fields import (
    client_metadata,
    nothing_to_answer,
    response_options,
    usage_of,
)
from rejoinder.transports.realtime.tool_events import ToolEvents
from rejoinder.transports.realtime.wire import ProtocolError, Wire, new_id

TRUNCATE_SLACK_MS = 20
"""A client's count of the audio it played may differ from ours by rounding (24 kHz deltas)."""
STATUS = {"completed": "completed", "cancelled": "cancelled", "empty": "completed", "failed": "failed"}


@dataclass
class _Response:
    id: str = field(default_factory=lambda: new_id("resp"))
    item: str = field(default_factory=lambda: new_id("item"))
    speaking: bool = False
    """Its output item and content part were announced."""
    resampler: StreamResampler | None = None
    next_index: int = 0
    message_index: int = 0
    items: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    """Finished output items other than the spoken message (function calls), by output index."""
    metadata: dict[str, str] | None = None
    """The client's own, from response.create: response.done gives it back."""
    playing: bool = False
    """Its audio went to the media track (WebRTC): output_audio_buffer.started was sent."""


class Responses:
    """Implements the paced output's PlaybackTarget: audio goes out as deltas, or to a media track."""

    def __init__(
        self,
        wire: Wire,
        session: Session,
        input: Input,
        audio_out: Callable[[np.ndarray], None] | None = None,
        audio_clear: Callable[[], None] | None = None,
        on_turn: Callable[[TurnReport], None] | None = None,
    ) -> None:
        self.wire, self.session, self.input = wire, session, input
        self.items: Items = input.items
        self.items.is_running = self._is_running
        self._audio_out, self._audio_clear, self._on_turn = audio_out, audio_clear, on_turn
        self.output = PacedOutput(self)
        self._responses: dict[int, _Response] = {}
        self._assistant_items: dict[str, int] = {}
        """Recent reply items -> their turn, for conversation.item.truncate."""
        self._truncate_at: dict[int, float] = {}
        """Truncations that arrived while their turn was still running (audio seconds)."""
        self.tools: ToolEvents | None = None
        self.conversation_id = new_id("conv")
        self._playing = False
        """The media track holds reply audio not yet known to be played out (WebRTC)."""
        self._played_id: str | None = None
        self._cleared = 0
        """output_audio_buffer.cleared events sent."""
        self._client_cancelled: set[int] = set()
        """Turns a response.cancel ended: their reason is the client's, not speech."""
        self._failures: dict[int, dict[str, str]] = {}
        """Why a turn failed, for its response.done."""

    # ---- client events ------------------------------------------------------------------------
    async def create(self, message: dict[str, Any]) -> None:
        """Answer the words waiting, or else from the conversation as it stands (after a
        client's tool outputs, or to answer again once a reply was deleted), as OpenAI's does."""
        options = response_options(message)
        metadata = client_metadata(message.get("response") or {})
        text = self.input.take_pending()
        if text is None and (why := nothing_to_answer(self.session.history)) is not None:
            raise ProtocolError(why, "no_input")
        report, task = self.session.reply_to(text or "", resume=text is None, options=options)
        (await self._response(report.index)).metadata = metadata
        task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)

    async def clear_output(self, message: dict[str, Any]) -> None:
        """WebRTC's output_audio_buffer.clear: the media track stops playing the reply at once,
        and only what was heard stays in the history (over a WebSocket the client holds the
        audio, and cuts it with conversation.item.truncate)."""
        if self._audio_out is None:
            raise ProtocolError(
                "output_audio_buffer.clear is for WebRTC connections; over a WebSocket, stop "
                "playing and send conversation.item.truncate",
                "invalid_value",
                "type",
            )
        self._client_cancelled.update(self._responses)
        announced = self._cleared
        await self.session.interrupt()  # a reply cut here announces its own clearing
        self.clear()
        if self._cleared == announced and self._played_id is not None:
            await self._clear_announced(self._played_id)  # the client's clear is answered

    async def cancel(self, message: dict[str, Any]) -> None:
        if not self.session.busy:
            raise ProtocolError("there is no response in progress", "response_cancel_not_active")
        self._client_cancelled.update(self._responses)  # a turn not yet started ends later
        await self.session.interrupt()

    async def truncate(self, message: dict[str, Any]) -> None:
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
        # No client can have played more than was produced so far, running turn or not (a huge
        # value for a running turn used to reach a float division: a server_error).
        produced_ms = round((self.output.log.audio_s(turn) or 0.0) * 1000)
        if end_ms > produced_ms + TRUNCATE_SLACK_MS:
            raise ProtocolError(
                f"audio_end_ms {end_ms} is past the end of the item's audio ({produced_ms} ms so far)",
                "invalid_value",
                "audio_end_ms",
            )
        kept = self._truncated(turn, end_ms / 1000)
        if kept is None:
            self._truncate_at[turn] = end_ms / 1000  # the turn is still running: apply when it ends
        else:
            self.items.update(str(item_id), lambda item: item.update(content=[_spoken(kept)]))
        await self.wire.send(
            "conversation.item.truncated", item_id=item_id, content_index=0, audio_end_ms=end_ms
        )

    def _truncated(self, turn: int, audio_s: float) -> str | None:
        """The reply kept for `turn` once cut `audio_s` into its audio; None if not known yet."""
        heard = self.output.log.heard_until(turn, audio_s)
        return None if heard is None else self.session.truncate_reply(turn, " ".join(heard))

    async def _played_out(self, response: _Response | None, status: str) -> None:
        """A reply on the media track ended: played out (stopped), or cut by speech or a cancel
        (cleared)."""
        if response is None or not response.playing:
            return
        self._played_id = response.id
        if status != "cancelled":
            self._playing = False
            await self.wire.send("output_audio_buffer.stopped", response_id=response.id)
        elif self._playing:
            await self._clear_announced(response.id)

    async def _clear_announced(self, response_id: str) -> None:
        self._playing, self._cleared = False, self._cleared + 1
        await self.wire.send("output_audio_buffer.cleared", response_id=response_id)

    def _is_running(self, item_id: str) -> bool:
        turn = self._assistant_items.get(item_id)
        return turn is not None and turn in self._responses

    # ---- session events -----------------------------------------------------------------------
    async def clause_started(self, event: ClauseStarted) -> None:
        await self._speaking(await self._response(event.turn))

    async def turn_finished(self, event: TurnFinished) -> None:
        report = event.report
        if report.index in self._truncate_at:
            kept = self._truncated(report.index, self._truncate_at.pop(report.index))
            if kept is not None:
                report.reply = kept
        if self._on_turn:
            self._on_turn(report)
        await self._finish(report)

    async def turn_failed(self, event: TurnFailed) -> None:
        # what the client sent (instructions and message over the model's context) is theirs to fix
        kind = "invalid_request_error" if event.by_input else "server_error"
        self._failures[event.turn] = {"type": kind, "code": "turn_failed"}
        await self.wire.error(event.message, "turn_failed", kind=kind)

    # ---- PlaybackTarget -----------------------------------------------------------------------
    async def text(self, turn: int, text: str) -> None:
        response = self._responses.get(turn)
        if response is not None:
            await self.wire.send(
                "response.output_audio_transcript.delta", **self._ids(response), delta=text + " "
            )

    async def audio(self, turn: int, samples: np.ndarray, sample_rate: int) -> None:
        response = self._responses.get(turn)
        if response is None:
            return
        if response.resampler is None:
            response.resampler = StreamResampler(sample_rate, PCM_RATE)
        piece = response.resampler(samples)
        if self._audio_out is not None:
            if not response.playing:
                response.playing = self._playing = True
                await self.wire.send("output_audio_buffer.started", response_id=response.id)
            self._audio_out(piece)
        elif piece.size:
            delta = base64.b64encode(to_pcm16(piece)).decode()
            await self.wire.send("response.output_audio.delta", **self._ids(response), delta=delta)

    def clear(self) -> None:
        if self._audio_clear is not None:
            self._audio_clear()

    # ---- lifecycle ----------------------------------------------------------------------------
    @staticmethod
    def _ids(response: _Response) -> dict[str, Any]:
        return {
            "response_id": response.id,
            "item_id": response.item,
            "output_index": response.message_index,
            "content_index": 0,
        }

    async def response_for(self, turn: int) -> _Response:
        """The turn's response, announced with response.created if it is new."""
        return await self._response(turn)

    async def _response(self, turn: int) -> _Response:
        if turn not in self._responses:
            self._responses[turn] = response = _Response()
            self._assistant_items[response.item] = turn
            for old in list(self._assistant_items)[:-KEEP_TURNS]:
                del self._assistant_items[old]
            await self.wire.send(
                "response.created",
                response={
                    "id": response.id,
                    "object": "realtime.response",
                    "status": "in_progress",
                    "output": [],
                    "conversation_id": self.conversation_id,
                    "output_modalities": ["audio"],
                },
            )
        return self._responses[turn]

    async def _speaking(self, response: _Response) -> None:
        if response.speaking:
            return
        response.speaking = True
        response.message_index, response.next_index = response.next_index, response.next_index + 1
        item = {
            "id": response.item,
            "type": "message",
            "role": "assistant",
            "status": "in_progress",
            "content": [],
        }
        await self.wire.send(
            "response.output_item.added",
            response_id=response.id,
            output_index=response.message_index,
            item=item,
        )
        await self.items.add(item, done=False)
        await self.wire.send(
            "response.content_part.added",
            **{k: v for k, v in self._ids(response).items()},
            part={"type": "audio", "transcript": ""},
        )

    async def _finish(self, report: TurnReport) -> None:
        response = self._responses.pop(report.index, None)
        by_client = report.index in self._client_cancelled
        self._client_cancelled.discard(report.index)
        await self._played_out(response, report.status)
        if response is None:
            return  # nothing was said and no response was asked for
        status = STATUS[report.status]
        output = [item for _, item in sorted(response.items, key=lambda pair: pair[0])]
        if response.speaking:
            part = _spoken(report.reply, "audio")
            """A content part event's part; the item itself holds it as `output_audio`."""
            await self.wire.send("response.output_audio.done", **self._ids(response))
            await self.wire.send(
                "response.output_audio_transcript.done", **self._ids(response), transcript=report.reply
            )
            await self.wire.send("response.content_part.done", **self._ids(response), part=part)
            item = {
                "id": response.item,
                "type": "message",
                "role": "assistant",
                "status": "completed" if status == "completed" else "incomplete",
                "content": [_spoken(report.reply)],
            }
            await self.wire.send(
                "response.output_item.done",
                response_id=response.id,
                output_index=response.message_index,
                item=item,
            )
            await self.items.done(item)
            output.insert(response.message_index, item)
        metadata = {f"{k}_ms": str(v) for k, v in report.timeline.timings_ms().items() if v is not None}
        if response.metadata is not None:  # the client's own; our timings are in the turn log
            metadata = response.metadata
        elif report.route is not None:
            metadata["route_tier"] = report.route.tier
            metadata["route_score"] = f"{report.route.score:.3f}"
            metadata["route_strategy"] = report.route.strategy  # "overload": the tier was busy
        await self.wire.send(
            "response.done",
            response={
                "id": response.id,
                "object": "realtime.response",
                "status": status,
                "status_details": {
                    "type": status,
                    "reason": None if status != "cancelled" else _cancel_reason(by_client),
                    "error": self._failures.pop(report.index, None),
                },
                "conversation_id": self.conversation_id,
                "output_modalities": ["audio"],
                "usage": usage_of(report.usage),
                "output": output,
                "metadata": metadata,
            },
        )


def _cancel_reason(by_client: bool) -> str:
    return "client_cancelled" if by_client else "turn_detected"


def _spoken(transcript: str, kind: str = "output_audio") -> dict[str, Any]:
    """A reply's audio part: `output_audio` in an item, `audio` in a content part event."""
    return {"type": kind, "transcript": transcript}
