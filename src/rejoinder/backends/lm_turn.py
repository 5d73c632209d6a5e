"""End of turn from the words: a small language model's probability that the sentence ends here.

The idea of LiveKit's turn detector, with a general-purpose model instead of a fine-tuned one: the
transcript so far, lower-cased and without punctuation, is written as a user message and the
model is asked for its next token; the probability of a sentence end ('.', '?', '!' or the end of
the message) is how complete the words are. Smart Turn hears how a pause sounds; this reads what
was said, so "Can you", "It was", "I'd like to move my appointment" (p < 0.02 with SmolLM2-135M)
hold the turn while "What time is it" ends it. The STT's own final punctuation is dropped first:
Moonshine writes "Can you?" as readily as "Can you".

It runs its own small llama.cpp instance (the packaged SmolLM2-135M by default: 98 MB, about
40 ms a call on one thread), not a routing tier's, so a reply being written never queues it.
"""

from __future__ import annotations

import math
import re
from typing import Any, ClassVar

from rejoinder.backends.llamacpp import resolve_model
from rejoinder.backends.worker import ModelWorker
from rejoinder.config import VADConfig
from rejoinder.errors import BackendUnavailable
from rejoinder.stages.capabilities import Capability

CONTEXT = (
    "<|im_start|>system\nYou are a helpful voice assistant.<|im_end|>\n"
    "<|im_start|>assistant\nHi! How can I help?<|im_end|>\n<|im_start|>user\n"
)
"""A ChatML conversation up to the user's words: the greeting makes a reply to the agent as
natural a message as a request. Cached by llama.cpp, so a call reads only the user's words."""
TOP_TOKENS = 30
"""The candidates read: sentence ends outside them have too little probability to matter."""
_SENTENCE_END = re.compile(r"^\s*[.?!]+[\"')\s]*$")
_STOP_TOKENS = frozenset({"<|im_end|>", "<|endoftext|>", "</s>", "<|eot_id|>"})
_TRAILING = re.compile(r"[\s.?!,;:…-]+$")
_NOT_WORD = re.compile(r"[^\w\s']")


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
        import xllamacpp as xlc

        config = config or VADConfig()
        path = resolve_model(config.turn_text_model)
        params = xlc.CommonParams()
        params.model.path = str(path)
        params.n_ctx = 512
        params.n_parallel = 1
        params.cpuparams.n_threads = 1
        params.cpuparams_batch.n_threads = 1
        params.cache_ram_mib = 0
        params.verbosity = -1
        try:
            self.server = xlc.Server(params)
        except Exception as exc:
            raise BackendUnavailable(f"{path}: llama.cpp could not load this model ({exc})") from None
        self._worker: ModelWorker[None] = ModelWorker("turn-text")

    def probability_blocking(self, text: str) -> float:
        words = normalise(text)
        if not words:
            return 0.0
        request = {
            "prompt": CONTEXT + words,
            "n_predict": 1,
            "n_probs": TOP_TOKENS,
            "temperature": 0.0,
            "cache_prompt": True,
        }
        reply = self.server.handle_completions(request)
        if "choices" not in reply:
            raise RuntimeError(f"llama.cpp: {reply.get('error', reply)}")
        return sentence_end_probability(reply["choices"][0]["logprobs"]["content"][0]["top_logprobs"])

    async def probability(self, text: str) -> float:
        result: float = await self._worker.run(self.probability_blocking, text)
        return result

    def warmup(self) -> None:
        self.probability_blocking("hello")

    def close(self) -> None:
        self._worker.close()
