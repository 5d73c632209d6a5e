"""Routing: strategies, calibration, evaluation on the held-out split, and routing inside turns."""

from __future__ import annotations

import json

import pytest

from conftest import run
from rejoinder.config import STRONG_PROMPT, Config, LLMConfig, RouterConfig, TierConfig
from rejoinder.engine import Engine
from rejoinder.routers import Router, calibrate
from rejoinder.routers.evaluate import evaluate
from rejoinder.routers.learned import LearnedScorer, load_rows, train
from rejoinder.routers.router import is_refusal
from rejoinder.session import Session
from scripted import ScriptedLLM
from test_cli import cli

SIMPLE = ["Hello!", "Turn on the lights.", "Thanks, bye.", "Nice to meet you."]
"""Social turns and commands: the small tier's fluent reply is enough. Questions that ask for a
fact, a number or a reason go to the strong tier (SmolLM2-135M got 75 % of facts and 36 % of
arithmetic right in `rejoinder eval --text`)."""
COMPLEX = [
    "Explain how a transformer neural network works and why attention helps.",
    "Write a Python function that merges two sorted lists.",
    "Compare the pros and cons of renting versus buying a house.",
    "If I save 300 dollars a month at 5 percent interest, how much will I have after ten years?",
]


@pytest.mark.parametrize("strategy", ["features", "learned"])
def test_simple_go_small_and_complex_go_strong(strategy: str) -> None:
    router = Router(RouterConfig(strategy=strategy))  # type: ignore[arg-type]
    assert [router.route(q).tier for q in SIMPLE] == ["small"] * len(SIMPLE)
    assert [router.route(q).tier for q in COMPLEX] == ["strong"] * len(COMPLEX)
    decision = router.route(COMPLEX[0])
    assert 0.0 <= decision.score <= 1.0 and decision.features["reasoning"] > 0


@pytest.mark.parametrize("strategy", ["features", "learned"])
def test_held_out_accuracy_and_decision_time(strategy: str) -> None:
    report = evaluate(RouterConfig(strategy=strategy))  # type: ignore[arg-type]
    assert report["queries"] >= 30
    assert report["accuracy"] >= 0.85
    assert report["decision_ms"]["p95"] < 10.0  # the budget (measured, not a benchmark claim)


def test_context_makes_a_follow_up_complex() -> None:
    router = Router(RouterConfig(strategy="features"))
    history = [
        {"role": "user", "content": COMPLEX[2]},
        {"role": "assistant", "content": "Renting is flexible."},
    ]
    alone = router.route("And why is that?").score
    followed = router.route("And why is that?", history).score
    assert followed > alone and router.route("And why is that?", history).tier == "strong"


@pytest.mark.parametrize("strategy", ["features", "learned"])
def test_questions_about_the_conversation_go_to_the_strong_tier(strategy: str) -> None:
    router = Router(RouterConfig(strategy=strategy))  # type: ignore[arg-type]
    named = [{"role": "user", "content": "Hi, my name is Sarah."}, {"role": "assistant", "content": "Hi!"}]
    capital = [
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": "Paris."},
    ]
    assert router.route("What is my name?", named).tier == "strong"
    assert router.route("And what about Germany?", capital).tier == "strong"
    assert router.route("Thank you.", capital).tier == "small"
    assert router.route("What is the capital of Italy?").tier == "strong"


def test_calibration_hits_the_target_share() -> None:
    scores = [i / 100 for i in range(100)]
    [threshold] = calibrate(scores, [0.3])
    assert sum(s >= threshold for s in scores) == 30
    router = Router(RouterConfig(strategy="learned", strong_share=0.3))
    calib = load_rows("calib")
    sent = sum(router.route(r["text"]).tier == "strong" for r in calib)
    assert abs(sent / len(calib) - 0.3) < 0.1


def test_three_tiers_with_thresholds() -> None:
    tiers = [TierConfig(name=n) for n in ("small", "medium", "large")]
    router = Router(RouterConfig(strategy="features", tiers=tiers, thresholds=[0.3, 0.7]))
    assert router.route("Hi").tier == "small"
    assert router.route(COMPLEX[1]).tier == "large"
    with pytest.raises(Exception, match="threshold"):
        Router(RouterConfig(tiers=tiers, thresholds=[0.5]))


