"""llama.cpp in-process through xllamacpp's prebuilt wheel: any GGUF, or a packaged model by name."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

from rejoinder.backends.gguf_meta import metadata_string
from rejoinder.backends.llama_slots import SlotAffinity
from rejoinder.backends.llm_heads import HEADS, ListenerAhead, current_listener_ahead
from rejoinder.backends.worker import Emit, ModelWorker, Priority, current_priority
from rejoinder.config import LLMConfig
from rejoinder.errors import BackendUnavailable, BadInputError, ContextOverflow
from rejoinder.models import SPLIT_GGUFS, smollm2_path, split_gguf_missing, split_gguf_path
from rejoinder.stages.capabilities import Capability
from rejoinder.stages.llm import (
    GenerationParams,
    Message,
    OpenAITool,
    TokenUsage,
    ToolCall,
    ToolChoice,
    wire_messages,
)

log = logging.getLogger(__name__)


PACKAGED = ("smollm2", *SPLIT_GGUFS)
"""Model names served from installed packages: SmolLM2-135M, Qwen2.5-Coder 1.5B and 0.5B."""


def resolve_model(name: str) -> Path:
    if name == "smollm2":
        return smollm2_path()
    if name in SPLIT_GGUFS:
        return split_gguf_path(SPLIT_GGUFS[name])
    path = Path(name)
    if not path.is_file():
        raise BadInputError(
            f"{name}: no such GGUF file (give a path, or a packaged model: {', '.join(PACKAGED)})"
        )
    try:
        with path.open("rb") as f:
            magic = f.read(4)
    except OSError as exc:
        raise BadInputError(f"{name}: cannot read ({exc.strerror or exc})") from None
    if magic != b"GGUF":
        raise BadInputError(f"{name}: not a GGUF model file (llama.cpp reads .gguf files only)")
    return path


def start_server(
    path: Path, n_ctx: int, parallel: int, threads: int, batch_threads: int, **extra: Any
) -> Any:
    """llama.cpp's server core (xllamacpp) on `path`: `parallel` slots sharing `n_ctx`, quiet, and
    without the host-memory prompt cache (llama.cpp keeps up to 8 GiB of old prompts by default:
    here a conversation's cache is its slot, SlotAffinity). `extra`: other CommonParams fields."""
    import xllamacpp as xlc

    params = xlc.CommonParams()
    params.model.path = str(path)
    params.n_ctx = n_ctx
    params.n_parallel = parallel
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = batch_threads
    params.cache_ram_mib = 0
    params.verbosity = -1
    for name, value in extra.items():
        setattr(params, name, value)
    try:
        return xlc.Server(params)
    except Exception as exc:
        raise BackendUnavailable(f"{path}: llama.cpp could not load this model ({exc})") from None


def model_missing(name: str) -> str | None:
    """Why `resolve_model(name)` would fail, without loading or joining; None if it would not."""
    try:
        if name in SPLIT_GGUFS:
            return split_gguf_missing(SPLIT_GGUFS[name])
        resolve_model(name)
    except (BackendUnavailable, BadInputError) as exc:
        return str(exc)
    return None


class LlamaCppLLM:
    capabilities: ClassVar[frozenset[Capability]] = frozenset({"prefill", "slots"})
    name = "llamacpp"
    supports_tools = True
    """Through llama.cpp's OpenAI-compatible tool calling (Jinja chat templates); set per model: only
    a model whose chat template renders tools is offered them (a turn needing one goes elsewhere)."""

    def __init__(self, config: LLMConfig) -> None:
        self.config = config
        path = resolve_model(config.model)
        # one slot per concurrent request, each with the full context (the cache is n_ctx in all);
        # the model's own (Jinja) template renders tools and tool results
        self.server = start_server(
            path,
            config.context * config.parallel,
            config.parallel,
            config.generate_threads,
            config.threads,
            warmup=True,
            use_jinja=True,
        )
        self.model_path = path
        template = metadata_string(path, "tokenizer.chat_template")
        self.supports_tools = bool(template and "tools" in template)  # SmolLM2's cannot show tools
        self.supports_json_output = True  # llama.cpp samples through a grammar made from the format
        # Server is llama.cpp's HTTP server core: each call queues a task for its slot loop and
        # waits without the GIL, so `parallel` threads can call it at once and share each batch
        self._worker: ModelWorker[Any] = ModelWorker("llm", threads=config.parallel)
        self._slots = SlotAffinity(config.parallel)

    def _complete(
        self,
        request: dict[str, Any],
        conversation: str | None,
        on_chunk: Callable[[Any], bool | None] | None = None,
        slot: int | None = None,
    ) -> Any:
        """One call into llama.cpp on the conversation's own slot, or on `slot` (blocking: a
        worker thread)."""
        slot = self._slots.acquire(conversation, slot)
        try:
            request = {**request, "id_slot": slot}
            if on_chunk is None:
                return self.server.handle_chat_completions(request)
            return self.server.handle_chat_completions(request, on_chunk)
        finally:
            self._slots.release(slot)

    def _request(self, messages: Sequence[Message], params: GenerationParams, stream: bool) -> dict[str, Any]:
        seed = params.seed if params.seed is not None else self.config.seed
        return {
            **({"seed": seed} if seed is not None else {}),
            "messages": wire_messages(messages),
            "stream": stream,
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "cache_prompt": True,
            **({"stream_options": {"include_usage": True}} if stream else {}),
            **({"response_format": dict(params.response_format)} if params.response_format else {}),
        }

    def prefill(self, messages: Sequence[Message], conversation: str | None = None) -> None:
        """Compute the KV cache for `messages` now, off the critical path of the next turn.

        llama.cpp reuses the longest cached prefix, so the next request only processes what is new.
        """
        self._complete(self._request(messages, GenerationParams(max_tokens=1), stream=False), conversation)

    async def prefill_async(self, messages: Sequence[Message], conversation: str | None = None) -> None:
        """Spare work: skipped while any session's turn needs a model (worker.run_spare)."""
        await self._worker.run_spare(self.prefill, list(messages), conversation)

    async def warm_slots(self, messages: Sequence[Message]) -> int:
        """Put `messages` (the system prompt) in the cache of every slot but the first (which the
        engine's warm-up filled); how many were filled. Slots share no cache: a conversation on a
        cold slot reads the 1.5B tier's 380-token prompt first (5 s on 2 cores)."""
        request = self._request(messages, GenerationParams(max_tokens=1), stream=False)
        for slot in range(1, len(self._slots)):
            await self._worker.run(self._complete, request, None, None, slot)
        return len(self._slots) - 1

    def forget(self, conversation: str) -> None:
        self._slots.forget(conversation)

    def stream(self, messages: Sequence[Message], params: GenerationParams) -> AsyncIterator[str]:
        if current_priority() < Priority.BATCH:
            return self._stream_voice(messages, params, current_listener_ahead())
        return self._stream_in_steps(messages, params, self._worker.yield_requested)

    async def _stream_voice(
        self, messages: Sequence[Message], params: GenerationParams, ahead: ListenerAhead | None
    ) -> AsyncIterator[str]:
        """A voice reply counts as a head until its first clause is written (llm_heads); with
        `tail_pause_s` set, it then steps aside while other turns write theirs, for at most that
        long in all, and only while its listener has `tail_pause_queued_s` of it still to hear.
        Only on a model with a slot per conversation: on a shared slot the other turn's prompt
        would evict this one's, and going on would mean reading it all again (seconds on the
        1.5B)."""
        head = HEADS.open()
        cfg = self.config
        budget = cfg.tail_pause_s if len(self._slots) > 1 and ahead is not None else 0.0
        paused_s, pauses = 0.0, 0

        def covered() -> bool:
            return ahead is not None and ahead() >= cfg.tail_pause_queued_s

        def step_aside() -> bool:
            return not head.writing_first_clause and HEADS.busy and paused_s < budget and covered()

        async def wait() -> None:
            nonlocal paused_s, pauses
            paused_s += await HEADS.until_clear(budget - paused_s, give_up=lambda: not covered())
            pauses += 1

        try:
            async for piece in self._stream_in_steps(messages, params, step_aside, wait, head.wrote):
                yield piece
        finally:
            head.close()
            if pauses:
                ms = round(paused_s * 1000)
                log.info("tail paused", extra={"pauses": pauses, "paused_ms": ms, "model": cfg.model})

    async def _stream_in_steps(
        self,
        messages: Sequence[Message],
        params: GenerationParams,
        step_aside: Callable[[], bool],
        wait: Callable[[], Awaitable[None]] | None = None,
        wrote: Callable[[str], None] | None = None,
    ) -> AsyncIterator[str]:
        """Generation that can stop at any token for more urgent work and go on after it.

        When `step_aside()` says so (checked after each token, on the worker thread), generation
        stops; after `wait()` (batch work: the worker queue, where voice jobs go first) a new
        request continues from what was written so far (llama.cpp continues a final assistant
        message; the slot's cache holds the prompt), within the remaining token budget.
        """
        written: list[str] = []
        while len(written) < params.max_tokens:
            prefix: list[Message] = [{"role": "assistant", "content": "".join(written)}] if written else []
            step = replace(params, max_tokens=params.max_tokens - len(written))
            outcome = _Outcome()
            request = self._request([*messages, *prefix], step, stream=True)
            producer = self._producer(request, params, outcome, step_aside, wrote)
            async for piece in self._worker.iterate(producer):
                written.append(piece)
                yield piece
            if not outcome.preempted:
                return
            if wait is not None:
                await wait()

    def _producer(
        self,
        request: dict[str, Any],
        params: GenerationParams,
        outcome: _Outcome,
        step_aside: Callable[[], bool],
        wrote: Callable[[str], None] | None,
    ) -> Callable[[Emit[str]], None]:
        def produce(emit: Emit[str]) -> None:
            failure: list[Any] = []

            def on_chunk(chunk: Any) -> bool | None:
                if isinstance(chunk, dict) and "error" in chunk:
                    failure.append(chunk["error"])
                    return True
                _count(chunk, params.usage)
                for choice in (chunk or {}).get("choices", []) if isinstance(chunk, dict) else []:
                    if choice.get("finish_reason") == "length" and params.usage is not None:
                        params.usage.hit_limit = True
                    piece = (choice.get("delta") or {}).get("content")
                    if not piece:
                        continue
                    if wrote is not None:
                        wrote(piece)
                    if not emit(piece):
                        return True  # consumer gone: tell llama.cpp to stop generating
                    if step_aside():
                        outcome.preempted = True
                        return True  # more urgent work waits: stop here, continue after it
                return None

            try:
                result = self._complete(request, params.conversation, on_chunk)
            except ValueError as exc:  # llama.cpp could not make a grammar of the response format
                raise BadInputError(f"'response_format' cannot be used with this model: {exc}") from None
            if isinstance(result, dict) and "error" in result:
                failure.append(result["error"])
            if failure:
                raise _failure(failure[0])

        return produce

    def stream_chat(
        self,
        messages: Sequence[Message],
        params: GenerationParams,
        tools: Sequence[OpenAITool],
        tool_choice: ToolChoice = "auto",
    ) -> AsyncIterator[str | ToolCall]:
        from rejoinder.backends.tool_stream import ToolCallAssembler, tools_request

        request = {**self._request(messages, params, stream=True), **tools_request(tools, tool_choice)}

        def produce(emit: Emit[str | ToolCall]) -> None:
            failure: list[Any] = []
            assembler = ToolCallAssembler()

            def on_chunk(chunk: Any) -> bool | None:
                if isinstance(chunk, dict) and "error" in chunk:
                    failure.append(chunk["error"])
                    return True
                _count(chunk, params.usage)
                for choice in (chunk or {}).get("choices", []) if isinstance(chunk, dict) else []:
                    for item in assembler.feed_delta(choice.get("delta") or {}):
                        if not emit(item):
                            return True
                return None

            try:
                result = self._complete(request, params.conversation, on_chunk)
            except ValueError as exc:  # llama.cpp could not build the tools' parser or grammar
                raise BadInputError(f"the tools cannot be offered to this model: {exc}") from None
            if isinstance(result, dict) and "error" in result:
                failure.append(result["error"])
            if failure:
                raise _failure(failure[0])
            for item in assembler.finish():
                if not emit(item):
                    return

        return self._worker.iterate(produce)


def _count(chunk: Any, usage: TokenUsage | None) -> None:
    """llama.cpp's usage, in the last chunk of a stream that ran to its end."""
    if usage is not None and isinstance(chunk, dict) and isinstance(chunk.get("usage"), dict):
        usage.add(chunk["usage"])


@dataclass
class _Outcome:
    preempted: bool = False


def _failure(error: Any) -> Exception:
    """llama.cpp's error for a request: the caller's fault (a prompt over the context, a grammar
    it cannot parse) is a BadInputError, anything else a RuntimeError."""
    if isinstance(error, dict) and error.get("type") == "exceed_context_size_error":
        return ContextOverflow(
            f"the prompt is {error.get('n_prompt_tokens')} tokens; "
            f"the model's context holds {error.get('n_ctx')}"
        )
    if "failed to parse grammar" in str(error):
        return BadInputError("the tools' parameters make a grammar the model cannot use")
    return RuntimeError(f"llama.cpp: {error}")
