"""OpenAI-compatible model endpoints for the models this server has loaded, so one machine (with
a GPU, say) can serve STT, LLM and TTS to many pipeline machines running the `remote` preset."""

from __future__ import annotations

import json
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from rejoinder.audio import PCM_RATE, StreamResampler, to_pcm16
from rejoinder.chunking import clean_for_speech
from rejoinder.errors import BadInputError
from rejoinder.server.chat_tools import chat_tools, complete_with_tools, tool_message
from rejoinder.server.errors import error_response
from rejoinder.stages.llm import GenerationParams, Message, supports_tools

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BadInputError("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BadInputError("the body must be a JSON object")
    return body


def _bad_input_is_400(handler: Handler) -> Handler:
    """A request the endpoint cannot use gets an OpenAI-style 400, never a 500."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except BadInputError as exc:
            return error_response(str(exc))

    return wrapped


def _messages(body: dict[str, Any]) -> list[Message]:
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise BadInputError("'messages' must be a non-empty array")
    out: list[Message] = []
    for m in raw:
        if isinstance(m, dict) and (m.get("role") == "tool" or m.get("tool_calls")):
            out.append(tool_message(m))
            continue
        if not isinstance(m, dict) or m.get("role") not in ("system", "developer", "user", "assistant"):
            raise BadInputError("each message needs a role of system, user or assistant")
        content = m.get("content", "")
        if isinstance(content, list):  # content parts: keep the text ones
            content = " ".join(
                p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"
            )
        if not isinstance(content, str):
            raise BadInputError("message content must be a string or text parts")
        out.append({"role": "system" if m["role"] == "developer" else m["role"], "content": content})
    return out


def _params(body: dict[str, Any], defaults: Any) -> GenerationParams:
    try:
        max_tokens = int(body.get("max_completion_tokens") or body.get("max_tokens") or defaults.max_tokens)
        temperature = float(body.get("temperature", defaults.temperature))
        top_p = float(body.get("top_p", defaults.top_p))
        seed = body.get("seed", defaults.seed)
        seed = None if seed is None else int(seed)
    except (TypeError, ValueError):
        raise BadInputError("temperature, top_p, max_tokens and seed must be numbers") from None
    if not (0 <= temperature <= 2 and 0 < top_p <= 1 and 1 <= max_tokens <= 8192):
        raise BadInputError("out of range: temperature 0-2, top_p (0, 1], max_tokens 1-8192")
    return GenerationParams(temperature=temperature, top_p=top_p, max_tokens=max_tokens, seed=seed)


def add_routes(app: web.Application, engine_key: Any) -> None:
    def engine(request: web.Request) -> Any:
        return request.app[engine_key]

    async def models(request: web.Request) -> web.Response:
        config = engine(request).config
        names = {
            f"{config.llm.backend}:{config.llm.model}",
            f"{config.stt.backend}:{config.stt.model}",
            f"{config.tts.backend}:{config.tts.voice}",
        }
        return web.json_response(
            {
                "object": "list",
                "data": [
                    {"id": n, "object": "model", "created": 0, "owned_by": "rejoinder"} for n in sorted(names)
                ],
            }
        )

    async def chat(request: web.Request) -> web.StreamResponse:
        body = await _json(request)
        eng = engine(request)
        messages = _messages(body)
        params = _params(body, eng.config.llm)
        cid, created, model = (
            f"chatcmpl-{uuid.uuid4().hex[:24]}",
            int(time.time()),
            str(body.get("model", "rejoinder")),
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

        capable = [t.llm for t in eng.tiers if supports_tools(t.llm)]  # the strongest that can
        tool_llm = capable[-1] if capable else eng.llm
        tools, tool_choice = chat_tools(body, tool_llm)
        if tools:
            envelope = {"id": cid, "created": created, "model": model}
            return await complete_with_tools(
                request,
                tool_llm,
                messages,
                params,
                tools,
                tool_choice,
                bool(body.get("stream")),
                chunk,
                envelope,
            )
        if not body.get("stream"):
            text = "".join([piece async for piece in eng.llm.stream(messages, params)])
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
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
                }
            )
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        await response.write(chunk({"role": "assistant", "content": ""}))
        async for piece in eng.llm.stream(messages, params):  # a client hanging up cancels this loop
            await response.write(chunk({"content": piece}))
        await response.write(chunk({}, "stop"))
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    async def transcriptions(request: web.Request) -> web.Response:
        from rejoinder.transports.file import transcribe_file

        if not request.content_type.startswith("multipart/"):
            return error_response("send multipart/form-data with a 'file' field")
        fields: dict[str, str] = {}
        with tempfile.TemporaryDirectory() as tmp:
            path: Path | None = None
            reader = await request.multipart()
            async for part in reader:
                if part.name == "file":  # type: ignore[union-attr]
                    path = Path(tmp) / "upload"
                    with open(path, "wb") as f:
                        while block := await part.read_chunk():  # type: ignore[union-attr]
                            f.write(block)
                elif part.name:  # type: ignore[union-attr]
                    fields[part.name] = await part.text()  # type: ignore[union-attr]
            if path is None:
                return error_response("the 'file' field is missing", param="file")
            try:
                segments = await transcribe_file(engine(request), path)
            except BadInputError as exc:
                return error_response(str(exc).replace(str(path), "file"), param="file")
        text = " ".join(str(s["text"]) for s in segments)
        if fields.get("response_format") == "text":
            return web.Response(text=text)
        if fields.get("response_format") == "verbose_json":
            return web.json_response(
                {
                    "text": text,
                    "segments": [
                        {"id": i, "start": s["start_s"], "end": s["end_s"], "text": s["text"]}
                        for i, s in enumerate(segments)
                    ],
                }
            )
        return web.json_response({"text": text})

    async def speech(request: web.Request) -> web.StreamResponse:
        body = await _json(request)
        text = clean_for_speech(str(body.get("input", "")))
        fmt = body.get("response_format", "pcm")
        if not any(ch.isalnum() for ch in text):
            return error_response("'input' has nothing speakable", param="input")
        if fmt not in ("pcm", "wav"):
            return error_response(
                "response_format must be pcm (24 kHz 16-bit mono) or wav", param="response_format"
            )
        tts = engine(request).tts
        resample = StreamResampler(tts.sample_rate, PCM_RATE)
        if fmt == "wav":
            import numpy as np

            from rejoinder.backends.openai_compat import wav_bytes

            audio = [resample(chunk) async for chunk in tts.stream(text)]
            return web.Response(body=wav_bytes(np.concatenate(audio), PCM_RATE), content_type="audio/wav")
        response = web.StreamResponse(headers={"Content-Type": "audio/pcm"})
        await response.prepare(request)
        async for chunk in tts.stream(text):
            await response.write(to_pcm16(resample(chunk)))
        await response.write_eof()
        return response

    app.router.add_get("/v1/models", models)
    app.router.add_post("/v1/chat/completions", _bad_input_is_400(chat))
    app.router.add_post("/v1/audio/transcriptions", _bad_input_is_400(transcriptions))
    app.router.add_post("/v1/audio/speech", _bad_input_is_400(speech))
