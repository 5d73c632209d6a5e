"""A routing tier whose model fails to load leaves the other tiers answering, and says so."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp.test_utils import TestClient, TestServer

from rejoinder.config import Config, LLMConfig, RouterConfig, TierConfig
from rejoinder.engine import Engine
from rejoinder.errors import BackendUnavailable, BadInputError
from rejoinder.server.app import create_app
from rejoinder.session import Session


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> LLMConfig:
    """A model file llama.cpp cannot load (as a corrupt download would be)."""
    path = tmp_path_factory.mktemp("models") / "corrupt.gguf"
    path.write_bytes(b"GGUF" + bytes(60))
    return LLMConfig(model=str(path))


def fake(model: str) -> LLMConfig:
    return LLMConfig(backend="fake", model=model)


def routed(*tiers: tuple[str, LLMConfig]) -> Config:
    return Config(router=RouterConfig(tiers=[TierConfig(name=n, llm=llm) for n, llm in tiers]))


def test_a_missing_strong_tier_leaves_the_small_one_answering_every_turn(broken: LLMConfig) -> None:
    config = routed(("small", fake("a")), ("strong", broken))
    config.tts.backend = "fake"
    engine = Engine.load(config, stages=("llm", "tts"), warmup=False)
    assert [t.name for t in engine.tiers] == ["small"] and engine.router is None
    assert "llama.cpp could not load this model" in engine.tier_failures["strong"]
    report = asyncio.run(Session(engine).respond("Explain how a transformer model works in detail."))
    assert report.status == "completed" and report.reply == "Hello there."


def test_a_missing_middle_tier_routes_its_turns_up_to_the_next_tier(broken: LLMConfig) -> None:
    config = routed(("small", fake("a")), ("medium", broken), ("large", fake("b")))
    config.router.thresholds = [0.3, 0.7]
    engine = Engine.load(config, stages=("llm",), warmup=False)
    assert [t.name for t in engine.tiers] == ["small", "large"] and list(engine.tier_failures) == ["medium"]
    assert engine.router.tiers == ["small", "large"] and engine.router.thresholds == [0.3]
    assert engine.tiers[0].llm is not engine.tiers[1].llm


def test_no_tier_loading_is_the_one_line_error_of_the_first(broken: LLMConfig) -> None:
    with pytest.raises(BackendUnavailable, match="could not load"):
        Engine.load(routed(("small", broken), ("strong", broken)), stages=("llm",), warmup=False)


def test_a_mistake_in_what_was_asked_for_is_an_error_even_if_another_tier_loads() -> None:
    typo = LLMConfig(model="/no/such/model.gguf")
    with pytest.raises(BadInputError, match="no such GGUF file"):
        Engine.load(routed(("small", fake("a")), ("strong", typo)), stages=("llm",), warmup=False)


def test_health_says_which_tier_failed(broken: LLMConfig) -> None:
    engine = Engine.load(routed(("small", broken), ("strong", fake("b"))), stages=("llm",), warmup=False)

    async def go() -> dict[str, object]:
        async with TestClient(TestServer(create_app(engine))) as client:
            response = await client.get("/health")
            return dict(await response.json())

    health = asyncio.run(go())
    assert health["status"] == "degraded" and health["tiers"] == ["strong"]
    assert "could not load" in health["tier_failures"]["small"]  # type: ignore[index]
