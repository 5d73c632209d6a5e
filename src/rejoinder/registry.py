"""Backends registered by (stage, name), with a clear message when one cannot be used here.

Registration is declarative: importing this module imports no backend. A backend's module is
imported only when it is created, so a missing optional package fails with an "install the extra"
message instead of at start-up.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass, field
from typing import Any, Literal

from rejoinder.errors import BackendUnavailable, BadInputError

Stage = Literal["vad", "stt", "llm", "tts", "turn", "turn_text"]


@dataclass(frozen=True)
class BackendSpec:
    stage: Stage
    name: str
    target: str
    """'module:factory', the factory taking the stage's config model."""
    requires: tuple[str, ...] = ()
    """Import names that must be installed."""
    extra: str | None = None
    description: str = ""
    options: dict[str, Any] = field(default_factory=dict)

    def missing(self) -> list[str]:
        return [m for m in self.requires if importlib.util.find_spec(m) is None]

    @property
    def installed(self) -> bool:
        return not self.missing()


_REGISTRY: dict[tuple[str, str], BackendSpec] = {}


def register(spec: BackendSpec) -> None:
    _REGISTRY[(spec.stage, spec.name)] = spec


def specs(stage: Stage | None = None) -> list[BackendSpec]:
    return [s for s in _REGISTRY.values() if stage is None or s.stage == stage]


def get_spec(stage: Stage, name: str) -> BackendSpec:
    spec = _REGISTRY.get((stage, name))
    if spec is None:
        known = ", ".join(s.name for s in specs(stage)) or "none"
        raise BadInputError(f"unknown {stage} backend {name!r}; known: {known}")
    return spec


def create(stage: Stage, name: str, config: Any) -> Any:
    spec = get_spec(stage, name)
    missing = spec.missing()
    if missing:
        how = f"pip install 'rejoinder[{spec.extra}]'" if spec.extra else "run scripts/install.sh"
        raise BackendUnavailable(
            f"{stage} backend {name!r} needs {', '.join(missing)}, which is not installed; {how}"
        )
    module_name, factory = spec.target.split(":")
    module = importlib.import_module(module_name)
    return getattr(module, factory)(config)


# fmt: off
_BUILTIN: tuple[tuple[Stage, str, str, tuple[str, ...], str | None, str], ...] = (
    ("vad", "silero", "silero:SileroVAD", ("onnxruntime", "faster_whisper"), None,
     "Silero VAD v6 (ONNX, no torch), from the faster-whisper package"),
    ("turn", "smart-turn", "smart_turn:SmartTurn", ("onnxruntime", "pipecat"), None,
     "Smart Turn v3.2 end-of-turn model (ONNX, 8.7 MB), from the pipecat-ai wheel (never imported)"),
    ("turn_text", "lm", "lm_turn:LanguageModelTurn", ("xllamacpp",), None,
     "end of turn from the words: a small LLM's probability that the sentence ends (SmolLM2-135M)"),
    ("stt", "faster-whisper", "faster_whisper:FasterWhisperSTT", ("faster_whisper",), None,
     "CTranslate2 Whisper: packaged 'base' int8, any size or model dir"),
    ("stt", "moonshine", "moonshine:MoonshineSTT", ("onnxruntime", "onnx", "moonshine_cpp"), None,
     "Moonshine (English) on onnxruntime: packaged 'base' (int8), or a Moonshine ONNX export dir"),
    ("stt", "transformers-whisper", "transformers_whisper:TransformersWhisperSTT", ("torch", "transformers"),
     "seed", "Whisper via transformers: any hub id or path; fp16 (8-bit optional) on CUDA, fp32 on CPU"),
    ("stt", "openai", "openai_compat:OpenAISTT", ("openai",), None,
     "any OpenAI-compatible /v1/audio/transcriptions (vLLM, faster-whisper servers, rejoinder serve)"),
    ("llm", "llamacpp", "llamacpp:LlamaCppLLM", ("xllamacpp",), None,
     "llama.cpp in-process (xllamacpp): packaged SmolLM2-135M-Instruct or any GGUF"),
    ("llm", "transformers", "transformers_llm:TransformersLLM", ("torch", "transformers"), "seed",
     "transformers causal LMs (e.g. Phi-3.5-mini-instruct, 4-bit on CUDA), streamed per token"),
    ("llm", "openai", "openai_compat:OpenAILLM", ("openai",), None,
     "any OpenAI-compatible /v1/chat/completions, streamed (vLLM, llama.cpp, Ollama, rejoinder serve)"),
    ("tts", "piper", "piper:PiperTTS", ("piper",), None,
     "Piper ONNX voices: packaged en_US joe medium or any"),
    ("tts", "parler", "parler:ParlerTTS", ("torch", "transformers", "parler_tts"), "seed",
     "Parler-TTS (mini expresso by default): a voice described in words, streamed in 0.5 s chunks"),
    ("tts", "espeak", "espeak:EspeakTTS", ("espeakng_loader",), None,
     "eSpeak NG fallback voice (espeakng-loader): tiny, instant, robotic"),
    ("tts", "openai", "openai_compat:OpenAITTS", ("openai",), None,
     "any OpenAI-compatible /v1/audio/speech, PCM streamed"),
    ("vad", "fake", "fake:FakeVAD", (), None, "tests: any sound louder than a level is speech"),
    ("stt", "fake", "fake:FakeSTT", (), None, "tests: scripted transcripts keyed by tone"),
    ("llm", "fake", "fake:FakeLLM", (), None, "tests: a scripted reply, word by word"),
    ("tts", "fake", "fake:FakeTTS", (), None, "tests: a short tone per word"),
)
# fmt: on

for _stage, _name, _target, _requires, _extra, _description in _BUILTIN:
    register(BackendSpec(_stage, _name, "rejoinder.backends." + _target, _requires, _extra, _description))
