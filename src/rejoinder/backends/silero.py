"""Silero VAD v6 on plain onnxruntime, using the model file shipped inside faster-whisper."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rejoinder.config import VADConfig
from rejoinder.models import package_dir

_CONTEXT = 64
_SILENT = 1e-4
"""Peak below this (about -80 dBFS) is digital silence: skip the model, it would say 0 anyway."""


class SileroVAD:
    name = "silero"
    sample_rate = 16_000
    frame_samples = 512

    def __init__(self, config: VADConfig) -> None:
        import onnxruntime as ort

        path = package_dir("faster_whisper", "run scripts/install.sh") / "assets" / "silero_vad_v6.onnx"
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 4
        self.session = ort.InferenceSession(
            str(Path(path)), sess_options=opts, providers=["CPUExecutionProvider"]
        )

    def stream(self) -> SileroStream:
        return SileroStream(self)


class SileroStream:
    def __init__(self, vad: SileroVAD) -> None:
        self._session = vad.session
        self._h = np.zeros((1, 1, 128), np.float32)
        self._c = np.zeros((1, 1, 128), np.float32)
        self._context = np.zeros(_CONTEXT, np.float32)

    def probabilities(self, frames: np.ndarray) -> np.ndarray:
        n = frames.size // SileroVAD.frame_samples
        if n == 0:
            return np.zeros(0, np.float32)
        rows = frames[: n * SileroVAD.frame_samples].astype(np.float32, copy=False).reshape(n, -1)
        contexts = np.concatenate([self._context[None, :], rows[:-1, -_CONTEXT:]], axis=0)
        self._context = rows[-1, -_CONTEXT:].copy()
        batch = np.concatenate([contexts, rows], axis=1)
        silent = np.max(np.abs(rows), axis=1) < _SILENT
        probs = np.zeros(n, np.float32)
        # Runs of digitally silent frames skip the model and leave its state alone, frame by frame,
        # so the result does not depend on how the caller blocks its audio.
        start = 0
        while start < n:
            stop = start + 1
            while stop < n and silent[stop] == silent[start]:
                stop += 1
            if not silent[start]:
                out, self._h, self._c = self._session.run(
                    None, {"input": batch[start:stop], "h": self._h, "c": self._c}
                )
                probs[start:stop] = np.asarray(out, np.float32).reshape(-1)[: stop - start]
            start = stop
        return probs
