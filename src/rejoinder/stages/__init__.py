"""Typed protocols for the four stages; backends implement them, sessions call them."""

from rejoinder.stages.llm import LLM, GenerationParams, Message
from rejoinder.stages.stt import STT, Transcript
from rejoinder.stages.tts import TTS
from rejoinder.stages.vad import VAD, VADStream

__all__ = ["LLM", "STT", "TTS", "VAD", "GenerationParams", "Message", "Transcript", "VADStream"]
