"""Whisper through transformers: any hub id or local path; fp16 on CUDA (optional 8-bit), fp32 on CPU."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from rejoinder.backends.hf import device_for, dtype_for, load, quantization
from rejoinder.backends.worker import ModelWorker
from rejoinder.config import STTConfig
from rejoinder.stages.capabilities import Capability
from rejoinder.stages.stt import Transcript


class TransformersWhisperSTT:
    capabilities: ClassVar[frozenset[Capability]] = frozenset({"transcribe_blocking"})
    name = "transformers-whisper"

    def __init__(self, config: STTConfig) -> None:
        from transformers import WhisperForConditionalGeneration, WhisperProcessor

        self.config = config
        model_id = "openai/whisper-small" if config.model == "base" else config.model
        self.device = device_for(
            "auto" if config.device == "cpu" and config.quantize != "none" else config.device
        )
        quant = quantization(config.quantize, self.device)
        self.processor = load(
            "Whisper processor", model_id, lambda: WhisperProcessor.from_pretrained(model_id)
        )
        self.model = load(
            "Whisper model",
            model_id,
            lambda: WhisperForConditionalGeneration.from_pretrained(
                model_id,
                torch_dtype=dtype_for(self.device),
                quantization_config=quant,
                **({"device_map": self.device} if quant is not None else {}),
            ),
        )
        if quant is None:
            self.model.to(self.device)
        self.model.eval()
        self._worker: ModelWorker[None] = ModelWorker("stt")

    def transcribe_blocking(self, audio: np.ndarray) -> Transcript:
        import torch

        if audio.size == 0:
            return Transcript("", self.config.language, 0.0)
        features = self.processor(audio, sampling_rate=16_000, return_tensors="pt").input_features
        features = features.to(self.device, dtype=self.model.dtype)
        kwargs = {"language": self.config.language} if self.config.language else {}
        with torch.inference_mode():
            ids = self.model.generate(
                features, task="transcribe", max_new_tokens=128, num_beams=self.config.beam_size, **kwargs
            )
        text = self.processor.batch_decode(ids, skip_special_tokens=True)[0]
        return Transcript(text.strip(), self.config.language, audio.size / 16_000)

    async def transcribe(self, audio: np.ndarray) -> Transcript:
        result: Transcript = await self._worker.run(self.transcribe_blocking, audio)
        return result
