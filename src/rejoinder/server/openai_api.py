"""OpenAI-compatible model endpoints for the models this server has loaded, so one machine (with
a GPU, say) can serve STT, LLM and TTS to many pipeline machines running the `remote` preset."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import tempfile
import time
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from rejoinder.audio import PCM_RATE, StreamResampler, probe_duration, to_pcm16
from rejoinder.backends.worker import batch_priority
from rejoinder.chunking import clean_for_speech
from rejoinder.errors import BadInputError
from rejoinder.server.chat_content import check_tool_results, content_text
from rejoinder.server.chat_fields import cut_at_stop, response_format, stop_sequences
from rejoinder.server.chat_options import (
    chat_options,
    finish_reason,
    usage_event,
)
from rejoinder.server.chat_params import generation_params
from rejoinder.server.chat_tools import chat_tools, chat_usage, complete_with_tools, tool_message
from rejoinder.server.errors import error_response
from rejoinder.server.limits import (
    API_LIMITS,
    ApiLimits,
    ClientGone,
    RequestError,
    capped_multipart,
    read_json,
    unless_client_leaves,
)
from rejoinder.server.request_fields import (
    check_choice_count,
    check_speed,
    check_unhonoured_chat_fields,
    check_voice,
    model_name,
)
from rejoinder.server.speech_formats import check_instructions, open_encoder, speech_format, wants_events
from rejoinder.server.sse import stream_events, stream_speech_events
from rejoinder.server.transcription_fields import check_transcription_fields
from rejoinder.speech_pieces import speech_pieces
from rejoinder.stages.llm import Message, supports_tools

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _model_endpoint(handler: Handler) -> Handler:
    """Model calls at batch priority (behind live voice turns), stopped if the client leaves;
    a request the endpoint cannot use gets an OpenAI-style 4xx, never a 500."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            with batch_priority():  # the task copies this context: its model calls queue as batch
                work = asyncio.ensure_future(handler(request))
            return await unless_client_leaves(request, work, request.app[API_LIMITS].poll_s)
        except RequestError as exc:
            return error_response(str(exc), exc.status, param=exc.param)
        except BadInputError as exc:  # a tool definition's FieldError names its path
            return error_response(str(exc), param=getattr(exc, "param", None))
        except (ClientGone, ConnectionError):
            return web.Response(status=499)  # nobody is listening; aiohttp drops it

    return wrapped


def _messages(body: dict[str, Any], limits: ApiLimits) -> list[Message]:
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise RequestError("'messages' must be a non-empty array", param="messages")
    if len(raw) > limits.chat_messages:
        raise RequestError(f"at most {limits.chat_messages} messages per request", param="messages")
    out: list[Message] = []
    chars = 0
    for i, m in enumerate(raw):
        message = _message(m, f"messages[{i}]")
        # tool results and call arguments count too (they reach the model like any other text)
        calls = message.get("tool_calls") or []
        chars += len(str(message.get("content") or "")) + sum(len(json.dumps(c)) for c in calls)
        if chars > limits.chat_prompt_chars:
            raise RequestError(
                f"the messages are longer than the limit of {limits.chat_prompt_chars:,} characters",
                param="messages",
            )
        out.append(message)
    check_tool_results(out)
    return out


def _message(m: Any, where: str) -> Message:
    if isinstance(m, dict) and (m.get("role") == "tool" or m.get("tool_calls")):
        return tool_message(m, where)
    if not isinstance(m, dict) or m.get("role") not in ("system", "developer", "user", "assistant"):
        raise RequestError(
            f"{where}: each message needs a role of system, developer, user, assistant or tool",
            param="messages",
        )
    content = content_text(m.get("content", ""), where)
    return {"role": "system" if m["role"] == "developer" else m["role"], "content": content}


