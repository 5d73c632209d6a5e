"""Smart Turn v3.2: an audio-only end-of-turn classifier (Whisper-tiny-sized encoder, ONNX).

The model file ships inside the pipecat-ai wheel (installed --no-deps, never imported); it is
run here with our own onnxruntime on one thread and our own feature code (log_mel.py), on its
own worker thread so a call (about 45-130 ms on one core) never blocks the event loop.
"""

from __future__ import annotations

import time
from typing import ClassVar

import numpy as np

from rejoinder.backends.log_mel import SAMPLE_RATE, fit_window, log_mel
from rejoinder.backends.worker import ModelWorker
from rejoinder.config import VADConfig
from rejoinder.models import smart_turn_path
from rejoinder.stages.capabilities import Capability


class SmartTurn:
    capabilities: ClassVar[frozenset[Capability]] = frozenset({"warmup"})
    name = "smart-turn"
    sample_rate = SAMPLE_RATE
    window_s = 8.0

    def __init__(self, config: VADConfig | None = None) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # One thread that does not spin between calls: the LLM and TTS share the cores.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(
            str(smart_turn_path()), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        self._worker: ModelWorker[None] = ModelWorker("turn")
        self.last_ms = 0.0
        """Wall time of the latest call (features + model), for reports."""

    def probability_blocking(self, audio: np.ndarray) -> float:
        t0 = time.perf_counter()
        features = log_mel(fit_window(audio, self.window_s))[None]
        out = self.session.run(None, {"input_features": features})[0]
        self.last_ms = (time.perf_counter() - t0) * 1000
        return float(np.asarray(out).reshape(-1)[0])

    async def probability(self, audio: np.ndarray) -> float:
        result: float = await self._worker.run(self.probability_blocking, np.array(audio, np.float32))
        return result

    def warmup(self) -> None:
        self.probability_blocking(np.zeros(SAMPLE_RATE, np.float32))

    def close(self) -> None:
        self._worker.close()
