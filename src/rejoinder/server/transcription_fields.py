"""Checks for the form fields of /v1/audio/transcriptions that the STT cannot honour, so a client
hears a 400 naming the field instead of a transcript that quietly ignored it.

Found by probing with the openai SDK's `transcriptions.create`: `language="fr"` and `"klingon"`
were accepted by the English-only Moonshine, `temperature=5` and `prompt` were ignored,
`timestamp_granularities=["word"]` came back without words, `include=["logprobs"]` without
logprobs, a `server_vad` chunking strategy was ignored, and `stream=True` answered plain JSON
that the SDK read as an empty stream.
"""

from __future__ import annotations

import math
import re

from multidict import MultiDict

from rejoinder.config import STTConfig
from rejoinder.server.limits import RequestError

ENGLISH_ONLY_BACKENDS = frozenset({"moonshine"})
"""STT backends that transcribe English only (moonshine refuses any other language at load)."""

_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}$")


def stt_languages(config: STTConfig) -> frozenset[str] | None:
    """The languages the loaded STT transcribes, or None where it detects the language itself."""
    if config.language:
        return frozenset({config.language.lower()})
    if config.backend in ENGLISH_ONLY_BACKENDS:
        return frozenset({"en"})
    return None


def _values(fields: MultiDict[str], name: str) -> list[str]:
    """A list field as the SDK sends it (`name[]`), or as a plain repeated `name`."""
    return [v.strip() for v in fields.getall(f"{name}[]", []) + fields.getall(name, []) if v.strip()]


def check_transcription_fields(fields: MultiDict[str], response_format: str, stt: STTConfig) -> None:
    """Refuse what the STT would not do: another language, a prompt, a sampling temperature,
    word timestamps, logprobs, a chunking strategy other than its own VAD, or streaming."""
    language = fields.get("language", "").strip()
    if language:
        if not _LANGUAGE.match(language):
            raise RequestError(
                f"'language' must be an ISO-639-1 code such as 'en', not {language[:40]!r}", param="language"
            )
        known = stt_languages(stt)
        if known is not None and language.lower() not in known:
            raise RequestError(
                f"'language': this server's STT ({stt.backend}) transcribes {', '.join(sorted(known))} only",
                param="language",
            )
    if fields.get("prompt", "").strip():
        raise RequestError("'prompt' is not supported by this server's STT; leave it out", param="prompt")
    _check_temperature(fields.get("temperature", "").strip())
    granularities = _values(fields, "timestamp_granularities")
    for granularity in granularities:
        if granularity not in ("segment", "word"):
            raise RequestError(
                f"'timestamp_granularities' may hold 'segment' or 'word', not {granularity[:40]!r}",
                param="timestamp_granularities",
            )
    if "word" in granularities:
        raise RequestError(
            "'timestamp_granularities': word timestamps are not supported; 'segment' is "
            "(one segment per utterance)",
            param="timestamp_granularities",
        )
    if granularities and response_format != "verbose_json":
        raise RequestError(
            "'timestamp_granularities' needs response_format 'verbose_json'", param="timestamp_granularities"
        )
    if _values(fields, "include"):
        raise RequestError(
            "'include': logprobs are not supported by this server's STT; leave it out", param="include"
        )
    strategy = fields.get("chunking_strategy", "auto").strip() or "auto"
    if strategy != "auto" or any(key.startswith("chunking_strategy[") for key in fields):
        raise RequestError(
            "'chunking_strategy': only 'auto' is supported (the server's own VAD splits the audio)",
            param="chunking_strategy",
        )
    if fields.get("stream", "false").strip().lower() not in ("false", "0", ""):
        raise RequestError(
            "'stream': streamed transcriptions are not supported; leave it out", param="stream"
        )


def _check_temperature(raw: str) -> None:
    if not raw:
        return
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 <= value <= 1):
        raise RequestError("'temperature' must be a number from 0 to 1", param="temperature")
    if value != 0:
        raise RequestError(
            "'temperature': this server's STT decodes with fixed settings; leave it out or send 0",
            param="temperature",
        )
