"""eSpeak NG through ctypes (library and voices from the espeakng-loader package): a robotic but
tiny, instant fallback voice for any language eSpeak knows."""

from __future__ import annotations

import ctypes
from collections.abc import AsyncIterator

import numpy as np

from rejoinder.backends.worker import Emit, ModelWorker
from rejoinder.config import TTSConfig
from rejoinder.errors import BadInputError

_SYNCHRONOUS = 0x02
_CHARS_UTF8 = 1
_RATE = 1
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class EspeakTTS:
    name = "espeak"

    def __init__(self, config: TTSConfig) -> None:
        import espeakng_loader

        self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self.lib.espeak_Initialize.restype = ctypes.c_int
        rate = self.lib.espeak_Initialize(_SYNCHRONOUS, 0, espeakng_loader.get_data_path().encode(), 0)
        if rate <= 0:
            raise BadInputError("eSpeak NG failed to initialise")
        self.sample_rate: int = rate
        voice = "en-us" if config.voice in ("joe", "") else config.voice
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise BadInputError(f"eSpeak NG has no voice {voice!r} (try en-us, en-gb, de, fr, es, ...)")
        self.lib.espeak_SetParameter(_RATE, int(175 * config.speed), 0)
        self._emit: Emit[np.ndarray] | None = None
        self._callback = _CALLBACK(self._on_audio)  # keep a reference: C holds the pointer
        self.lib.espeak_SetSynthCallback(self._callback)
        self._worker: ModelWorker[np.ndarray] = ModelWorker("tts-espeak")

    def _on_audio(self, wav: ctypes._Pointer[ctypes.c_short], count: int, events: int) -> int:
        if count > 0 and self._emit is not None:
            chunk = np.ctypeslib.as_array(wav, shape=(count,)).astype(np.float32) / 32768.0
            if not self._emit(chunk):
                return 1  # the listener is gone: abort synthesis
        return 0

    def stream(self, text: str) -> AsyncIterator[np.ndarray]:
        def produce(emit: Emit[np.ndarray]) -> None:
            self._emit = emit
            data = text.encode("utf-8") + b"\0"
            try:
                self.lib.espeak_Synth(data, len(data), 0, 0, 0, _CHARS_UTF8, None, None)
            finally:
                self._emit = None

        return self._worker.iterate(produce)
