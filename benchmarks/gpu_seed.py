"""Per-stage latency of the reference GPU model set, built at full size with random weights.

Whisper small, Phi-3.5-mini-instruct and Parler-TTS mini are assembled from their published
architecture settings (no download: random weights have the same cost as trained ones), then timed:
STT on a 3 s utterance, LLM time to first token and tokens/s, TTS time to first audio and real-time
factor, and end of speech -> first audio for one turn (STT + first clause of 8 tokens + first audio).

    python benchmarks/gpu_seed.py --json --out docs/bench-gpu.json      # on a CUDA machine
    python benchmarks/gpu_seed.py --scale tiny --device cpu --json      # smoke test (used by the tests)

Needs the [seed] extra (and [gpu] for 4/8-bit). Medians over --runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from typing import Any

import torch

from rejoinder.bench import summarise


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _median_p95(values: list[float]) -> dict[str, float | int]:
    """The same median and p95 as `rejoinder bench` reports."""
    stats = summarise(values)
    return {"median": stats["median"], "p95": stats["p95"]}


def whisper(scale: str, device: str, dtype: Any, quantize: bool) -> Any:
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    size = dict(
        d_model=768,
        encoder_layers=12,
        decoder_layers=12,
        encoder_attention_heads=12,
        decoder_attention_heads=12,
        encoder_ffn_dim=3072,
        decoder_ffn_dim=3072,
    )  # whisper-small
    if scale == "tiny":
        size = dict(
            d_model=64,
            encoder_layers=1,
            decoder_layers=1,
            encoder_attention_heads=2,
            decoder_attention_heads=2,
            encoder_ffn_dim=128,
            decoder_ffn_dim=128,
        )
    config = WhisperConfig(
        vocab_size=51865,
        num_mel_bins=80,
        max_source_positions=1500,
        max_target_positions=448,
        decoder_start_token_id=50258,
        pad_token_id=50257,
        eos_token_id=50257,
        **size,
    )
    return _build(WhisperForConditionalGeneration, config, device, dtype, "8bit" if quantize else None)


def phi(scale: str, device: str, dtype: Any, quantize: bool) -> Any:
    from transformers import Phi3Config, Phi3ForCausalLM

    size = dict(
        hidden_size=3072,
        intermediate_size=8192,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=32,
    )  # Phi-3.5-mini-instruct
    if scale == "tiny":
        size = dict(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=2,
        )
    config = Phi3Config(vocab_size=32064, max_position_embeddings=4096, **size)
    return _build(Phi3ForCausalLM, config, device, dtype, "4bit" if quantize else None)


def parler(scale: str, device: str, dtype: Any) -> Any:
    from parler_tts import ParlerTTSConfig, ParlerTTSForConditionalGeneration
    from parler_tts.configuration_parler_tts import ParlerTTSDecoderConfig
    from parler_tts.dac_wrapper import DACConfig
    from transformers import T5Config

    if scale == "tiny":
        text = T5Config(vocab_size=300, d_model=32, d_kv=8, d_ff=64, num_layers=1, num_heads=2)
        codec = DACConfig(num_codebooks=2, codebook_size=64, latent_dim=32)
        decoder = ParlerTTSDecoderConfig(
            vocab_size=66,
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            ffn_dim=64,
            num_codebooks=2,
            pad_token_id=64,
            bos_token_id=65,
            eos_token_id=64,
            max_position_embeddings=4096,
        )
        bos, pad = 65, 64
    else:  # parler-tts-mini: flan-t5-base text encoder, 24-layer decoder, 44.1 kHz DAC with 9 codebooks
        text = T5Config(
            vocab_size=32128,
            d_model=768,
            d_kv=64,
            d_ff=2048,
            num_layers=12,
            num_heads=12,
            feed_forward_proj="gated-gelu",
            is_gated_act=True,
        )
        codec = DACConfig(num_codebooks=9, codebook_size=1024, latent_dim=1024)
        decoder = ParlerTTSDecoderConfig(
            vocab_size=1088,
            hidden_size=1024,
            num_hidden_layers=24,
            num_attention_heads=16,
            ffn_dim=4096,
            num_codebooks=9,
            pad_token_id=1024,
            bos_token_id=1025,
            eos_token_id=1024,
            max_position_embeddings=4096,
        )
        bos, pad = 1025, 1024
    config = ParlerTTSConfig.from_sub_models_config(text, codec, decoder)
    config.decoder_start_token_id, config.pad_token_id = bos, pad
    model = ParlerTTSForConditionalGeneration(config).to(device, dtype).eval()
    gen = model.generation_config
    gen.decoder_start_token_id, gen.bos_token_id, gen.pad_token_id, gen.eos_token_id = bos, bos, pad, pad
    return model


def _build(cls: Any, config: Any, device: str, dtype: Any, quantize: str | None) -> Any:
    model = cls(config)
    if quantize is None:
        return model.to(device, dtype).eval()
    from transformers import BitsAndBytesConfig

    bnb = (
        BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_compute_dtype=dtype)
        if quantize == "4bit"
        else BitsAndBytesConfig(load_in_8bit=True)
    )
    with tempfile.TemporaryDirectory() as tmp:  # bitsandbytes quantises while loading
        model.to(dtype).save_pretrained(tmp)
        del model
        return cls.from_pretrained(tmp, quantization_config=bnb, device_map=device, torch_dtype=dtype).eval()


def time_stt(model: Any, device: str, runs: int, tokens: int) -> list[float]:
    frames = 3000  # the transformers Whisper always encodes a 30 s window (3 s of speech + padding)
    features = torch.randn(1, 80, frames, device=device, dtype=model.dtype)
    out = []
    for _ in range(runs + 1):
        _sync(device)
        t0 = time.perf_counter()
        with torch.inference_mode():
            model.generate(features, max_new_tokens=tokens, min_new_tokens=tokens)
        _sync(device)
        out.append((time.perf_counter() - t0) * 1000)
    return out[1:]


def time_llm(
    model: Any, device: str, runs: int, prompt: int, tokens: int
) -> tuple[list[float], list[float], list[float]]:
    from transformers.generation.streamers import BaseStreamer

    class Stamps(BaseStreamer):  # the time each new token leaves generate()
        def __init__(self) -> None:
            self.times: list[float] = []
            self.prompt_seen = False

        def put(self, value: Any) -> None:
            if not self.prompt_seen:  # the first put() is the prompt
                self.prompt_seen = True
                return
            self.times.append(time.perf_counter())

        def end(self) -> None:
            pass

    ttft, first_clause, rate = [], [], []
    ids = torch.randint(0, 32000, (1, prompt), device=device)
    for _ in range(runs + 1):
        stamps = Stamps()
        _sync(device)
        t0 = time.perf_counter()
        with torch.inference_mode():
            model.generate(
                input_ids=ids, max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False, streamer=stamps
            )
        times = stamps.times
        ttft.append((times[0] - t0) * 1000)
        first_clause.append((times[min(7, len(times) - 1)] - t0) * 1000)
        rate.append((len(times) - 1) / max(1e-6, times[-1] - times[0]))
    return ttft[1:], first_clause[1:], rate[1:]


def time_tts(model: Any, device: str, runs: int, seconds: float) -> tuple[list[float], list[float]]:
    from parler_tts import ParlerTTSStreamer
    from transformers import LogitsProcessor, LogitsProcessorList

    from rejoinder.backends.hf import stream_generation

    rate = model.audio_encoder.config.frame_rate
    sr = model.audio_encoder.config.sampling_rate
    codes = model.audio_encoder.config.codebook_size
    frames = int(seconds * rate)
    description = torch.randint(0, 300, (1, 24), device=device)
    prompt = torch.randint(0, 300, (1, 12), device=device)

    class CodesOnly(LogitsProcessor):
        """Random weights sample the decoder's special ids (>= codebook size) as often as codes,
        and the codec cannot decode them (a trained model does not emit them mid-speech)."""

        def __call__(self, input_ids: Any, scores: Any) -> Any:
            scores[:, codes:] = -float("inf")
            return scores

    first, rtf = [], []
    for _ in range(runs + 1):
        got, first_at = 0, None

        def emit(chunk: Any) -> bool:
            nonlocal got, first_at
            if first_at is None:
                first_at = time.perf_counter()
            got += chunk.size
            return True

        _sync(device)
        t0 = time.perf_counter()
        stream_generation(  # raises what generate() raised, instead of waiting for chunks forever
            model,
            ParlerTTSStreamer(model, device=device, play_steps=max(12, int(rate * 0.5))),
            emit,
            lambda chunk: chunk if chunk.size else None,
            input_ids=description,
            prompt_input_ids=prompt,
            do_sample=True,
            min_new_tokens=frames,
            max_new_tokens=frames,
            logits_processor=LogitsProcessorList([CodesOnly()]),
        )
        elapsed = time.perf_counter() - t0
        first.append(((first_at or time.perf_counter()) - t0) * 1000)
        rtf.append(elapsed / max(1e-6, got / sr))
    return first[1:], rtf[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", choices=["full", "tiny"], default="full")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tts-seconds", type=float, default=3.0, help="speech to synthesise per TTS run")
    parser.add_argument(
        "--no-quantize", action="store_true", help="fp16 instead of 8-bit Whisper / 4-bit Phi"
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--out")
    args = parser.parse_args()
    device = args.device
    cuda = device.startswith("cuda")
    dtype = torch.float16 if cuda else torch.float32
    quantize = cuda and not args.no_quantize
    torch.manual_seed(0)
    result: dict[str, Any] = {
        "device": torch.cuda.get_device_name(0) if cuda else "cpu",
        "scale": args.scale,
        "runs": args.runs,
        "torch": torch.__version__,
        "quantized": quantize,
    }
    stt = time_stt(whisper(args.scale, device, dtype, quantize), device, args.runs, tokens=12)
    result["stt_3s_ms"] = _median_p95(stt)
    torch.cuda.empty_cache() if cuda else None
    ttft, clause, rate = time_llm(
        phi(args.scale, device, dtype, quantize), device, args.runs, prompt=160, tokens=64
    )
    result["llm_first_token_ms"] = _median_p95(ttft)
    result["llm_first_clause_8_tokens_ms"] = _median_p95(clause)
    result["llm_tokens_per_s"] = round(statistics.median(rate), 1)
    first, rtf = time_tts(parler(args.scale, device, dtype), device, args.runs, seconds=args.tts_seconds)
    result["tts_first_audio_ms"] = _median_p95(first)
    result["tts_real_time_factor"] = round(statistics.median(rtf), 3)
    result["turn_end_of_speech_to_first_audio_ms"] = round(
        result["stt_3s_ms"]["median"]
        + result["llm_first_clause_8_tokens_ms"]["median"]
        + result["tts_first_audio_ms"]["median"],
        1,
    )
    text = json.dumps(result, indent=2)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    print(text if args.json else "\n".join(f"{k}: {v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
