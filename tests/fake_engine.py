"""An engine whose every stage is a scripted fake (rejoinder.backends.fake), for the fast set
(`pytest tests/fast`): no model package, seconds per test."""

from __future__ import annotations

from rejoinder.backends.fake import FakeLLM, FakeSTT, FakeTTS, FakeVAD
from rejoinder.config import Config
from rejoinder.engine import Engine

SCRIPT = ["What is the capital of Italy?", "Tell me more.", "Wait, stop.", "Uh-huh."]


def fake_engine(reply: str = "Rome is the capital of Italy.", **stages: object) -> Engine:
    config = Config()
    config.vad.min_silence_ms = 300
    parts: dict[str, object] = {
        "vad": FakeVAD(),
        "stt": FakeSTT(script=SCRIPT),
        "llm": FakeLLM(reply=reply),
        "tts": FakeTTS(word_s=0.05),  # short speech keeps paced replies quick; barge-in tests pass longer
        **stages,
    }
    return Engine.from_stages(config, **parts)
