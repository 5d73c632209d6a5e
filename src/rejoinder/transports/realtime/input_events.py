"""The input family: `input_audio_buffer.*` and `conversation.item.*` from the client, and the
speech and transcript events the server reports about what the user said."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import numpy as np

from rejoinder.audio import PCM_RATE, SAMPLE_RATE, StreamResampler, from_pcm16
from rejoinder.events import Transcribed, UserSpeechStarted, UserSpeechStopped
from rejoinder.playback import KEEP_TURNS
from rejoinder.session import Session
from rejoinder.transports.realtime.items import Items, user_audio
from rejoinder.transports.realtime.session_events import SessionSettings
from rejoinder.transports.realtime.tool_events import ToolEvents
from rejoinder.transports.realtime.wire import ProtocolError, Wire, expect, new_id

MAX_BUFFER_S = 120.0
"""Manual (no VAD) input buffer limit."""
MAX_TEXT_CHARS = 4000
"""A typed user message; longer ones would not fit the smallest tier's context."""
MAX_PENDING_CHARS = 4 * MAX_TEXT_CHARS
"""Words waiting for response.create: typed items past it are refused, spoken ones keep the newest."""
PARTS = {
    "user": ("input_text", "text", "input_audio"),
    "assistant": ("output_text", "text", "output_audio"),
    "system": ("input_text", "text"),
}
"""The content parts a message item may hold, by role (images are not read)."""


