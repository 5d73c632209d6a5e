"""Regenerate the bundled spoken-question corpus (src/rejoinder/data/samples) with the Piper voice.

Run: .venv/bin/python scripts/make_samples.py
Each line of questions.txt is `name<TAB>text`; the WAVs are 16 kHz mono PCM16 with 0.3 s of
silence before and 0.8 s after, as a recorded question would be.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np

from rejoinder.audio import WavWriter, resample
from rejoinder.config import TTSConfig
from rejoinder.registry import create

SAMPLES = Path(__file__).resolve().parent.parent / "src" / "rejoinder" / "data" / "samples"


async def speak(tts: object, text: str) -> np.ndarray:
    chunks = [c async for c in tts.stream(text)]  # type: ignore[attr-defined]
    return resample(np.concatenate(chunks), tts.sample_rate, 16_000)  # type: ignore[attr-defined]


async def main() -> None:
    tts = create("tts", "piper", TTSConfig())
    for line in (SAMPLES / "questions.txt").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, text = line.split("\t", 1)
        audio = await speak(tts, text)
        with WavWriter(SAMPLES / f"{name}.wav", 16_000) as w:
            w.silence(0.3)
            w.write(audio * 0.8)
            w.silence(0.8)
        print(name, f"{audio.size / 16000:.2f} s")


if __name__ == "__main__":
    asyncio.run(main())
