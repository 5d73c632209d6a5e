"""Settings for every stage, and the named presets that fill them in.

Plain pydantic models: the CLI and the server override fields, nothing reads the environment
at import time.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from rejoinder.errors import BadInputError

DEFAULT_SYSTEM_PROMPT = (
    "You are a friendly voice assistant whose words are spoken aloud. Reply in one or two short, "
    "plain sentences. Start with the direct answer, then add a brief detail, like: 'The capital of "
    "Spain is Madrid, which sits in the center of the country.'"
)

STRONG_PROMPT = (
    "You are a helpful voice assistant; everything you write is spoken aloud. Use short, plain "
    "sentences, without lists, markdown, code, equations or symbols. For a simple question, give the"
    " answer first, in one or two sentences. When a question needs working out, such as arithmetic, "
    "days of the week, clock times, what is left over, or which of two things is bigger or heavier, "
    "work it out out loud one small step at a time, then say the result. Count days and hours one at"
    " a time, naming each one; going back in time, count backwards. Riddles hide the answer in their"
    " exact words: check what each word says before you compute anything. For example, asked 'If "
    "today is Tuesday, what day will it be in three days?', say: 'Tuesday, then Wednesday is one "
    "day, Thursday two, Friday three. So it will be Friday.' Asked 'If today is Wednesday, what day "
    "was it three days ago?', say: 'Counting back from Wednesday: Tuesday is one day ago, Monday "
    "two, Sunday three. So it was Sunday.' Asked 'It is 10 AM. What time will it be in 4 hours?', "
    "say: 'From 10 AM: 11 AM is one hour, 12 noon two, 1 PM three, 2 PM four. So it will be 2 PM.' "
    "Asked 'A class starts at 8:45 and lasts 70 minutes. When does it end?', say: '70 minutes is 1 "
    "hour and 10 minutes. 8:45 plus 1 hour is 9:45, plus 10 minutes is 9:55.' Use what the user told"
    " you earlier in the conversation, such as their name."
)
"""The strong tier's prompt: answer first, spoken style, reasoning out loud for questions that need
working out, counting days and hours one at a time (worked examples of the technique, not taken
from the eval set; chosen on its tune split, docs/accuracy.md), uses the history."""


MAX_THREADS = 256
"""More threads than any machine has cores: 100000 (found by probing) started 32,000 threads in
onnxruntime, grew to 17 GB and ignored SIGTERM."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class VADConfig(_Strict):
    backend: str = "silero"
    threshold: float = Field(0.5, ge=0.05, le=0.95, description="speech probability that starts speech")
    min_speech_ms: int = Field(
        160, ge=0, description="speech shorter than this is ignored as noise (and does not barge in)"
    )
    min_silence_ms: int = Field(500, ge=32, le=10_000, description="end-of-turn silence")
    prefix_padding_ms: int = Field(
        300,
        ge=0,
        le=2000,
        description="audio kept from before speech onset (bounded: a client's 10^9 ms once kept "
        "10 minutes of silence as one turn and stalled the shared STT)",
    )
    max_turn_s: float = Field(30.0, gt=1, description="a longer utterance is cut into turns")
    interrupt_response: bool = Field(True, description="user speech stops the agent (barge-in)")
    speculate_after_ms: int = Field(
        96, ge=0, description="silence after which STT and LLM start speculatively (0 = never)"
    )
    early_prefill_ms: int = Field(
        500,
        ge=0,
        description="while the user speaks, every this much speech their words so far are transcribed "
        "and put in the LLM's cache, so the reply's first token comes sooner (0 = never; 500 against "
        "1000: voice to voice p50 about 150 ms sooner, docs/benchmarks.md)",
    )
    end_of_turn: Literal["smart", "silence"] = Field(
        "smart",
        description="'smart': an end-of-turn model (Smart Turn v3.2) ends a complete turn after a short "
        "silence and waits longer (up to a cap) after an unfinished one; 'silence': a fixed "
        "min_silence_ms of silence ends every turn",
    )
    eagerness: Literal["low", "medium", "high", "auto"] = Field(
        "auto",
        description="'smart' only: how soon a turn is ended (high: soonest, shortest cap; low: "
        "waits longest for the speaker to go on; auto = medium)",
    )
    turn_backend: str = Field("smart-turn", description="end-of-turn model for 'smart'")
    turn_text_backend: str = Field(
        "lm",
        description="'smart' only: judge of the words, whose 'unfinished' holds the turn like the "
        "transcript rules ('lm': a small LLM's probability that the sentence ends; 'none': off)",
    )
    turn_text_model: str = Field(
        "smollm2", description="the 'lm' judge's GGUF (a ChatML model): a packaged model name or a path"
    )
    early_check: bool = Field(
        True,
        description="'smart' only: the end-of-turn model reads the pause's sound as soon as the "
        "speculation starts (speculate_after_ms), so its time is not added to the silence waited",
    )
    barge_in: Literal["words", "onset"] = Field(
        "words",
        description="'words': while the agent speaks, user speech interrupts once its words say so "
        "(a cue such as 'wait', or real words going on), and backchannels ('uh-huh', 'okay') or "
        "noises do not; 'onset': any speech interrupts as soon as the VAD confirms it",
    )


