"""Speak the tool eval requests (src/rejoinder/data/tools_eval.jsonl) with the packaged Piper voice.

Run: .venv/bin/python scripts/make_tool_audio.py
Each request becomes `tools_eval_audio/<id>.ogg`: 16 kHz mono Ogg/Opus with 0.3 s of silence before
and after. Requests take the spoken question set's voices in turn (questions.json `voices`: speed,
variation and optional white noise), so the speed changes from clip to clip; the noise is seeded by
the request id. Spoken and written as make_eval_audio.py and make_turns.py do (their helpers).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_eval_audio import EVAL_DIR, PAD_S, RATE, speak, with_noise
from make_turns import write_ogg

from rejoinder.backends.piper import PiperTTS
from rejoinder.config import TTSConfig
from rejoinder.evals.tools import load_cases
from rejoinder.evals.tools_spoken import audio_dir, audio_path

OUT = EVAL_DIR.parent / "tools_eval_audio"


def main() -> None:
    assert audio_dir().resolve() == OUT.resolve(), "run from the source tree (an editable install)"
    voices = json.loads((EVAL_DIR / "questions.json").read_text())["voices"]
    OUT.mkdir(exist_ok=True)
    tts = PiperTTS(TTSConfig())
    written = set()
    for i, case in enumerate(load_cases()):
        voice = voices[i % len(voices)]
        path = audio_path(case, OUT)
        speech = speak(tts, case.text, voice) * 0.8
        pad = np.zeros(int(PAD_S * RATE), np.float32)
        audio = with_noise(np.concatenate([pad, speech, pad]), voice["snr_db"], path.name)
        write_ogg(path, np.clip(audio, -1, 1))
        written.add(path.name)
        print(f"{path.name}: {speech.size / RATE:.2f} s, length_scale {voice['length_scale']}", flush=True)
    for stale in OUT.iterdir():
        if stale.name not in written:
            stale.unlink()


if __name__ == "__main__":
    main()
