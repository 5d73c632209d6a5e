"""/v1/audio/transcriptions, probed with the openai SDK and raw multipart uploads: an upload it
cannot take, or a field it would not honour, is a 400 naming the field, never a 500 or an answer
that quietly ignored what was asked."""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

import aiohttp
import numpy as np
import soundfile as sf

from fake_engine import fake_engine
from rejoinder.backends.fake import silence, tone
from server_helpers import running_server

Part = tuple[str, str | bytes, str | None]
"""A form field: (name, value, filename or None for a plain field)."""


def one_tone_wav() -> bytes:
    """One utterance (the fake STT reads it as its first script line)."""
    out = io.BytesIO()
    sf.write(out, np.concatenate([silence(0.5), tone(0, 1.0), silence(1.0)]), 16_000, format="WAV")
    return out.getvalue()


WAV = one_tone_wav()


async def upload_all(base: str, forms: list[list[Part]]) -> list[tuple[int, Any]]:
    """Each form posted in turn: (status, JSON body, or the text when it is not JSON)."""
    out = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(30)) as client:
        for parts in forms:
            form = aiohttp.FormData()
            for name, value, filename in parts:
                if filename is None:
                    form.add_field(name, value)
                else:
                    form.add_field(name, value, filename=filename, content_type="audio/wav")
            async with client.post(base + "/v1/audio/transcriptions", data=form) as r:
                text = await r.text()
                out.append((r.status, json.loads(text) if r.content_type == "application/json" else text))
    return out


def refused(answer: tuple[int, Any], param: str, words: str) -> None:
    status, body = answer
    assert status == 400 and isinstance(body, dict), answer
    error = body["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param, error
    assert words in error["message"], error


def test_two_files_and_a_huge_file_name_are_400s_naming_file() -> None:
    """Two files were written one after the other into the same upload (200, the first one's
    words); a file name past aiohttp's header line limit was a text/plain 500."""
    forms: list[list[Part]] = [
        [("file", WAV, "a.wav"), ("file", WAV, "b.wav"), ("model", "whisper-1", None)],
        [("file", WAV, "a" * 10_000 + ".wav"), ("model", "whisper-1", None)],
        [("file", WAV, "../../../../tmp/evil.wav"), ("model", "whisper-1", None)],  # the name is not used
    ]
    with running_server(fake_engine()) as base:
        two, huge, traversal = asyncio.run(upload_all(base, forms))
    refused(two, "file", "one 'file'")
    refused(huge, "file", "too long")
    assert traversal == (200, {"text": "What is the capital of Italy?"})


def test_fields_the_stt_cannot_honour_are_400s_naming_them() -> None:
    """Each of these came back with a 200 that ignored it (the SDK's stream=True read the JSON as
    an empty stream); the fields the SDK sends for a plain request still pass."""
    base_form: list[Part] = [("file", WAV, "a.wav"), ("model", "whisper-1", None)]
    verbose: list[Part] = [("response_format", "verbose_json", None)]
    bad: list[tuple[list[Part], str, str]] = [
        ([("language", "fr", None)], "language", "en only"),
        ([("language", "klingon", None)], "language", "ISO-639-1"),
        ([("prompt", "Rome, Italy", None)], "prompt", "not supported"),
        ([("temperature", "5", None)], "temperature", "0 to 1"),
        ([("temperature", "nan", None)], "temperature", "0 to 1"),
        ([("temperature", "0.5", None)], "temperature", "fixed settings"),
        ([*verbose, ("timestamp_granularities[]", "word", None)], "timestamp_granularities", "word"),
        (
            [
                *verbose,
                ("timestamp_granularities[]", "word", None),
                ("timestamp_granularities[]", "segment", None),
            ],
            "timestamp_granularities",
            "word timestamps",
        ),
        ([("timestamp_granularities[]", "segment", None)], "timestamp_granularities", "verbose_json"),
        ([("include[]", "logprobs", None)], "include", "logprobs"),
        ([("chunking_strategy[type]", "server_vad", None)], "chunking_strategy", "auto"),
        ([("stream", "true", None)], "stream", "not supported"),
    ]
    good: list[list[Part]] = [
        [("language", "en", None), ("temperature", "0", None), ("stream", "false", None)],
        [("chunking_strategy", "auto", None), ("prompt", "", None)],
        [*verbose, ("timestamp_granularities[]", "segment", None)],
    ]
    forms = [base_form + extra for extra, _, _ in bad] + [base_form + extra for extra in good]
    with running_server(fake_engine()) as base:
        answers = asyncio.run(upload_all(base, forms))
    for answer, (_, param, words) in zip(answers, bad, strict=False):
        refused(answer, param, words)
    plain, auto, segments = answers[len(bad) :]
    assert plain == auto == (200, {"text": "What is the capital of Italy?"})
    assert segments[0] == 200 and segments[1]["segments"][0]["text"] == "What is the capital of Italy?"


def test_a_stt_that_detects_the_language_takes_any_code_and_a_fixed_one_only_its_own() -> None:
    detecting, german = fake_engine(), fake_engine()
    detecting.config.stt.backend, detecting.config.stt.language = "faster-whisper", None
    german.config.stt.backend, german.config.stt.language = "faster-whisper", "de"
    forms: list[list[Part]] = [
        [("file", WAV, "a.wav"), ("language", code, None)] for code in ("fr", "en", "de")
    ]
    with running_server(detecting) as base:
        any_code = asyncio.run(upload_all(base, forms))
    with running_server(german) as base:
        fixed = asyncio.run(upload_all(base, forms))
    assert [status for status, _ in any_code] == [200, 200, 200]
    refused(fixed[0], "language", "de only")
    refused(fixed[1], "language", "de only")
    assert fixed[2][0] == 200


def test_verbose_json_says_the_task_language_and_duration() -> None:
    """OpenAI's verbose_json has them (found by probing: neither language nor duration came back)."""
    form: list[Part] = [
        ("file", WAV, "a.wav"),
        ("model", "whisper-1", None),
        ("response_format", "verbose_json", None),
    ]
    with running_server(fake_engine()) as base:
        [(status, body)] = asyncio.run(upload_all(base, [form]))
    assert status == 200 and body["task"] == "transcribe" and body["language"] == "en", body
    assert abs(body["duration"] - 2.5) < 0.05 and body["text"] == "What is the capital of Italy?"
    assert [(s["id"], s["text"]) for s in body["segments"]] == [(0, "What is the capital of Italy?")]
