"""Piper VITS voices on onnxruntime; packaged en_US joe medium by default."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import ClassVar

import numpy as np

from rejoinder.backends.worker import ModelWorker
from rejoinder.config import TTSConfig
from rejoinder.errors import BadInputError
from rejoinder.models import piper_joe_path
from rejoinder.stages.capabilities import Capability


def resolve_voice(name: str) -> Path:
    if name == "joe":
        return piper_joe_path()
    path = Path(name)
    if not path.is_file() or not Path(f"{path}.json").is_file():
        raise BadInputError(f"{name}: Piper voice needs both the .onnx file and its .onnx.json beside it")
    return path


class PiperTTS:
    capabilities: ClassVar[frozenset[Capability]] = frozenset({"warmup"})
    name = "piper"

    def __init__(self, config: TTSConfig) -> None:
        import onnxruntime as ort
        from piper import PiperVoice, SynthesisConfig
        from piper.config import PiperConfig

        path = resolve_voice(config.voice)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = config.threads
        opts.inter_op_num_threads = 1
        # Idle threads must not spin: the LLM needs the same cores between clauses.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.log_severity_level = 3
        # No memory arena: it grows to the longest sentence ever synthesised and never gives it back
        # (one 4,160-character sentence left the process at 6.4 GB; without it, 0.4 GB after the
        # peak), at the cost of about 10 % more time per clause (docs/soak.md).
        opts.enable_cpu_mem_arena = False
        with open(f"{path}.json", encoding="utf-8") as f:
            voice_config = PiperConfig.from_dict(json.load(f))
        self.voice = PiperVoice(
            session=ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"]),
            config=voice_config,
        )
        self.sample_rate: int = voice_config.sample_rate
        # Per-chunk peak normalisation would make loudness jump between clauses.
        self._syn = SynthesisConfig(length_scale=1.0 / config.speed, normalize_audio=False)
        self._worker: ModelWorker[np.ndarray] = ModelWorker("tts")

    def warmup(self) -> None:
        for _ in self.voice.synthesize("Hello.", self._syn):
            pass

    def stream(self, text: str) -> AsyncIterator[np.ndarray]:
        def sentences() -> Iterator[np.ndarray]:
            # Piper yields one chunk per sentence: batch work steps aside for voice between them.
            for chunk in self.voice.synthesize(text, self._syn):
                yield chunk.audio_float_array.astype(np.float32, copy=False)

        return self._worker.iterate_steps(sentences)
