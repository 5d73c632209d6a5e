"""Loaded models, once per process, shared by every session."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from rejoinder import registry
from rejoinder.config import Config
from rejoinder.registry import Stage
from rejoinder.stages import LLM, STT, TTS, VAD

log = logging.getLogger(__name__)

ALL_STAGES: tuple[Stage, ...] = ("vad", "stt", "llm", "tts")


class Engine:
    def __init__(self, config: Config) -> None:
        self.config = config
        self._stages: dict[str, Any] = {}
        self.load_ms: dict[str, float] = {}
        self.router: Any = None
        """A rejoinder.routers.Router when routing is enabled."""
        self.tier_llms: list[Any] = []

    @classmethod
    def from_stages(cls, config: Config, **stages: Any) -> Engine:
        """An engine over already-built stage objects (tests, embedding in other programs)."""
        engine = cls(config)
        engine._stages.update(stages)
        return engine

    def with_stages(self, **stages: Any) -> Engine:
        """A copy sharing this engine's loaded stages, some replaced."""
        engine = Engine.from_stages(self.config, **{**self._stages, **stages})
        engine.router, engine.tier_llms = self.router, list(self.tier_llms)
        return engine

    @classmethod
    def load(
        cls,
        config: Config,
        stages: Iterable[Stage] = ALL_STAGES,
        status: Callable[[str], None] | None = None,
        warmup: bool = True,
    ) -> Engine:
        engine = cls(config)
        for stage in stages:
            stage_config = getattr(config, stage)
            label = f"{stage} ({stage_config.backend}"
            label += (
                f", {getattr(stage_config, 'model', getattr(stage_config, 'voice', ''))})"
                if stage != "vad"
                else ")"
            )
            if status:
                status(f"loading {label}")
            t0 = time.perf_counter()
            engine._stages[stage] = registry.create(stage, stage_config.backend, stage_config)
            engine.load_ms[stage] = round((time.perf_counter() - t0) * 1000, 1)
            log.info(
                "stage loaded",
                extra={"stage": stage, "backend": stage_config.backend, "ms": engine.load_ms[stage]},
            )
        if config.router.enabled and "llm" in engine._stages:
            engine._load_tiers(status)
        if warmup:
            if status:
                status("warming up")
            engine.warmup()
        return engine

    def _load_tiers(self, status: Callable[[str], None] | None) -> None:
        """One LLM per tier; tiers on the same model file share one loaded copy."""
        from rejoinder.routers import build_router

        self.router = build_router(self.config.router)
        loaded: dict[tuple[str, str, int, int], Any] = {_model_key(self.config.llm): self._stages["llm"]}
        self.tier_llms = []
        for tier in self.config.tier_configs():
            key = _model_key(tier.llm)
            if key not in loaded:
                if status:
                    status(f"loading llm tier {tier.name} ({tier.llm.backend}, {tier.llm.model})")
                loaded[key] = registry.create("llm", tier.llm.backend, tier.llm)
            self.tier_llms.append(loaded[key])

    def warmup(self) -> None:
        """One tiny inference per stage so the first user turn does not pay for lazy init."""
        stt: Any = self._stages.get("stt")
        llm: Any = self._stages.get("llm")
        tts: Any = self._stages.get("tts")
        if hasattr(stt, "transcribe_blocking"):
            stt.transcribe_blocking(np.zeros(8000, np.float32))
        prompts = [(llm, self.config.llm.system_prompt)]
        if self.router is not None:
            tiers = zip(self.tier_llms, self.config.tier_configs(), strict=True)
            prompts += [(tier_llm, tier.llm.system_prompt) for tier_llm, tier in tiers]
        seen: set[tuple[int, str]] = set()
        for model, prompt in prompts:  # tiers sharing a model and prompt are prefilled once
            if hasattr(model, "prefill") and (id(model), prompt) not in seen:
                seen.add((id(model), prompt))
                model.prefill([{"role": "system", "content": prompt}])
        if hasattr(tts, "warmup"):
            tts.warmup()

    def _get(self, stage: str) -> Any:
        if stage not in self._stages:
            raise RuntimeError(f"stage {stage!r} was not loaded in this engine")
        return self._stages[stage]

    @property
    def vad(self) -> VAD:
        return self._get("vad")

    @property
    def stt(self) -> STT:
        return self._get("stt")

    @property
    def llm(self) -> LLM:
        return self._get("llm")

    @property
    def tts(self) -> TTS:
        return self._get("tts")


def _model_key(config: Any) -> tuple[str, str, int, int]:
    return (config.backend, config.model, config.context, config.threads)