def test_shipped_model_is_what_training_produces() -> None:
    """The weights in data/router_model.json come from `rejoinder route --train` on the train split."""
    fresh = LearnedScorer(train(load_rows("train")))
    shipped = LearnedScorer()
    for row in load_rows("test"):
        assert abs(fresh.score(row["text"], [])[0] - shipped.score(row["text"], [])[0]) < 1e-3


def test_refusal_detection() -> None:
    assert is_refusal("I'm not sure about that.")
    assert is_refusal("Sorry, I don't know.")
    assert not is_refusal("The capital of Italy is Rome.")


def routed_engine(engine: Engine, small: object, large: object, escalate: bool = False) -> Engine:
    config = Config(router=RouterConfig(enabled=True, strategy="features", escalate=escalate))
    routed = engine.with_stages(llm=small)
    routed.config = config
    routed.use_tiers([small, large], Router(config.router))
    return routed


def test_turns_report_their_route_and_use_the_tier_model(engine: Engine) -> None:
    small, large = ScriptedLLM("Rome."), ScriptedLLM("Attention lets each word look at every other word.")
    session = Session(routed_engine(engine, small, large), lambda e: asyncio_noop())
    simple = run(session.respond("What is the capital of Italy?"))
    hard = run(session.respond(COMPLEX[0]))
    assert simple.route is not None and simple.route.tier == "small" and simple.reply == "Rome."
    assert hard.route is not None and hard.route.tier == "strong" and hard.reply.startswith("Attention")
    assert len(small.calls) == 1 and len(large.calls) == 1
    assert large.calls[0][0]["content"] == STRONG_PROMPT  # the strong tier's own prompt


def test_escalation_reasks_the_large_tier(engine: Engine) -> None:
    small, large = ScriptedLLM("I don't know, sorry."), ScriptedLLM("It is Canberra.")
    session = Session(routed_engine(engine, small, large, escalate=True), lambda e: asyncio_noop())
    report = run(session.respond("What is the capital of Australia?"))
    assert report.reply == "It is Canberra."
    assert report.route is not None and (report.route.tier, report.route.escalated) == ("strong", True)
    off = Session(routed_engine(engine, ScriptedLLM("I don't know."), large), lambda e: asyncio_noop())
    assert run(off.respond("What is the capital of Australia?")).reply == "I don't know."


async def asyncio_noop() -> None:
    return None


def test_route_cli_json_and_eval() -> None:
    result = cli("route", "Explain the theory of relativity in detail.", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) >= {"tier", "score", "ms", "strategy"} and data["tier"] == "strong"
    report = cli("route", "--eval", "--json")
    assert report.returncode == 0, report.stderr
    assert {r["strategy"] for r in json.loads(report.stdout)} == {"features", "learned"}
    assert cli("route").returncode == 2


def test_reply_with_two_tiers_reports_routes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from helpers import SAMPLES

    result = cli(
        "reply", SAMPLES / "capital_of_italy.wav", "-o", tmp_path / "a.wav", "--json"
    )  # routing is on
    assert result.returncode == 0, result.stderr
    [turn] = json.loads(result.stdout)["turns"]
    assert turn["route"]["tier"] == "strong" and 0 <= turn["route"]["score"] <= 1
    assert "rome" in turn["reply"].lower()


def test_two_tiers_on_the_same_model_share_one_copy() -> None:
    same = [TierConfig(name="a"), TierConfig(name="b", llm=LLMConfig(max_tokens=128))]
    config = Config(router=RouterConfig(enabled=True, tiers=same))
    engine = Engine.load(config, ("llm",), warmup=False)
    assert len(engine.tiers) == 2 and engine.tiers[0].llm is engine.tiers[1].llm is engine.llm
    different = config.model_copy(
        update={
            "router": RouterConfig(
                enabled=True, tiers=[TierConfig(name="a"), TierConfig(name="b", llm=LLMConfig(context=1024))]
            )
        }
    )
    engine2 = Engine.load(different, ("llm",), warmup=False)
    assert engine2.tiers[0].llm is not engine2.tiers[1].llm
