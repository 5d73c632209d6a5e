"""Moonshine (English) through onnxruntime: the packaged base model, greedy decoding.

Moonshine encodes exactly the audio it is given (no fixed 30 s window as in Whisper), so a
short question costs a short encoder pass; the decoder then writes tokens one by one with its
key/value cache. Moonshine loops on audio longer than it was trained on and can run on after
the speech ends, so decoding is capped per second of audio, stops on a block repeated four
times, and turns longer than 20 s are transcribed in pieces cut at a quiet moment.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from rejoinder.backends.worker import ModelWorker
from rejoinder.config import STTConfig
from rejoinder.errors import BackendUnavailable, BadInputError
from rejoinder.moonshine_assets import MoonshineFiles, prepared_files, user_files
from rejoinder.stages.stt import Transcript

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
TOKENS_PER_SECOND = 6.5
"""Decoding cap: English speech runs at ~3-4.5 tokens a second (the fastest clip here: 4.3)."""
MIN_TOKENS = 4
REPEATS_TO_STOP = 4
MAX_PIECE_S = 20.0
"""Longer audio is cut into pieces of at most this (Moonshine trained on up to ~30 s)."""
TRAILING_SILENCE_S = 0.5
"""Appended to the audio: the live loop hands STT the speech plus at most ~0.2 s, and Moonshine
often drops or mangles a last word it hears cut short ("ten metres" for "ten meters", "days are
and a week,"). On the test and eval clips cut by the VAD as the live loop cuts them, word errors
fell from 35 to 23 in 803 words (0.3 s: 21, 0.8 s: 22)."""
RETRY_MIN_S, RETRY_PAD_S = 0.5, 0.5
"""Speech at least this long that decodes to nothing is tried once more with this much silence after."""
START, END, SPECIAL = 1, 2, 3
"""Token ids: start of transcript, end of transcript, first ordinary token."""


class Tokenizer:
    """Moonshine's tokenizer.bin: for each token id in order, a length byte then its bytes
    (SentencePiece pieces, '▁' for a space; ids 3-258 are the raw bytes of byte fallback)."""

    def __init__(self, path: Path) -> None:
        data = path.read_bytes()
        pieces: list[bytes] = []
        at = 0
        while at < len(data):
            size = data[at]
            pieces.append(data[at + 1 : at + 1 + size])
            at += 1 + size
        if at != len(data) or len(pieces) <= SPECIAL:
            raise BackendUnavailable(f"{path}: not a Moonshine tokenizer.bin")
        self.pieces = pieces

    def decode(self, ids: list[int]) -> str:
        raw = b"".join(self.pieces[i] for i in ids if SPECIAL <= i < len(self.pieces))
        return raw.decode("utf-8", errors="replace").replace("\u2581", " ").strip()


def resolve_files(model: str) -> MoonshineFiles:
    if Path(model).is_dir():
        return user_files(Path(model))
    if Path(model).exists():
        raise BackendUnavailable(f"{model}: a moonshine model is a directory, not a file")
    return prepared_files(model)


def _repeated_tail(tokens: list[int]) -> int:
    """Length of the block repeated REPEATS_TO_STOP times at the end of `tokens` (0: none)."""
    for size in range(1, len(tokens) // REPEATS_TO_STOP + 1):
        block = tokens[-size:]
        if all(tokens[-(k + 1) * size : len(tokens) - k * size] == block for k in range(1, REPEATS_TO_STOP)):
            return size
    return 0


def split_points(audio: np.ndarray, max_s: float = MAX_PIECE_S) -> list[int]:
    """Sample offsets that cut `audio` into pieces of at most max_s, each cut at the quietest
    50 ms in the second half of its piece (between words, as far as energy can tell)."""
    limit = int(max_s * SAMPLE_RATE)
    frame = SAMPLE_RATE // 20
    cuts = [0]
    while audio.size - cuts[-1] > limit:
        start = cuts[-1] + limit // 2
        window = audio[start : cuts[-1] + limit]
        frames = window[: window.size // frame * frame].reshape(-1, frame)
        quietest = int(np.argmin((frames**2).mean(axis=1)))
        cuts.append(start + quietest * frame + frame // 2)
    return [*cuts, audio.size]


def _session(ort: Any, path: Path, threads: int) -> Any:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # idle threads must not spin: the LLM and TTS share these cores (spinning doubled the time
    # per clip on a loaded 2-core machine)
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class MoonshineSTT:
    name = "moonshine"

    def __init__(self, config: STTConfig) -> None:
        import onnxruntime as ort

        if config.language not in (None, "en"):
            raise BadInputError(
                f"moonshine is English-only; language {config.language!r} needs faster-whisper"
            )
        self.config = config
        files = resolve_files(config.model)
        self.tokenizer = Tokenizer(files.tokenizer)
        try:
            self.encoder = _session(ort, files.encoder, config.threads)
            # A decoder step is a few small matrix-vector products: one thread is as fast as two
            # on 2 cores and, under load, steadier (p95), leaving the other core to the LLM/TTS.
            self.decoder = _session(ort, files.decoder, 1)
        except Exception as exc:  # onnxruntime raises its own types for unreadable graphs
            first = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
            raise BackendUnavailable(f"moonshine model {config.model!r} does not load: {first}") from None
        inputs = {i.name: i for i in self.decoder.get_inputs()}
        self._past = [n for n in inputs if n.startswith("past_key_values.")]
        self._outputs = outputs = [o.name for o in self.decoder.get_outputs()]
        self._present = {n: n.replace("past_key_values.", "present.") for n in self._past}
        if not self._past or any(p not in outputs for p in self._present.values()) or "logits" not in outputs:
            raise BackendUnavailable(f"moonshine model {config.model!r}: not a merged Moonshine decoder")
        heads, head_dim = inputs[self._past[0]].shape[1], inputs[self._past[0]].shape[3]
        self._empty = np.zeros((1, int(heads), 0, int(head_dim)), np.float32)
        self._worker: ModelWorker[None] = ModelWorker("stt")

    def transcribe_blocking(self, audio: np.ndarray) -> Transcript:
        audio = audio.astype(np.float32, copy=False).reshape(-1)
        if audio.size == 0:
            return Transcript("", "en", 0.0)
        cuts = split_points(audio)
        pieces = [self._transcribe_piece(audio[a:b]) for a, b in itertools.pairwise(cuts)]
        logprobs = [lp for _, piece_logprobs in pieces for lp in piece_logprobs]
        confidence = math.exp(sum(logprobs) / len(logprobs)) if logprobs else None
        text = " ".join(t for t, _ in pieces if t)
        return Transcript(text, "en", audio.size / SAMPLE_RATE, confidence)

    def _transcribe_piece(self, audio: np.ndarray) -> tuple[str, list[float]]:
        seconds = audio.size / SAMPLE_RATE
        audio = np.pad(audio, (0, int(TRAILING_SILENCE_S * SAMPLE_RATE)))
        tokens, logprobs = self._decode(audio, seconds)
        if not tokens and seconds >= RETRY_MIN_S:
            # Moonshine sometimes ends at once on speech of some lengths (e.g. 10.0 s of clear
            # speech, but not 9.9 or 10.25 s); a little trailing silence gets the words out.
            tokens, logprobs = self._decode(np.pad(audio, (0, int(RETRY_PAD_S * SAMPLE_RATE))), seconds)
        return self.tokenizer.decode(tokens), logprobs

    def _decode(self, audio: np.ndarray, seconds: float) -> tuple[list[int], list[float]]:
        """Greedy decoding, at most TOKENS_PER_SECOND * seconds tokens; the tokens and the log
        probability of each."""
        t0 = time.perf_counter()
        encoded = self.encoder.run(None, {"input_values": audio[None, :]})[0]
        t1 = time.perf_counter()
        cap = max(MIN_TOKENS, math.ceil(TOKENS_PER_SECOND * seconds))
        past = dict.fromkeys(self._past, self._empty)
        tokens: list[int] = []
        logprobs: list[float] = []
        token = START
        stop = "cap"
        for step in range(cap):
            outputs = self.decoder.run(
                None,
                {
                    "input_ids": np.array([[token]], np.int64),
                    "encoder_hidden_states": encoded,
                    "use_cache_branch": np.array([step > 0]),
                    **past,
                },
            )
            present = dict(zip(self._outputs, outputs, strict=True))
            logits = present["logits"][0, -1, : len(self.tokenizer.pieces)].astype(np.float64)
            token = int(np.argmax(logits))
            if token == END:
                stop = "end"
                break
            tokens.append(token)
            logprobs.append(-math.log(float(np.exp(logits - logits[token]).sum())))
            for name in self._past:  # the encoder's keys/values are computed once, on step 0
                if step == 0 or ".decoder." in name:
                    past[name] = present[self._present[name]]
            repeated = _repeated_tail(tokens)
            if repeated:
                del tokens[len(tokens) - (REPEATS_TO_STOP - 1) * repeated :]
                del logprobs[len(tokens) :]
                stop = "repeat"
                break
        log.debug(
            "moonshine decoded",
            extra={
                "audio_s": round(seconds, 2),
                "tokens": len(tokens),
                "stop": stop,
                "encoder_ms": round((t1 - t0) * 1000, 1),
                "decoder_ms": round((time.perf_counter() - t1) * 1000, 1),
            },
        )
        return tokens, logprobs

    async def transcribe(self, audio: np.ndarray) -> Transcript:
        result: Transcript = await self._worker.run(self.transcribe_blocking, audio)
        return result
