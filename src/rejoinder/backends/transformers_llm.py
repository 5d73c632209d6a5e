"""Causal LMs through transformers (e.g. microsoft/Phi-3.5-mini-instruct, 4-bit on CUDA), streamed
token by token; stopping the stream stops generation at the next token."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from rejoinder.backends.hf import device_for, dtype_for, load, quantization, stream_generation
from rejoinder.backends.worker import Emit, ModelWorker
from rejoinder.config import LLMConfig
from rejoinder.stages.llm import GenerationParams, Message


class TransformersLLM:
    name = "transformers"

    def __init__(self, config: LLMConfig) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.config = config
        model_id = "microsoft/Phi-3.5-mini-instruct" if config.model == "smollm2" else config.model
        self.device = device_for(config.device)
        quant = quantization(config.quantize, self.device)
        self.tokenizer = load("tokenizer", model_id, lambda: AutoTokenizer.from_pretrained(model_id))
        placement: dict[str, Any] = {}
        if quant is not None or config.max_memory:
            placement = (
                {"device_map": "auto", "max_memory": config.max_memory}
                if config.max_memory
                else {"device_map": self.device}
            )
        self.model = load(
            "model",
            model_id,
            lambda: AutoModelForCausalLM.from_pretrained(
                model_id, torch_dtype=dtype_for(self.device), quantization_config=quant, **placement
            ),
        )
        if not placement:
            self.model.to(self.device)
        self.model.eval()
        self._worker: ModelWorker[str] = ModelWorker("llm")

    def stream(self, messages: Sequence[Message], params: GenerationParams) -> AsyncIterator[str]:
        import torch
        from transformers import TextIteratorStreamer

        def produce(emit: Emit[str]) -> None:
            inputs = self.tokenizer.apply_chat_template(
                [dict(m) for m in messages], add_generation_prompt=True, return_tensors="pt", return_dict=True
            ).to(self.model.device)
            seed = params.seed if params.seed is not None else self.config.seed
            if seed is not None:
                torch.manual_seed(seed)
            stream_generation(
                self.model,
                TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True),
                emit,
                lambda piece: piece or None,
                input_ids=inputs["input_ids"],
                attention_mask=inputs["attention_mask"],
                max_new_tokens=params.max_tokens,
                do_sample=params.temperature > 0,
                temperature=max(params.temperature, 1e-5),
                top_p=params.top_p,
                pad_token_id=self.tokenizer.eos_token_id,
            )

        return self._worker.iterate(produce)