class STTConfig(_Strict):
    backend: str = "moonshine"
    model: str = Field(
        "base",
        description="'base' = the backend's packaged model (Whisper base; Moonshine base), or a model dir",
    )
    compute_type: str = "int8"
    device: str = "cpu"
    language: str | None = Field("en", description="ISO code, or None to detect")
    beam_size: int = Field(1, ge=1, le=10)
    threads: int = Field(2, ge=1, le=MAX_THREADS)
    encoder_window: str = Field(
        "auto",
        pattern=r"^(auto|full)$",
        description="'auto' encodes only the utterance plus padding (about 10x faster on short turns); "
        "'full' always encodes Whisper's 30 s window",
    )
    window_padding_s: float = Field(1.0, ge=0.0, le=10.0, description="silence after the utterance in 'auto'")
    base_url: str | None = Field(None, description="OpenAI-compatible server for the 'openai' backend")
    api_key: str | None = Field(None, description="key for base_url (else $OPENAI_API_KEY)")
    quantize: Literal["none", "8bit"] = Field("none", description="transformers: bitsandbytes 8-bit on CUDA")
    window_min_s: float = Field(3.0, ge=1.0, le=30.0, description="shortest encoder window in 'auto'")
    window_retry_s: float = Field(
        0.0, ge=0.0, le=30.0, description="second window if the first loops (0: none)"
    )
    window_repetition_penalty: float = Field(
        1.1,
        ge=1.0,
        le=2.0,
        description="decoder repetition penalty in the 'auto' window, where Whisper tends to repeat the "
        "utterance into the padding (1.1: 2-5 % of short questions loop instead of 26-29 %, same WER)",
    )


class LLMConfig(_Strict):
    backend: str = "llamacpp"
    model: str = Field(
        "smollm2", description="'smollm2' = the packaged SmolLM2-135M-Instruct, or a GGUF path"
    )
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    temperature: float = Field(0.1, ge=0.0, le=2.0)
    top_p: float = Field(0.9, gt=0.0, le=1.0)
    max_tokens: int = Field(64, ge=1, le=4096)
    context: int = Field(
        2048,
        ge=256,
        le=32768,
        description="tokens of context per conversation (per slot); the packaged models hold 32k, and "
        "10^8 asked llama.cpp for gigabytes before it failed",
    )
    parallel: int = Field(
        1,
        ge=1,
        le=64,
        description="llama.cpp: requests decoded together in one batch (slots, continuous batching); "
        "the KV cache holds `context` tokens for each",
    )
    threads: int = Field(2, ge=1, le=MAX_THREADS, description="llama.cpp threads for the prompt")
    generate_threads: int = Field(
        1,
        ge=1,
        le=MAX_THREADS,
        description="llama.cpp threads while writing the reply: one leaves a core to the TTS, which "
        "speaks the first clause while the LLM writes the rest",
    )
    tail_pause_s: float = Field(
        0.0,
        ge=0.0,
        le=5.0,
        description="llama.cpp with slots: once a voice reply's first clause is written, it may pause "
        "this long in all while other turns write their first clause (0 = off; docs/soak.md)",
    )
    tail_pause_queued_s: float = Field(
        2.0,
        ge=0.0,
        le=30.0,
        description="a reply pauses (tail_pause_s) only while its listener has at least this much of "
        "its audio made and not yet heard, and goes on once it has less, so that the pause is not "
        "heard (docs/soak.md)",
    )
    history_turns: int = Field(8, ge=0, description="earlier exchanges kept in the prompt")
    quantize: Literal["none", "4bit", "8bit"] = Field(
        "none", description="transformers: bitsandbytes on CUDA"
    )
    device: str = Field("auto", description="transformers: auto, cpu or cuda")
    max_memory: dict[str, str] | None = Field(None, description="transformers: per-device memory caps")
    seed: int | None = Field(
        0, description="sampling seed: the same prompt gives the same answer (None = random)"
    )
    base_url: str | None = Field(None, description="OpenAI-compatible server for the 'openai' backend")
    api_key: str | None = Field(None, description="key for base_url (else $OPENAI_API_KEY)")


