"""Parler-TTS (parler-tts/parler-tts-mini-expresso by default): a voice described in words, audio
streamed in chunks while the codec tokens are still being generated."""

from __future__ import annotations

from collections.abc import AsyncIterator

import numpy as np

from rejoinder.backends.hf import device_for, dtype_for, load, stream_generation
from rejoinder.backends.worker import Emit, ModelWorker
from rejoinder.config import TTSConfig

DEFAULT_MODEL = "parler-tts/parler-tts-mini-expresso"
CHUNK_S = 0.5
"""Audio per streamed chunk (Parler decodes the codec every `play_steps` frames)."""


class ParlerTTS:
    name = "parler"

    def __init__(self, config: TTSConfig) -> None:
        from parler_tts import ParlerTTSForConditionalGeneration
        from transformers import AutoTokenizer

        self.config = config
        model_id = DEFAULT_MODEL if config.model in ("tts-1", "") else config.model
        self.device = device_for(config.device)
        self.model = load(
            "Parler-TTS model",
            model_id,
            lambda: ParlerTTSForConditionalGeneration.from_pretrained(
                model_id, torch_dtype=dtype_for(self.device)
            ),
        )
        self.model.to(self.device).eval()
        self.tokenizer = load(
            "Parler-TTS tokenizer", model_id, lambda: AutoTokenizer.from_pretrained(model_id)
        )
        codec = self.model.audio_encoder.config
        self.sample_rate: int = int(codec.sampling_rate)
        self.play_steps = max(self.model.decoder.num_codebooks + 2, int(codec.frame_rate * CHUNK_S))
        self._worker: ModelWorker[np.ndarray] = ModelWorker("tts-parler")

    def stream(self, text: str) -> AsyncIterator[np.ndarray]:
        from parler_tts import ParlerTTSStreamer

        def produce(emit: Emit[np.ndarray]) -> None:
            description = self.tokenizer(self.config.description, return_tensors="pt").to(self.device)
            prompt = self.tokenizer(text, return_tensors="pt").to(self.device)
            stream_generation(
                self.model,
                ParlerTTSStreamer(self.model, device=self.device, play_steps=self.play_steps),
                emit,
                lambda chunk: np.asarray(chunk, np.float32) if chunk.size else None,
                input_ids=description.input_ids,
                attention_mask=description.attention_mask,
                prompt_input_ids=prompt.input_ids,
                prompt_attention_mask=prompt.attention_mask,
                do_sample=True,
                temperature=1.0,
                min_new_tokens=10,
            )

        return self._worker.iterate(produce)
