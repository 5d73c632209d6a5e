"""End of turn from the words: a small language model's probability that the sentence ends here.

The idea of LiveKit's turn detector, with a general-purpose model instead of a fine-tuned one: the
transcript so far, lower-cased and without punctuation, is written as a user message after the
agent's last words (so "two people" is complete after "How many of you?") and the model is asked
for its next token; the probability of a sentence end ('.', '?', '!' or the end of
the message) is how complete the words are. Smart Turn hears how a pause sounds; this reads what
was said, so "Can you", "It was", "I'd like to move my appointment" (p < 0.02 with SmolLM2-135M)
hold the turn while "What time is it" ends it. The STT's own final punctuation is dropped first:
Moonshine writes "Can you?" as readily as "Can you".

It runs its own small llama.cpp instance (the packaged SmolLM2-135M by default: 98 MB, 25-40 ms a
call on one thread), not a routing tier's, so a reply being written never queues it. The prompt
is ChatML, so the model must be a ChatML one (SmolLM2, Qwen2.5); another is refused at load.
"""

from __future__ import annotations

import math
import re
from typing import Any, ClassVar

from rejoinder.backends.gguf_meta import metadata_string
from rejoinder.backends.llama_slots import SlotAffinity
from rejoinder.backends.llamacpp import resolve_model, start_server
from rejoinder.backends.worker import ModelWorker
from rejoinder.config import VADConfig
from rejoinder.errors import BackendUnavailable
from rejoinder.stages.capabilities import Capability

SYSTEM = "<|im_start|>system\nYou are a helpful voice assistant.<|im_end|>\n"
GREETING = "Hi! How can I help?"
"""The agent's words before the first turn: a reply to the agent is then as natural a message
as a request."""
CONTEXT_WORDS = 24
"""The end of the agent's last reply is what the user answers; more only costs reading time."""
SLOTS = 4
"""Conversations whose context stays cached at once, each in its own llama.cpp slot (SlotAffinity,
keyed by the context; left to choose, llama.cpp reuses the slot with the most similar prompt, and
every prompt here starts alike, so one context would overwrite the next)."""
MAX_WORDS = 64
"""Whether a sentence ends depends on its last words; a long turn's start only costs time (and
could overflow the context)."""
TOP_TOKENS = 30
"""The candidates read: sentence ends outside them have too little probability to matter."""
_SENTENCE_END = re.compile(r"^\s*[.?!]+[\"')\s]*$")
_STOP_TOKENS = frozenset({"<|im_end|>", "<|endoftext|>", "</s>", "<|eot_id|>"})
_TRAILING = re.compile(r"[\s.?!,;:…-]+$")
_NOT_WORD = re.compile(r"[^\w\s']")


def conversation(context: str) -> str:
    """A ChatML conversation up to the user's words, after the agent's last words."""
    said = " ".join(context.replace("<|", "<").split()[-CONTEXT_WORDS:]) or GREETING
    return f"{SYSTEM}<|im_start|>assistant\n{said}<|im_end|>\n<|im_start|>user\n"


def normalise(text: str) -> str:
    """What the model reads: lower case, no punctuation (the STT's guess at it would decide)."""
    return " ".join(_NOT_WORD.sub(" ", _TRAILING.sub("", text).lower()).split())


def sentence_end_probability(top_logprobs: list[dict[str, Any]]) -> float:
    """Sum of the next-token probabilities that end the sentence or the message."""
    return min(
        1.0,
        sum(
            math.exp(float(t["logprob"]))
            for t in top_logprobs
            if t["token"] in _STOP_TOKENS or _SENTENCE_END.match(t["token"])
        ),
    )


class LanguageModelTurn:
    capabilities: ClassVar[frozenset[Capability]] = frozenset({"warmup"})
    name = "lm"

    def __init__(self, config: VADConfig | None = None) -> None:
        config = config or VADConfig()
        path = resolve_model(config.turn_text_model)
        template = metadata_string(path, "tokenizer.chat_template") or ""
        if "<|im_start|>" not in template:
            raise BackendUnavailable(
                f"{path}: the end-of-turn text model needs a ChatML model (SmolLM2, Qwen2.5); "
                "this one's chat template is not ChatML"
            )
        self.server = start_server(path, 512 * SLOTS, SLOTS, threads=1, batch_threads=1)
        self._worker: ModelWorker[None] = ModelWorker("turn-text")
        self.slots = SlotAffinity(SLOTS)

    def _next_token(self, context: str, words: str = "") -> list[dict[str, Any]]:
        slot = self.slots.acquire(context)
        try:
            reply = self.server.handle_completions(
                {
                    "prompt": conversation(context) + words,
                    "id_slot": slot,
                    "n_predict": 1,
                    "n_probs": TOP_TOKENS,
                    "temperature": 0.0,
                    "cache_prompt": True,
                }
            )
        finally:
            self.slots.release(slot)
        if "choices" not in reply:
            raise RuntimeError(f"llama.cpp: {reply.get('error', reply)}")
        tops: list[dict[str, Any]] = reply["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
        return tops

    def probability_blocking(self, text: str, context: str = "") -> float:
        words = " ".join(normalise(text).split()[-MAX_WORDS:])
        if not words:
            return 0.0
        return sentence_end_probability(self._next_token(context, words))

    async def probability(self, text: str, context: str = "") -> float:
        result: float = await self._worker.run(self.probability_blocking, text, context)
        return result

    async def prepare(self, context: str) -> None:
        await self._worker.run(self._next_token, context)

    def warmup(self) -> None:
        self.probability_blocking("hello")

    def close(self) -> None:
        self._worker.close()