class TTSConfig(_Strict):
    backend: str = "piper"
    voice: str = Field("joe", description="'joe' = the packaged Piper voice, or a Piper .onnx path")
    model: str = Field("tts-1", description="model name for the 'openai' backend, or a Parler-TTS id/path")
    description: str = Field(
        "Thomas speaks moderately fast in a close, clear recording with almost no background noise.",
        description="Parler-TTS: the voice, described in words",
    )
    device: str = Field("auto", description="transformers backends: auto, cpu or cuda")
    speed: float = Field(1.0, gt=0.2, le=4.0)
    threads: int = Field(
        2,
        ge=1,
        le=MAX_THREADS,
        description="Piper's threads (idle ones do not spin: the LLM writes on the same cores)",
    )
    base_url: str | None = Field(None, description="OpenAI-compatible server for the 'openai' backend")
    api_key: str | None = Field(None, description="key for base_url (else $OPENAI_API_KEY)")


class ChunkerConfig(_Strict):
    first_min_words: int = Field(3, ge=1, description="words before the first clause may be cut at a comma")
    first_joiner_words: int = Field(
        4,
        ge=1,
        description="words before the first clause may end ahead of 'because', 'which', 'but'... "
        "(a very large number turns this off)",
    )
    first_verb_words: int = Field(
        4,
        ge=1,
        description="words of subject before the first clause may end ahead of its verb: 'The capital of "
        "Italy | is Rome.' (a very large number turns this off)",
    )
    min_words: int = Field(6, ge=1, description="words before later clauses may be cut at a comma")
    max_words: int = Field(30, ge=4, description="a clause longer than this is cut at a space")


class TierConfig(_Strict):
    name: str
    llm: LLMConfig = LLMConfig()


def strong_llm() -> LLMConfig:
    """The default strong tier: the packaged Qwen2.5-Coder-1.5B with its own prompt and budget,
    writing on both cores (measured: 30 vs 42 ms a token; its first clause, the one that decides
    when the reply starts, is written before any TTS runs; docs/benchmarks.md)."""
    return LLMConfig(model="qwen1.5b", system_prompt=STRONG_PROMPT, max_tokens=128, generate_threads=2)


class RouterConfig(_Strict):
    enabled: bool = Field(True, description="route each turn to the small or the strong tier")
    strategy: Literal["features", "learned"] = "learned"
    tiers: list[TierConfig] = Field(
        default_factory=list,
        description="weakest first; empty = 'small' (the llm section) and 'strong' (the strong section)",
    )
    strong: LLMConfig = Field(
        default_factory=strong_llm, description="the strong tier when no explicit tiers are given"
    )
    thresholds: list[float] | None = Field(
        None, description="one per tier boundary; None = calibrated from strong_share, or evenly spaced"
    )
    strong_share: float | None = Field(
        None, ge=0.0, le=1.0, description="calibrate thresholds so this share of queries reaches the top tier"
    )
    escalate: bool = Field(
        True, description="re-ask the top tier when a lower tier refuses or only echoes the question"
    )
    overload: bool = Field(
        False,
        description="when another conversation is already writing a reply on the tier the router "
        "picks, answer with the smallest tier instead of waiting for it (route strategy 'overload'; "
        "off by default: measured in docs/routing.md)",
    )


