"""The `session.update` family: instructions, voice, audio format, turn detection, limits."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError

from rejoinder.audio import PCM_RATE
from rejoinder.config import Config
from rejoinder.session import Session
from rejoinder.tools.realtime_items import SessionTools
from rejoinder.transports.realtime.tool_events import ToolEvents
from rejoinder.transports.realtime.wire import ProtocolError, Wire, expect, new_id

MAX_INSTRUCTIONS_CHARS = 4000
"""Longer instructions would not leave room for the conversation in the smallest tier's context."""
MAX_OUTPUT_TOKENS = 1024


def first_error(exc: ValidationError) -> str:
    """A validation error as one plain sentence (no pydantic URL)."""
    error = exc.errors()[0]
    return str(error["msg"])


class SessionSettings:
    """What the client configured for this connection."""

    def __init__(
        self, wire: Wire, config: Config, session: Session, model: str, tools: ToolEvents | None = None
    ) -> None:
        self.wire, self.config, self.session, self.model = wire, config, session, model
        self.tools = tools
        self.id = new_id("sess")
        self.voice = config.tts.voice
        self.vad_enabled = True
        self.on_vad_off: Callable[[], Awaitable[None]] | None = None
        """Turn detection was switched off: the input family keeps an utterance still open."""

    @property
    def create_response(self) -> bool:
        """Whether a turn the server's turn detection ends is answered at once; if not, it is
        committed and transcribed, and waits for the client's response.create (as OpenAI's)."""
        return self.session.answers_turns

    @create_response.setter
    def create_response(self, value: bool) -> None:
        self.session.answers_turns = value

    @property
    def _semantic(self) -> bool:
        """Turns end by the end-of-turn model (semantic_vad), not a fixed silence (server_vad)."""
        return self.config.vad.end_of_turn == "smart" and self.session.engine.end_of_turn is not None

    def describe(self) -> dict[str, Any]:
        vad = self.config.vad
        turn_detection: dict[str, Any] | None = None
        if self.vad_enabled and self._semantic:
            turn_detection = {
                "type": "semantic_vad",
                "eagerness": vad.eagerness,
                "create_response": self.create_response,
                "interrupt_response": vad.interrupt_response,
            }
        elif self.vad_enabled:
            turn_detection = {
                "type": "server_vad",
                "threshold": vad.threshold,
                "prefix_padding_ms": vad.prefix_padding_ms,
                "silence_duration_ms": vad.min_silence_ms,
                "create_response": self.create_response,
                "interrupt_response": vad.interrupt_response,
            }
        responder = self.session.responder
        return {
            "type": "realtime",
            "object": "realtime.session",
            "id": self.id,
            "model": self.model,
            "output_modalities": ["audio"],
            "instructions": responder.instructions or self.config.llm.system_prompt,
            "max_output_tokens": responder.max_tokens or self.config.llm.max_tokens,
            **(self.tools.describe() if self.tools is not None else {}),
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": PCM_RATE},
                    "turn_detection": turn_detection,
                    "transcription": {"model": f"{self.config.stt.backend}:{self.config.stt.model}"},
                },
                "output": {"format": {"type": "audio/pcm", "rate": PCM_RATE}, "voice": self.voice},
            },
        }

    async def update(self, message: dict[str, Any]) -> None:
        """All of a session.update or none of it: a refused field leaves every setting as it was
        (found by probing: instructions and tools were kept from updates that got an error)."""
        session = expect(message.get("session"), dict, "session", "an object")
        tools = None
        if self.tools is not None and ("tools" in session or "tool_choice" in session):
            tools = await asyncio.to_thread(self.tools.parse, session)  # other sessions go on
        saved = self._snapshot()
        was_enabled = self.vad_enabled
        try:
            self._apply(session, tools)
        except ProtocolError:
            self._restore(saved)
            raise
        if was_enabled and not self.vad_enabled and self.on_vad_off is not None:
            await self.on_vad_off()
        await self.wire.send("session.updated", session=self.describe())

    def _snapshot(self) -> tuple[Any, ...]:
        r = self.session.responder
        tools = self.tools.settings() if self.tools is not None else None
        return (
            r.instructions,
            r.max_tokens,
            self.voice,
            self.config.vad,
            self.vad_enabled,
            self.create_response,
            tools,
        )

    def _restore(self, saved: tuple[Any, ...]) -> None:
        r = self.session.responder
        r.instructions, r.max_tokens, self.voice, vad, self.vad_enabled, self.create_response, tools = saved
        if self.tools is not None and tools is not None:
            self.tools.restore(tools)
        if self.config.vad is not vad:
            self.config.vad = vad
            self.session.reset_detector()

    def _apply(self, session: dict[str, Any], tools: SessionTools | None) -> None:
        responder = self.session.responder
        if "instructions" in session:
            responder.instructions = instructions(session["instructions"], "session.instructions")
        audio = expect(session.get("audio", {}), dict, "session.audio", "an object")
        output = expect(audio.get("output", {}), dict, "session.audio.output", "an object")
        input_cfg = expect(audio.get("input", {}), dict, "session.audio.input", "an object")
        voice = session.get("voice", output.get("voice"))
        if voice is not None:  # one packaged voice: any name is accepted and reported back
            self.voice = expect(voice, str, "session.audio.output.voice", "a string")[:64]
        for param, fmt in (
            ("session.audio.input.format", input_cfg.get("format", {})),
            ("session.audio.output.format", output.get("format", {})),
        ):
            fmt = expect(fmt, dict, param, "an object")
            if fmt and (fmt.get("type", "audio/pcm") != "audio/pcm" or fmt.get("rate", PCM_RATE) != PCM_RATE):
                raise ProtocolError(f"only audio/pcm at {PCM_RATE} Hz is supported", "invalid_value", param)
        _check_unsupported(session)
        if self.tools is not None:
            self.tools.apply(tools)
        if "turn_detection" in input_cfg or "turn_detection" in session:
            self._turn_detection(input_cfg.get("turn_detection", session.get("turn_detection")))
        if "max_output_tokens" in session:
            responder.max_tokens = max_output_tokens(
                session["max_output_tokens"], "session.max_output_tokens"
            )

    def _turn_detection(self, td: Any) -> None:
        param = "session.audio.input.turn_detection"
        if td is None:
            self.vad_enabled = False
            return
        td = expect(td, dict, param, "null or an object")
        kind = td.get("type", "server_vad")
        vad = self.config.vad.model_copy()
        if kind == "semantic_vad":
            if self.session.engine.end_of_turn is None:
                raise ProtocolError(
                    "semantic_vad needs the end-of-turn model, which this server did not load "
                    "(it runs with end_of_turn 'silence'); use server_vad",
                    "invalid_value",
                    f"{param}.type",
                )
            eagerness = td.get("eagerness", "auto")
            if eagerness not in ("low", "medium", "high", "auto"):
                raise ProtocolError(
                    f"{param}.eagerness must be low, medium, high or auto",
                    "invalid_value",
                    f"{param}.eagerness",
                )
            vad.end_of_turn, vad.eagerness = "smart", eagerness
            fields = [("interrupt_response", "interrupt_response")]
        elif kind == "server_vad":
            vad.end_of_turn = "silence"
            fields = [
                ("threshold", "threshold"),
                ("silence_duration_ms", "min_silence_ms"),
                ("prefix_padding_ms", "prefix_padding_ms"),
                ("interrupt_response", "interrupt_response"),
            ]
        else:
            raise ProtocolError(
                f"{param}.type must be 'server_vad' or 'semantic_vad' (or the whole setting null)",
                "invalid_value",
                f"{param}.type",
            )
        key = ""
        try:
            for key, field in fields:
                if key in td and td[key] is not None:
                    setattr(vad, field, td[key])
        except ValidationError as exc:
            raise ProtocolError(
                f"{param}.{key}: {first_error(exc)}", "invalid_value", f"{param}.{key}"
            ) from None
        create = expect(td.get("create_response", True), bool, f"{param}.create_response", "a boolean")
        self.config.vad = vad  # only once every field is known good
        self.create_response = create
        self.vad_enabled = True
        self.session.reset_detector()


