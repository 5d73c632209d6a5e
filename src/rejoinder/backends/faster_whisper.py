"""Whisper through CTranslate2 (faster-whisper): packaged base model, any size name or model dir."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from rejoinder.backends.worker import ModelWorker
from rejoinder.config import STTConfig
from rejoinder.errors import BackendUnavailable
from rejoinder.models import whisper_base_dir
from rejoinder.stages.stt import Transcript

log = logging.getLogger(__name__)


def _log_progress(done: int, total: int) -> None:
    step = max(1, total // 10)
    if done == total or done % step < (4 << 20):
        log.info("assembling whisper base", extra={"done": done, "total": total})


def resolve_model(name: str) -> str:
    if name == "base":
        return str(whisper_base_dir(_log_progress))
    if Path(name).is_dir():
        return name
    if Path(name).exists():
        raise BackendUnavailable(f"{name}: a faster-whisper model is a directory with model.bin, not a file")
    return name  # a size name such as 'small': loaded from the local Hugging Face cache only


class FasterWhisperSTT:
    name = "faster-whisper"

    def __init__(self, config: STTConfig) -> None:
        from faster_whisper import WhisperModel

        self.config = config
        model = resolve_model(config.model)
        try:
            self.model = WhisperModel(
                model,
                device=config.device,
                compute_type=config.compute_type,
                cpu_threads=config.threads,
                local_files_only=True,
            )
        except Exception as exc:
            raise BackendUnavailable(
                f"faster-whisper model {config.model!r} not found locally and there is no network "
                f"to fetch it ({type(exc).__name__}); give a local model directory"
            ) from None
        self._worker: ModelWorker[None] = ModelWorker("stt")

    def transcribe_blocking(self, audio: np.ndarray) -> Transcript:
        if audio.size == 0:
            return Transcript("", self.config.language, 0.0)
        segments, info = self.model.transcribe(
            audio.astype(np.float32, copy=False),
            language=self.config.language,
            beam_size=self.config.beam_size,
            condition_on_previous_text=False,
            without_timestamps=True,
            vad_filter=False,
        )
        text = " ".join(s.text.strip() for s in segments if s.no_speech_prob < 0.8 or s.avg_logprob > -1.0)
        return Transcript(text.strip(), info.language, audio.size / 16_000)

    async def transcribe(self, audio: np.ndarray) -> Transcript:
        result: Transcript = await self._worker.run(self.transcribe_blocking, audio)
        return result