def add_routes(app: web.Application, engine_key: Any, limits: ApiLimits | None = None) -> None:
    app[API_LIMITS] = limits or ApiLimits()

    def engine(request: web.Request) -> Any:
        return request.app[engine_key]

    def model_ids(request: web.Request) -> list[str]:
        config = engine(request).config
        return sorted(
            {
                f"{config.llm.backend}:{config.llm.model}",
                f"{config.stt.backend}:{config.stt.model}",
                f"{config.tts.backend}:{config.tts.voice}",
            }
        )

    def model_object(name: str) -> dict[str, Any]:
        return {"id": name, "object": "model", "created": 0, "owned_by": "rejoinder"}

    async def models(request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [model_object(n) for n in model_ids(request)]})

    async def model(request: web.Request) -> web.Response:
        """One listed model (the SDK's models.retrieve); found by probing: every id was a 404."""
        name = request.match_info["model"]
        if name not in model_ids(request):
            return error_response(
                f"model {name!r} does not exist here; GET /v1/models lists this server's models",
                404,
                "model_not_found",
                param="model",
            )
        return web.json_response(model_object(name))

    async def chat(request: web.Request) -> web.StreamResponse:
        limits = request.app[API_LIMITS]
        body = await read_json(request, limits.json_body_bytes)
        eng = engine(request)
        messages = _messages(body, limits)
        params = generation_params(body, eng.config.llm, min(limits.chat_max_tokens, eng.config.llm.context))
        check_choice_count(body)
        check_unhonoured_chat_fields(body)
        options = chat_options(body)
        stops = stop_sequences(body)
        params = dataclasses.replace(params, response_format=response_format(body, eng.llm))
        cid, created, model = (
            f"chatcmpl-{uuid.uuid4().hex[:24]}",
            int(time.time()),
            model_name(body, "rejoinder"),
        )

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            data = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            return f"data: {json.dumps(data)}\n\n".encode()

        envelope = {"id": cid, "created": created, "model": model}

        def trailer() -> bytes:  # after the finish chunk, once the model has counted its tokens
            return usage_event(envelope, chat_usage(params.usage)) if options.include_usage else b""

        capable = [t.llm for t in eng.tiers if supports_tools(t.llm)]  # the strongest that can
        tool_llm = capable[-1] if capable else eng.llm
        tools, tool_choice = await asyncio.to_thread(chat_tools, body, tool_llm)  # off the loop: big schemas
        if tools:
            for name, value in (("stop", stops), ("response_format", params.response_format)):
                if value:
                    raise RequestError(
                        f"'{name}' cannot be combined with tools here; leave one out", param=name
                    )
            return await complete_with_tools(
                request,
                tool_llm,
                messages,
                params,
                tools,
                tool_choice,
                options,
                chunk,
                envelope,
                trailer,
            )
        if not options.stream:
            text = "".join([piece async for piece in cut_at_stop(eng.llm.stream(messages, params), stops)])
            return web.json_response(
                {
                    "id": cid,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text},
                            "finish_reason": finish_reason(params.usage, params.max_tokens),
                        }
                    ],
                    "usage": chat_usage(params.usage),
                }
            )

        async def write(response: web.StreamResponse, piece: str) -> None:
            await response.write(chunk({"content": piece}))

        return await stream_events(
            request,
            cut_at_stop(eng.llm.stream(messages, params), stops),
            write,
            chunk({"role": "assistant", "content": ""}),
            lambda: chunk({}, finish_reason(params.usage, params.max_tokens)) + trailer(),
        )

    async def transcriptions(request: web.Request) -> web.Response:
        from rejoinder.transports.file import transcribe_file

        limits = request.app[API_LIMITS]
        if not request.content_type.startswith("multipart/"):
            raise RequestError("send multipart/form-data with a 'file' field")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "upload"
            with open(path, "wb") as sink:
                got_file, fields = await capped_multipart(request, limits, sink)
            if not got_file:
                raise RequestError("the 'file' field is missing", param="file")
            fmt = fields.get("response_format", "json")
            if fmt not in TRANSCRIPT_FORMATS:
                raise RequestError(
                    f"response_format must be one of {', '.join(TRANSCRIPT_FORMATS)}", param="response_format"
                )
            check_transcription_fields(fields, fmt, engine(request).config.stt)
            stated = probe_duration(path)
            if stated is not None and stated > limits.upload_s:
                raise RequestError(_too_long(stated, limits.upload_s), param="file")
            heard = [0.0]  # seconds decoded: the progress callback's last figure is the duration
            try:
                segments = await transcribe_file(
                    engine(request), path, progress=lambda s: heard.__setitem__(0, s), max_s=limits.upload_s
                )
            except BadInputError as exc:
                raise RequestError(str(exc).replace(str(path), "file"), param="file") from None
        text = " ".join(str(s["text"]) for s in segments)
        if fmt == "text":
            return web.Response(text=text)
        if fmt in ("srt", "vtt"):
            return web.Response(text=subtitles(segments, fmt))
        if fmt == "verbose_json":
            return web.json_response(
                {
                    "task": "transcribe",
                    "language": next(
                        (str(s["language"]) for s in segments if s.get("language")),
                        engine(request).config.stt.language or "",
                    ),
                    "duration": round(heard[0], 3),
                    "text": text,
                    "segments": [
                        {"id": i, "start": s["start_s"], "end": s["end_s"], "text": s["text"]}
                        for i, s in enumerate(segments)
                    ],
                }
            )
        return web.json_response({"text": text})

    async def speech(request: web.Request) -> web.StreamResponse:
        limits = request.app[API_LIMITS]
        body = await read_json(request, limits.json_body_bytes)
        raw = body.get("input", "")
        if not isinstance(raw, str):
            raise RequestError("'input' must be a string", param="input")
        if len(raw) > limits.speech_chars:
            raise RequestError(
                f"'input' is {len(raw):,} characters; the limit is {limits.speech_chars:,}", param="input"
            )
        model_name(body, "tts-1")  # not used (the loaded TTS speaks), but OpenAI's type is checked
        check_voice(body)
        check_speed(body, engine(request).config.tts.speed)
        check_instructions(body)
        fmt = speech_format(body)
        events = wants_events(body)
        text = clean_for_speech(raw)
        if not any(ch.isalnum() for ch in text):
            raise RequestError("'input' has nothing speakable", param="input")
        tts = engine(request).tts
        resample = StreamResampler(tts.sample_rate, PCM_RATE)

        async def encoded() -> AsyncGenerator[bytes, None]:
            # One piece (a sentence, or a cut of a long one) per model job: memory stays bounded
            # whatever the input, and voice turns get the model between pieces.
            encoder = open_encoder(fmt)
            try:
                for piece in speech_pieces(text, limits.speech_piece_chars):
                    async for chunk in tts.stream(piece):
                        block = await asyncio.to_thread(encoder.push, to_pcm16(resample(chunk)))
                        if block:
                            yield block
                yield await asyncio.to_thread(encoder.finish)
            finally:
                encoder.close()

        async with contextlib.aclosing(encoded()) as blocks:  # a client gone frees the encoder now
            if events:
                return await stream_speech_events(request, blocks)
            if fmt.name == "wav":  # the header needs the length: one body (bounded by speech_chars)
                return web.Response(body=b"".join([b async for b in blocks]), content_type=fmt.content_type)
            response = web.StreamResponse(headers={"Content-Type": fmt.content_type})
            await response.prepare(request)
            async for block in blocks:
                await response.write(block)
            await response.write_eof()
            return response

    app.router.add_get("/v1/models", models)
    app.router.add_get("/v1/models/{model:.+}", model)  # ids hold ":" and may hold "/"
    app.router.add_post("/v1/chat/completions", _model_endpoint(chat))
    app.router.add_post("/v1/audio/transcriptions", _model_endpoint(transcriptions))
    app.router.add_post("/v1/audio/speech", _model_endpoint(speech))


TRANSCRIPT_FORMATS = ("json", "text", "verbose_json", "srt", "vtt")


def subtitles(segments: list[dict[str, Any]], kind: str) -> str:
    """SubRip or WebVTT cues, one per utterance the VAD found (its start and end in the file)."""

    def stamp(seconds: float) -> str:
        ms = round(seconds * 1000)
        h, m, s, rest = ms // 3_600_000, ms // 60_000 % 60, ms // 1000 % 60, ms % 1000
        return f"{h:02d}:{m:02d}:{s:02d}{',' if kind == 'srt' else '.'}{rest:03d}"

    cues = [
        (f"{i}\n" if kind == "srt" else "")
        + f"{stamp(seg['start_s'])} --> {stamp(seg['end_s'])}\n{seg['text']}\n"
        for i, seg in enumerate(segments, 1)
    ]
    return ("WEBVTT\n\n" if kind == "vtt" else "") + "\n".join(cues)


def _too_long(seconds: float, limit: float) -> str:
    return f"the audio is {seconds:.0f} s long; the limit is {limit:.0f} s"