class Input:
    def __init__(
        self, wire: Wire, session: Session, settings: SessionSettings, items: Items, tools: ToolEvents
    ) -> None:
        self.wire, self.session, self.settings, self.tools = wire, session, settings, tools
        self.items = items
        items.on_delete = self._forget_pending
        self._resample = StreamResampler(PCM_RATE, SAMPLE_RATE)
        self._manual: list[np.ndarray] = []
        self._manual_samples = 0
        self._pending: list[tuple[str | None, str]] = []
        """The user's committed words waiting for `response.create`, by item: every item since
        the last response, in order (a second item used to replace the first)."""
        session.on_unanswered = self._add_pending  # create_response: false
        self._item_ids: dict[int, str] = {}
        self._spoken_s: dict[int, float] = {}
        """Seconds of speech per turn (start time while it is still open), for usage."""
        self._open: tuple[int, str] | None = None
        """The utterance whose speech started and has not stopped: (turn, item)."""
        self._committed: set[int] = set()
        """Turns whose audio was committed and whose transcript has not been sent."""
        self._manual_item: str | None = None
        """The item an utterance open when turn detection went off keeps for its commit."""
        settings.on_vad_off = self._vad_off

    # ---- client events ------------------------------------------------------------------------
    async def append(self, message: dict[str, Any]) -> None:
        await self.feed(self._resample(pcm16(message.get("audio"), "audio")))

    async def feed(self, samples: np.ndarray) -> None:
        """16 kHz float audio from the user (WebSocket appends, or a WebRTC track)."""
        if self.settings.vad_enabled:
            await self.session.push_audio(samples)
            return
        if self._manual_samples + samples.size > MAX_BUFFER_S * SAMPLE_RATE:
            raise ProtocolError(
                f"input audio buffer is full ({MAX_BUFFER_S:g} s); commit or clear it", "buffer_full", "audio"
            )
        self._manual.append(samples)
        self._manual_samples += samples.size

    async def commit(self, message: dict[str, Any]) -> None:
        if self.settings.vad_enabled:
            if not self.session.detector.speaking:  # it used to answer nothing at all
                raise ProtocolError(
                    "the input audio buffer holds no speech to commit (with turn detection on, "
                    "speech is committed when it ends)",
                    "input_audio_buffer_commit_empty",
                )
            await self.session.end_audio()
            return
        if not self._manual_samples:
            raise ProtocolError("the input audio buffer is empty", "input_audio_buffer_commit_empty")
        audio = np.concatenate([*self._manual, self._resample.flush()])
        self._manual, self._manual_samples = [], 0
        item, self._manual_item = self._manual_item or new_id("item"), None
        self._item_ids[self.session.next_turn] = item
        self._spoken_s[self.session.next_turn] = audio.size / SAMPLE_RATE
        self._committed.add(self.session.next_turn)
        await self._commit_item(item)
        self._add_pending(await self.session.transcribe(audio), item)

    async def _vad_off(self) -> None:
        """Turn detection switched off mid-utterance: the speech so far stays in the buffer for
        the client's commit, on the item its speech_started named (found by probing: the first
        half was dropped, and that item never got speech_stopped)."""
        detector, opened, self._open = self.session.detector, self._open, None
        if detector.speaking:
            audio = detector.utterance()
            self._manual.append(audio)
            self._manual_samples += audio.size
        at_ms = int(detector.position / SAMPLE_RATE * 1000)
        self.session.reset_detector()
        if opened is not None:
            self._manual_item = opened[1]
            await self.wire.send("input_audio_buffer.speech_stopped", item_id=opened[1], audio_end_ms=at_ms)

    async def clear(self, message: dict[str, Any]) -> None:
        self._manual, self._manual_samples, self._manual_item = [], 0, None
        self._resample.flush()  # the cleared audio's tail must not start the next utterance
        self.session.reset_detector()
        await self.wire.send("input_audio_buffer.cleared")

    async def item_create(self, message: dict[str, Any]) -> None:
        item = expect(message.get("item"), dict, "item", "an object")
        self.items.check_end(message.get("previous_item_id"))
        if item.get("type") == "function_call_output":
            await self.tools.output(item)
            return
        if item.get("type", "message") != "message":
            raise ProtocolError(
                "only message and function_call_output items are supported", "invalid_value", "item.type"
            )
        role = item.get("role")
        if role not in PARTS:
            raise ProtocolError("a message's role is user, assistant or system", "invalid_value", "item.role")
        item_id = item.get("id") or new_id("item")
        expect(item_id, str, "item.id", "a string")
        self.items.check_new(item_id)  # before the STT reads an input_audio part
        content, heard = await self._content(
            role, expect(item.get("content", []), list, "item.content", "a list")
        )
        text = " ".join(part.get("text") or part.get("transcript") or "" for part in content).strip()
        if not text:
            raise ProtocolError(
                "the item has no words (text, or speech in input_audio)", "invalid_value", "item.content"
            )
        if len(text) > MAX_TEXT_CHARS:
            raise ProtocolError(
                f"the message is {len(text)} characters; at most {MAX_TEXT_CHARS}",
                "invalid_value",
                "item.content",
            )
        if role == "user" and len(self.pending_text or "") + len(text) > MAX_PENDING_CHARS:
            raise ProtocolError(
                f"more than {MAX_PENDING_CHARS} characters are waiting for a response; "
                "send response.create first",
                "invalid_value",
                "item.content",
            )
        body = {"id": item_id, "type": "message", "role": role, "status": "completed", "content": content}
        await self.items.add(body)
        for index, seconds in heard:
            await self.wire.send(
                "conversation.item.input_audio_transcription.completed",
                item_id=item_id,
                content_index=index,
                transcript=content[index]["transcript"],
                usage={"type": "duration", "seconds": round(seconds, 3)},
            )
        if role == "user":
            self._add_pending(text, item_id)
            return
        # a conversation the client restores, or a note: in the history in its place, after
        # the user's words still waiting (unanswered)
        self.session.responder.heard_unanswered(self.take_pending() or "")
        self.session.history.append({"role": role, "content": text})

    async def _content(
        self, role: str, content: list[Any]
    ) -> tuple[list[dict[str, Any]], list[tuple[int, float]]]:
        """A message's parts as this server reads them, and the spoken parts it transcribed
        (index, seconds); a part it cannot read is refused (an image used to be dropped)."""
        parts: list[dict[str, Any]] = []
        heard: list[tuple[int, float]] = []
        for i, part in enumerate(content):
            part = expect(part, dict, f"item.content[{i}]", "an object")
            kind = part.get("type")
            if kind not in PARTS[role]:
                raise ProtocolError(
                    f"a {role} message's parts are {', '.join(PARTS[role])}; "
                    f"{str(kind)[:40]!r} is not supported",
                    "invalid_value",
                    f"item.content[{i}].type",
                )
            if kind == "input_audio":
                audio = StreamResampler(PCM_RATE, SAMPLE_RATE)(
                    pcm16(part.get("audio"), f"item.content[{i}].audio"), last=True
                )
                if not audio.size:
                    raise ProtocolError("the audio is empty", "invalid_value", f"item.content[{i}].audio")
                transcript = (await self.session.engine.stt.transcribe(audio)).text.strip()
                parts.append({"type": "input_audio", "transcript": transcript})
                heard.append((i, audio.size / SAMPLE_RATE))
                continue
            field = "transcript" if kind == "output_audio" else "text"
            words = expect(part.get(field, ""), str, f"item.content[{i}].{field}", "a string").strip()
            parts.append({"type": kind, field: words})
        return parts, heard

    @property
    def pending_text(self) -> str | None:
        return "\n".join(text for _, text in self._pending) or None

    def take_pending(self) -> str | None:
        """The words a response.create answers; none wait after it."""
        text, self._pending = self.pending_text, []
        return text

    def _add_pending(self, text: str, item_id: str | None = None) -> None:
        text = text.strip()
        if text:
            self._pending.append((item_id, text))
        while len(self._pending) > 1 and len(self.pending_text or "") > MAX_PENDING_CHARS:
            del self._pending[0]  # spoken words past the cap: the newest are kept

    def _forget_pending(self, item_id: str) -> None:
        self._pending = [(item, text) for item, text in self._pending if item != item_id]

    async def _commit_item(self, item: str) -> None:
        await self.wire.send("input_audio_buffer.committed", item_id=item, previous_item_id=self.items.last)
        await self.items.add(user_audio(item))

    # ---- session events -> server events ------------------------------------------------------
    async def speech_started(self, event: UserSpeechStarted) -> None:
        self._item_ids[event.turn] = item = new_id("item")
        self._spoken_s[event.turn] = event.at_s
        self._open = (event.turn, item)
        for old in sorted(self._item_ids)[:-KEEP_TURNS]:
            del self._item_ids[old]
            self._spoken_s.pop(old, None)
        await self.wire.send(
            "input_audio_buffer.speech_started", item_id=item, audio_start_ms=int(event.at_s * 1000)
        )

    async def speech_stopped(self, event: UserSpeechStopped) -> None:
        if self._open is not None and self._open[0] != event.turn:
            # a typed turn took the index this speech was given when it started: one item still
            # (found by probing: speech_stopped and committed named another item than speech_started)
            started, item = self._open
            self._item_ids.pop(started, None)
            self._item_ids[event.turn] = item
            self._spoken_s[event.turn] = self._spoken_s.pop(started, event.at_s)
        self._open = None
        self._committed.add(event.turn)
        for old in sorted(self._committed)[:-KEEP_TURNS]:
            self._committed.discard(old)
        item = self._item_ids.setdefault(event.turn, new_id("item"))
        self._spoken_s[event.turn] = max(0.0, event.at_s - self._spoken_s.get(event.turn, event.at_s))
        await self.wire.send(
            "input_audio_buffer.speech_stopped", item_id=item, audio_end_ms=int(event.at_s * 1000)
        )
        await self._commit_item(item)

    async def transcribed(self, event: Transcribed) -> None:
        """Once per spoken item: a manual commit is transcribed when committed, and its turn
        reports the same words again at response.create (it used to send them twice)."""
        if event.turn in self._committed and event.turn in self._item_ids and event.turn in self._spoken_s:
            self._committed.discard(event.turn)
            self.items.transcribed(self._item_ids[event.turn], event.text)
            await self.wire.send(
                "conversation.item.input_audio_transcription.completed",
                item_id=self._item_ids[event.turn],
                content_index=0,
                transcript=event.text,
                usage={"type": "duration", "seconds": round(self._spoken_s.pop(event.turn), 3)},
            )


def pcm16(data: Any, param: str) -> np.ndarray:
    """Base64 PCM16 (24 kHz mono, as the protocol sends it) as float samples."""
    data = expect(data, str, param, "base64 PCM16 audio")
    try:
        pcm = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolError("audio is not valid base64", "invalid_value", param) from None
    if len(pcm) % 2:
        raise ProtocolError("audio must be whole PCM16 samples (an even byte count)", "invalid_value", param)
    return from_pcm16(pcm)
