"""Speak the eval question set (src/rejoinder/data/eval/questions.json) with the packaged Piper voice.

Run: .venv/bin/python scripts/make_eval_audio.py
Each user turn becomes `audio/<conversation id>-<turn>.flac`: 16 kHz mono PCM16 FLAC with 0.3 s of
silence before and after. Conversations are spoken with one of the set's `voices`: Piper's
length_scale (speed), noise_scale and noise_w_scale (variation), and optional white noise at a
signal-to-noise ratio; the noise is seeded by the conversation id, so the files are reproducible.
Only the packaged Piper voice is used: eSpeak NG voices are often misheard by Whisper.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import soundfile as sf

from rejoinder.audio import resample
from rejoinder.backends.piper import PiperTTS
from rejoinder.config import TTSConfig

EVAL_DIR = Path(__file__).resolve().parent.parent / "src" / "rejoinder" / "data" / "eval"
RATE = 16_000
PAD_S = 0.3


def speak(tts: PiperTTS, text: str, voice: dict[str, float | None]) -> np.ndarray:
    from piper import SynthesisConfig

    syn = SynthesisConfig(
        length_scale=voice["length_scale"],
        noise_scale=voice["noise_scale"],
        noise_w_scale=voice["noise_w_scale"],
        normalize_audio=False,
    )
    audio = np.concatenate([c.audio_float_array for c in tts.voice.synthesize(text, syn)])
    return resample(audio.astype(np.float32), tts.sample_rate, RATE)


def with_noise(audio: np.ndarray, snr_db: float | None, seed_text: str) -> np.ndarray:
    if snr_db is None:
        return audio
    seed = int.from_bytes(hashlib.sha1(seed_text.encode()).digest()[:4], "little")
    power = float(np.mean(audio**2)) / (10 ** (snr_db / 10))
    noise = np.random.default_rng(seed).normal(0.0, np.sqrt(power), audio.size)
    return (audio + noise).astype(np.float32)


def main() -> None:
    spec = json.loads((EVAL_DIR / "questions.json").read_text())
    out_dir = EVAL_DIR / "audio"
    out_dir.mkdir(exist_ok=True)
    tts = PiperTTS(TTSConfig())
    written = set()
    for conv in spec["conversations"]:
        voice = spec["voices"][conv["voice"]]
        for i, turn in enumerate(conv["turns"]):
            name = f"{conv['id']}-{i}.flac"
            speech = speak(tts, turn["text"], voice) * 0.8
            pad = np.zeros(int(PAD_S * RATE), np.float32)
            audio = with_noise(np.concatenate([pad, speech, pad]), voice["snr_db"], name)
            sf.write(out_dir / name, np.clip(audio, -1, 1), RATE, subtype="PCM_16", format="FLAC")
            written.add(name)
            print(f"{name}: {speech.size / RATE:.2f} s", flush=True)
    for stale in out_dir.glob("*.flac"):
        if stale.name not in written:
            stale.unlink()


if __name__ == "__main__":
    main()
