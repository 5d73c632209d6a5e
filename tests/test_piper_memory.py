"""A long sentence synthesised once must not keep the process big: Piper runs without
onnxruntime's memory arena, which would keep the peak of the longest sentence for ever."""

from __future__ import annotations

from helpers import rss_mb
from rejoinder import registry
from rejoinder.config import TTSConfig


def test_a_long_sentence_leaves_no_lasting_growth() -> None:
    tts = registry.create("tts", "piper", TTSConfig())
    tts.warmup()
    sentence = "The quick brown fox jumps over the lazy dog near the river bank, " * 16  # 1,040 chars
    before = rss_mb()
    for _ in tts.voice.synthesize(sentence, tts._syn):
        pass
    for _ in tts.voice.synthesize("Hello there.", tts._syn):
        pass
    grown = rss_mb() - before
    # with the arena: about +1,300 MB kept; without it: about +250 MB (glibc's own caches)
    assert grown < 600, f"{grown:.0f} MB kept after one long sentence"
