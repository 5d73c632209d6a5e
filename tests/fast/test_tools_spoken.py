"""The spoken tool eval on fake stages: each clip goes through a whole session, the tools it made
the session call are scored by the typed eval's code, a misheard request is reported with what was
heard; and every request of the bundled set has its clip, shipped with the package."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import av
import numpy as np
import pytest

from fake_engine import fake_engine
from rejoinder.backends.fake import FakeLLM, FakeSTT, silence, tone
from rejoinder.errors import BadInputError
from rejoinder.evals.tools import ToolCase, eval_toolset, load_cases
from rejoinder.evals.tools_spoken import (
    audio_dir,
    audio_path,
    build_report,
    check_audio,
    evaluate,
    format_report,
)
from rejoinder.stages.llm import Message, ToolCall

ROOT = Path(__file__).resolve().parents[2]

CASES = [
    ToolCase("a", "arithmetic", "tune", "What is 17 times 23?", "calculate", {"value": 391}),
    ToolCase("b", "custom", "tune", "Where is my order A1234?", "lookup_order", {"order_id": "A1234"}),
    ToolCase("c", "facts", "holdout", "What is the capital of Italy?", None, {}),
    ToolCase("d", "chat", "holdout", "Hello, how are you?", None, {}),
]
HEARD = [
    "What is 17 times 23?",
    "Where is my order A1243?",  # misheard: the wrong order is looked up
    "What is the capital of Italy?",
    "Hello, what is 2 plus 2?",  # misheard: a call no one asked for
]


def calls_for(messages: Sequence[Message]) -> list[ToolCall]:
    """A model that calls a tool for what it hears, when it is offered one."""
    said = str(messages[-1]["content"])
    if m := re.search(r"(\d+) (times|plus) (\d+)", said):
        expression = f"{m[1]} {'*' if m[2] == 'times' else '+'} {m[3]}"
        return [ToolCall("c1", "calculate", json.dumps({"expression": expression}))]
    if m := re.search(r"order (\w+)", said):
        return [ToolCall("c1", "lookup_order", json.dumps({"order_id": m[1]}))]
    return []


def answer(messages: Sequence[Message]) -> str:
    last = messages[-1]
    return f"It is {last['content']}." if last["role"] == "tool" else "Rome is the capital of Italy."


def write_ogg(path: Path, audio: np.ndarray) -> None:
    with av.open(str(path), "w", format="ogg") as out:
        stream = out.add_stream("libopus", rate=16_000, layout="mono")
        frame = av.AudioFrame.from_ndarray(audio[None, :], format="flt", layout="mono")
        frame.sample_rate = 16_000
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)


@pytest.fixture
def clips(tmp_path: Path) -> Path:
    """Utterance i is a tone FakeSTT hears as HEARD[i]."""
    for i, case in enumerate(CASES):
        write_ogg(audio_path(case, tmp_path), np.concatenate([silence(0.3), tone(i, 0.8), silence(0.3)]))
    return tmp_path


def test_spoken_requests_are_scored_on_the_calls_the_session_made(clips: Path) -> None:
    llm = FakeLLM(reply=answer, tool_calls=calls_for, delay_s=0.005)
    engine = fake_engine(llm=llm, stt=FakeSTT(script=HEARD, delay_s=0.01))
    engine.tools = eval_toolset()
    lines: list[str] = []
    outcomes = asyncio.run(evaluate(engine, CASES, clips, lines.append))
    assert [o.transcript for o in outcomes] == HEARD
    assert [o.called for o in outcomes] == [["calculate"], ["lookup_order"], [], ["calculate"]]
    assert [(o.right_tool, o.right_args) for o in outcomes] == [
        (True, True),
        (True, False),
        (False, False),
        (False, False),
    ]
    assert "391" in outcomes[0].text  # the spoken reply, from the tool's result
    assert all(o.first_audio_ms is not None and o.first_audio_ms > 0 for o in outcomes)
    assert len(lines) == len(CASES) and "heard 'Where is my order A1243?'" in lines[1]

    report = build_report(engine, outcomes, 1.0)
    scores = {s["split"]: s for s in report["scores"]}
    assert list(scores) == ["tune", "holdout", "all"]
    assert (scores["all"]["precision"], scores["all"]["recall"]) == (round(2 / 3, 3), 1.0)
    assert (scores["all"]["right_tool_rate"], scores["all"]["right_args_rate"]) == (1.0, 0.5)
    assert (scores["tune"]["precision"], scores["holdout"]["precision"]) == (1.0, 0.0)
    assert scores["all"]["first_audio_ms"]["tool"]["n"] == 2
    assert scores["all"]["first_audio_ms"]["no_tool"]["n"] == 2
    assert scores["tune"]["stt_wer"] > 0 and scores["holdout"]["stt_wer"] > 0
    assert [(w["id"], w["transcript"]) for w in report["wrong"]] == [
        ("b", "Where is my order A1243?"),
        ("d", "Hello, what is 2 plus 2?"),
    ]
    assert report["silent"] == []
    assert report["tools"] == [
        "current_datetime",
        "calculate",
        "end_conversation",
        "lookup_order",
        "store_hours",
    ]
    json.dumps(report)
    text = format_report(report)
    assert "heard 'Where is my order A1243?'" in text and 'lookup_order {"order_id": "A1243"}' in text


def test_missing_clips_are_one_clear_error_before_any_model_loads(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match=r"make_tool_audio\.py"):
        check_audio(CASES, tmp_path)
    cli = [sys.executable, "-m", "rejoinder", "eval", "--tools", "--spoken", "--split", "nope"]
    result = subprocess.run(cli, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "--split must be" in result.stderr


def test_every_request_of_the_bundled_set_has_its_clip_and_it_ships() -> None:
    cases = load_cases()
    assert sum(bool(c.tool) for c in cases) >= 20 and sum(not c.tool for c in cases) >= 20
    check_audio(cases)
    assert sorted(p.name for p in audio_dir().iterdir()) == sorted(audio_path(c).name for c in cases)
    assert sum(p.stat().st_size for p in audio_dir().iterdir()) < 2_000_000
    assert '"data/tools_eval_audio/*.ogg"' in (ROOT / "pyproject.toml").read_text()  # package data


def test_a_request_cut_at_its_pause_is_heard_whole_and_scored_on_its_first_call(tmp_path: Path) -> None:
    """Measured with the real models: "What's 7 times 8, plus 3?" was cut at the comma, and 7 x 8
    was calculated for its first piece."""
    case = ToolCase("e", "arithmetic", "tune", "What's 7 times 8, plus 3?", "calculate", {"value": 59})
    write_ogg(audio_path(case, tmp_path), np.concatenate([tone(0, 0.8), silence(1.0), tone(1, 0.5)]))
    llm = FakeLLM(reply=answer, tool_calls=calls_for, delay_s=0.005)
    engine = fake_engine(llm=llm, stt=FakeSTT(script=["What's 7 times 8", "plus 3"], delay_s=0.01))
    engine.tools = eval_toolset()
    [outcome] = asyncio.run(evaluate(engine, [case], tmp_path))
    assert outcome.pieces == 2 and outcome.transcript == "What's 7 times 8 plus 3"
    assert outcome.called[:1] == ["calculate"] and json.loads(outcome.arguments[0])["expression"] == "7 * 8"
    assert outcome.right_tool and not outcome.right_args