def _check_unsupported(session: dict[str, Any]) -> None:
    """Settings this server cannot honour are refused, not echoed back and ignored (found by
    probing: g711 formats were accepted and μ-law bytes would have been read as PCM16; text-only
    output was accepted and audio sent anyway)."""
    for param in ("input_audio_format", "output_audio_format"):  # the beta protocol's names
        if param in session and session[param] != "pcm16":
            raise ProtocolError(
                f"session.{param}: only pcm16 is supported", "invalid_value", f"session.{param}"
            )
    for param in ("output_modalities", "modalities"):
        if param in session:
            check_modalities(session[param], f"session.{param}")


def instructions(value: Any, param: str) -> str | None:
    text = expect(value, str, param, "a string")
    if len(text) > MAX_INSTRUCTIONS_CHARS:
        raise ProtocolError(
            f"{param} is {len(text)} characters; at most {MAX_INSTRUCTIONS_CHARS} fit "
            "beside the conversation",
            "invalid_value",
            param,
        )
    return text or None


def max_output_tokens(value: Any, param: str) -> int | None:
    """An integer limit, or None for 'inf' (the model's own)."""
    if value in (None, "inf"):
        return None
    limit = expect(value, int, param, "an integer or 'inf'")
    if not 1 <= limit <= MAX_OUTPUT_TOKENS:
        raise ProtocolError(f"{param} must be 1 to {MAX_OUTPUT_TOKENS} or 'inf'", "invalid_value", param)
    return int(limit)


def check_modalities(value: Any, param: str) -> None:
    kinds = expect(value, list, param, "a list")
    if "audio" not in kinds or not set(kinds) <= {"audio", "text"}:
        raise ProtocolError(
            f"{param}: replies are spoken here; give ['audio'] (the text is its transcript)",
            "invalid_value",
            param,
        )
