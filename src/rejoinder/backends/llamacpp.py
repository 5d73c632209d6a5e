"""llama.cpp in-process through xllamacpp's prebuilt wheel; any GGUF, packaged SmolLM2 by default."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

from rejoinder.backends.worker import Emit, ModelWorker
from rejoinder.config import LLMConfig
from rejoinder.errors import BackendUnavailable, BadInputError
from rejoinder.models import smollm2_path
from rejoinder.stages.capabilities import Capability
from rejoinder.stages.llm import GenerationParams, Message

log = logging.getLogger(__name__)


def resolve_model(name: str) -> Path:
    if name == "smollm2":
        return smollm2_path()
    path = Path(name)
    if not path.is_file():
        raise BadInputError(f"{name}: no such GGUF file (give a path, or 'smollm2' for the packaged model)")
    return path


class LlamaCppLLM:
    capabilities: ClassVar[frozenset[Capability]] = frozenset({"prefill"})
    name = "llamacpp"

    def __init__(self, config: LLMConfig) -> None:
        import xllamacpp as xlc

        self.config = config
        path = resolve_model(config.model)
        params = xlc.CommonParams()
        params.model.path = str(path)
        # one slot per concurrent request, each with the full context (the cache is n_ctx in all)
        params.n_ctx = config.context * config.parallel
        params.n_parallel = config.parallel
        params.cpuparams.n_threads = config.generate_threads
        params.cpuparams_batch.n_threads = config.threads
        params.verbosity = -1
        params.warmup = True
        try:
            self.server = xlc.Server(params)
        except Exception as exc:
            raise BackendUnavailable(f"{path}: llama.cpp could not load this model ({exc})") from None
        self.model_path = path
        # Server is llama.cpp's HTTP server core: each call queues a task for its slot loop and
        # waits without the GIL, so `parallel` threads can call it at once and share each batch
        self._worker: ModelWorker[str] = ModelWorker("llm", threads=config.parallel)

    def _request(self, messages: Sequence[Message], params: GenerationParams, stream: bool) -> dict[str, Any]:
        seed = params.seed if params.seed is not None else self.config.seed
        return {
            **({"seed": seed} if seed is not None else {}),
            "messages": [dict(m) for m in messages],
            "stream": stream,
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "cache_prompt": True,
        }

    def prefill(self, messages: Sequence[Message]) -> None:
        """Compute the KV cache for `messages` now, off the critical path of the next turn.

        llama.cpp reuses the longest cached prefix, so the next request only processes what is new.
        """
        self.server.handle_chat_completions(
            self._request(messages, GenerationParams(max_tokens=1), stream=False)
        )

    async def prefill_async(self, messages: Sequence[Message]) -> None:
        await self._worker.run(self.prefill, list(messages))

    def stream(self, messages: Sequence[Message], params: GenerationParams) -> AsyncIterator[str]:
        request = self._request(messages, params, stream=True)

        def produce(emit: Emit[str]) -> None:
            failure: list[str] = []

            def on_chunk(chunk: Any) -> bool | None:
                if isinstance(chunk, dict) and "error" in chunk:
                    failure.append(str(chunk["error"]))
                    return True
                for choice in (chunk or {}).get("choices", []) if isinstance(chunk, dict) else []:
                    piece = (choice.get("delta") or {}).get("content")
                    if piece and not emit(piece):
                        return True  # consumer gone: tell llama.cpp to stop generating
                return None

            result = self.server.handle_chat_completions(request, on_chunk)
            if isinstance(result, dict) and "error" in result:
                failure.append(str(result["error"]))
            if failure:
                raise RuntimeError(f"llama.cpp: {failure[0]}")

        return self._worker.iterate(produce)
