"""Loaded models, once per process, shared by every session."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from rejoinder import registry
from rejoinder.config import Config, LLMConfig
from rejoinder.endpointing import load_end_of_turn, load_text_model
from rejoinder.errors import BadInputError, RejoinderError
from rejoinder.registry import Stage
from rejoinder.stages import LLM, STT, TTS, VAD
from rejoinder.stages.capabilities import can_prefill, can_transcribe_blocking, can_warm_up, has_slots
from rejoinder.stages.turn import EndOfTurn, TextEndOfTurn

if TYPE_CHECKING:
    from rejoinder.tools.toolset import ToolSet

log = logging.getLogger(__name__)

ALL_STAGES: tuple[Stage, ...] = ("vad", "stt", "llm", "tts")


@dataclass(frozen=True)
class Tier:
    """One LLM a turn can be routed to: its loaded model and its settings (prompt, budget)."""

    name: str
    llm: LLM
    config: LLMConfig


class Engine:
    def __init__(self, config: Config) -> None:
        self.config = config
        self._stages: dict[str, Any] = {}
        self.load_ms: dict[str, float] = {}
        self.router: Any = None
        """A rejoinder.routers.Router when routing is enabled."""
        self.tiers: list[Tier] = []
        """Weakest first; one tier (the `llm` stage) when routing is off."""
        self.end_of_turn: EndOfTurn | None = None
        """The end-of-turn model ('smart' turn detection); None: a fixed silence ends turns."""
        self.turn_text: TextEndOfTurn | None = None
        """The judge of the words that goes with it; None: the transcript rules alone."""
        self.tools: ToolSet | None = None
        """In-process tools every session may call (--tools, built-ins); None: none."""
        self.tier_failures: dict[str, str] = {}
        """Routing tiers that failed to load (name -> one-line reason); the others answer."""
        self.writing: Counter[str] = Counter()
        """Replies being written now, per tier name, by every session of this process."""

    @classmethod
    def from_stages(cls, config: Config, **stages: Any) -> Engine:
        """An engine over already-built stage objects (tests, embedding in other programs)."""
        engine = cls(config)
        engine._stages.update(stages)
        engine.end_of_turn = stages.get("turn")
        engine.turn_text = stages.get("turn_text")
        if "llm" in stages:
            engine.tiers = [Tier("default", stages["llm"], config.llm)]
        return engine

    def with_stages(self, **stages: Any) -> Engine:
        """A copy sharing this engine's loaded stages, some replaced (a replaced llm replaces
        every tier that used the old one)."""
        engine = Engine.from_stages(self.config, **{**self._stages, **stages})
        old, new = self._stages.get("llm"), stages.get("llm")
        engine.router = self.router
        engine.tools = self.tools
        engine.end_of_turn = stages.get("turn", self.end_of_turn)
        engine.turn_text = stages.get("turn_text", self.turn_text)
        engine.tiers = [
            Tier(t.name, new if new is not None and t.llm is old else t.llm, t.config) for t in self.tiers
        ] or engine.tiers
        return engine

    def use_tiers(self, llms: list[Any], router: Any) -> None:
        """Route turns over these loaded models, one per configured tier, weakest first
        (tests, embedding)."""
        tiers = self.config.tier_configs()
        self.tiers = [Tier(t.name, llm, t.llm) for t, llm in zip(tiers, llms, strict=True)]
        self.router = router

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
            if stage == "llm" and config.router.enabled:
                engine._load_tiers(status)  # each tier on its own: one failing leaves the others
                continue
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
        if "llm" in engine._stages and not engine.tiers:
            engine.tiers = [Tier("default", engine._stages["llm"], config.llm)]
        if "vad" in engine._stages and config.vad.end_of_turn == "smart":
            if status:
                status(f"loading end-of-turn model ({config.vad.turn_backend})")
            engine.end_of_turn = load_end_of_turn(config.vad)
            if config.vad.turn_text_backend != "none":
                if status:
                    status(f"loading end-of-turn text model ({config.vad.turn_text_model})")
                engine.turn_text = load_text_model(config.vad)
        if warmup:
            if status:
                status("warming up")
            engine.warmup()
        return engine

    def _load_tiers(self, status: Callable[[str], None] | None) -> None:
        """One LLM per routing tier; tiers on the same model file share one loaded copy. A tier
        that fails to load is left out (and reported in `tier_failures`); routing goes on over
        the others. Only when no tier loads is it an error."""
        from rejoinder.routers import build_router

        loaded: dict[tuple[str, str, int, int], Any] = {}
        errors: list[Exception] = []
        for tier in self.config.tier_configs():
            key = _model_key(tier.llm)
            if key not in loaded:
                if status:
                    status(f"loading llm tier {tier.name} ({tier.llm.backend}, {tier.llm.model})")
                t0 = time.perf_counter()
                try:
                    loaded[key] = registry.create("llm", tier.llm.backend, tier.llm)
                except BadInputError:
                    raise  # the user asked for something that cannot be: say so, whatever else loads
                except Exception as exc:  # a missing, corrupt or unloadable model: the others go on
                    errors.append(exc)
                    self.tier_failures[tier.name] = _one_line(exc)
                    log.info("llm tier failed to load", extra={"tier": tier.name, "error": _one_line(exc)})
                    continue
                self.load_ms[f"llm:{tier.name}"] = round((time.perf_counter() - t0) * 1000, 1)
            self.tiers.append(Tier(tier.name, loaded[key], tier.llm))
        if not self.tiers:
            raise errors[0]
        self._stages["llm"] = self.tiers[0].llm
        router = build_router(self.config.router)
        if len(self.tiers) > 1:
            self.router = router.keeping([t.name for t in self.tiers]) if self.tier_failures else router

    def warmup(self) -> None:
        """One tiny inference per stage so the first user turn does not pay for lazy init."""
        stt = self._stages.get("stt")
        tts = self._stages.get("tts")
        if can_transcribe_blocking(stt):
            stt.transcribe_blocking(np.zeros(8000, np.float32))
        seen: set[tuple[int, str]] = set()
        for tier in self.tiers:  # tiers sharing a model and prompt are prefilled once
            prompt = tier.config.system_prompt
            if can_prefill(tier.llm) and (id(tier.llm), prompt) not in seen:
                seen.add((id(tier.llm), prompt))
                tier.llm.prefill([{"role": "system", "content": prompt}])
        if can_warm_up(tts):
            tts.warmup()
        for judge in (self.end_of_turn, self.turn_text):
            if can_warm_up(judge):
                judge.warmup()

    async def warm_slots(self) -> int:
        """Fill every llama.cpp slot with its tier's system prompt (a server does this before it
        listens: left to the first turns, cold slots held the soak's first answers 17-19 s); how
        many slots were filled."""
        filled, seen = 0, set()
        for tier in self.tiers:
            prompt = tier.config.system_prompt
            if has_slots(tier.llm) and (id(tier.llm), prompt) not in seen:
                seen.add((id(tier.llm), prompt))
                filled += await tier.llm.warm_slots([{"role": "system", "content": prompt}])
        return filled

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


def _one_line(exc: Exception) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if isinstance(exc, RejoinderError) else f"{type(exc).__name__}: {text}"


def _model_key(config: Any) -> tuple[str, str, int, int]:
    return (config.backend, config.model, config.context, config.threads)
