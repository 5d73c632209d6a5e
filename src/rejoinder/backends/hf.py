"""Shared loading rules for the transformers backends: device, dtype, quantisation, clear errors."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from rejoinder.backends.worker import Emit
from rejoinder.errors import BackendUnavailable, BadInputError

T = TypeVar("T")


def device_for(preference: str) -> str:
    import torch

    if preference == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if preference.startswith("cuda") and not torch.cuda.is_available():
        raise BadInputError(f"device {preference!r} asked for, but no CUDA GPU is visible")
    return preference


def dtype_for(device: str) -> Any:
    import torch

    return torch.float16 if device.startswith("cuda") else torch.float32


def quantization(mode: str, device: str) -> Any:
    """A BitsAndBytesConfig for 4-bit / 8-bit weights (CUDA only), or None."""
    if mode == "none":
        return None
    if not device.startswith("cuda"):
        raise BadInputError(
            f"{mode} quantisation (bitsandbytes) needs a CUDA GPU; use quantize 'none' on CPU"
        )
    try:
        import bitsandbytes  # noqa: F401
        from transformers import BitsAndBytesConfig
    except ImportError:
        raise BackendUnavailable("quantisation needs bitsandbytes: pip install 'rejoinder[gpu]'") from None
    if mode == "4bit":
        import torch

        return BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_compute_dtype=torch.float16, bnb_4bit_quant_type="nf4"
        )
    return BitsAndBytesConfig(load_in_8bit=True)


def load(what: str, name: str, loader: Callable[[], T]) -> T:
    """Run a from_pretrained call; a missing model becomes one clear line, not a traceback."""
    try:
        return loader()
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BackendUnavailable(
            f"{what} {name!r} not found locally and could not be downloaded (no network?): {first[:160]}"
        ) from None


def stream_generation(
    model: Any, streamer: Any, emit: Emit[Any], convert: Callable[[Any], Any | None], **generate_kwargs: Any
) -> None:
    """Run `model.generate` on its own thread and pass what its streamer yields to `emit`.

    Once the consumer is gone (emit returns False) a stopping criterion ends generation at the next
    step; an error inside generate() is raised here, in the caller's thread.
    """
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    stop = threading.Event()

    class Stop(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> bool:
            return stop.is_set()

    failure: list[BaseException] = []

    def generate() -> None:
        try:
            with torch.inference_mode():
                model.generate(
                    streamer=streamer, stopping_criteria=StoppingCriteriaList([Stop()]), **generate_kwargs
                )
        except BaseException as exc:
            failure.append(exc)
            streamer.end()

    thread = threading.Thread(target=generate, daemon=True)
    thread.start()
    try:
        for item in streamer:
            value = convert(item)
            if value is not None and not emit(value):
                break
    finally:
        stop.set()
        thread.join()
    if failure:
        raise failure[0]