class ToolsConfig(_Strict):
    direct: bool = Field(
        True,
        description="answer 'What time is it?', 'What's the date?', bare sums ('What is 17 times 23?') "
        "and short reckoning ('If yesterday was Sunday, what day is tomorrow?', 'Which is bigger, 9.11 "
        "or 9.9?') from the clock, the calculator and the reckoning tools, without the model "
        "(tools/direct.py); on even when the built-in tools are not offered to the model",
    )


class Config(_Strict):
    preset: Literal["cpu", "seed", "remote"] = "cpu"
    vad: VADConfig = VADConfig()
    stt: STTConfig = STTConfig()
    llm: LLMConfig = LLMConfig()
    tts: TTSConfig = TTSConfig()
    chunker: ChunkerConfig = ChunkerConfig()
    router: RouterConfig = RouterConfig()
    tools: ToolsConfig = ToolsConfig()

    def tier_configs(self) -> list[TierConfig]:
        """The routing tiers, weakest first; without explicit tiers the main LLM is 'small' and
        the router's `strong` section (Qwen2.5-Coder-1.5B by default) is 'strong'."""
        if self.router.tiers:
            return list(self.router.tiers)
        return [TierConfig(name="small", llm=self.llm), TierConfig(name="strong", llm=self.router.strong)]


def with_llm_parallel(config: Config, parallel: int | None) -> Config:
    """Every tier's llama.cpp with `parallel` slots (None: as configured)."""
    if parallel is not None:
        config.llm = config.llm.model_copy(update={"parallel": parallel})
        config.router.strong = config.router.strong.model_copy(update={"parallel": parallel})
        config.router.tiers = [
            t.model_copy(update={"llm": t.llm.model_copy(update={"parallel": parallel})})
            for t in config.router.tiers
        ]
    return config


def with_session_slots(config: Config, sessions: int, most: int = 6) -> Config:
    """The default strong tier with one llama.cpp slot per admitted session, up to `most`, unless
    its slots are configured (llama.cpp only): each conversation keeps its prompt cache in its own slot
    (backends/llama_slots.py). A slot costs its KV cache, 57 MB for the 1.5B at 2048 tokens, and
    5 s at start-up to fill with the system prompt (2 cores); the small tier keeps one (SmolLM2
    re-reads a history in a fraction of a second)."""
    strong = config.router.strong
    if not config.router.tiers and strong.backend == "llamacpp" and strong.parallel == 1:
        config.router.strong = strong.model_copy(update={"parallel": max(1, min(most, sessions))})
    return config


PRESETS: dict[str, str] = {
    "cpu": "embedded offline default: Silero VAD, Moonshine base, SmolLM2-135M GGUF routed to "
    "Qwen2.5-Coder-1.5B GGUF for hard turns, Piper joe",
    "seed": "reference GPU set: Whisper small 8-bit, Phi-3.5-mini-instruct 4-bit (transformers), Parler-TTS "
    "mini expresso with a voice description; needs the [seed] and [gpu] extras and a CUDA GPU",
    "remote": "local Silero VAD; STT, LLM and TTS on an OpenAI-compatible server (--base-url): vLLM, "
    "llama.cpp server, Ollama, a hosted API, or another `rejoinder serve`",
}


def preset(name: str) -> Config:
    if name not in PRESETS:
        raise BadInputError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}")
    if name == "seed":
        return Config(
            preset="seed",
            stt=STTConfig(
                backend="transformers-whisper", model="openai/whisper-small", quantize="8bit", device="auto"
            ),
            llm=LLMConfig(
                backend="transformers", model="microsoft/Phi-3.5-mini-instruct", quantize="4bit", context=4096
            ),
            tts=TTSConfig(backend="parler", model="parler-tts/parler-tts-mini-expresso", voice="Thomas"),
            router=RouterConfig(enabled=False),
        )
    if name == "remote":
        return Config(
            preset="remote",
            stt=STTConfig(backend="openai", model="whisper-1"),
            llm=LLMConfig(backend="openai", model="default"),
            tts=TTSConfig(backend="openai", voice="alloy"),
            router=RouterConfig(enabled=False),
        )
    return Config(preset="cpu")
