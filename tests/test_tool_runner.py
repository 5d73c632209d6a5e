"""Tool calls on the session side, with a scripted tool-calling LLM: streamed deltas assembled,
calls written as text recovered, no call run twice, parallel calls, the filler, barge-in."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from rejoinder.backends.tool_stream import ToolCallAssembler, tools_request
from rejoinder.stages.llm import GenerationParams, Message, ToolCall, supports_tools
from rejoinder.tools.loop import ToolEvent, reply_with_tools
from rejoinder.tools.recover import TextToolCalls
from rejoinder.tools.runner import ToolRunner
from rejoinder.tools.toolset import ToolSet
from scripted import ScriptedLLM, ScriptedToolLLM

RUNS: list[str] = []


def lookup_order(order_id: str) -> str:
    """Look up an order."""
    RUNS.append(order_id)
    return f"order {order_id} shipped"


async def slow_lookup(order_id: str) -> str:
    """Slow lookup."""
    await asyncio.sleep(1.0)
    RUNS.append("slow:" + order_id)
    return f"order {order_id} arrives Thursday"


def broken() -> str:
    """Always fails."""
    raise RuntimeError("backend down")


TOOLS = ToolSet.from_functions(lookup_order, slow_lookup, broken, timeout_s=3)


def tc(name: str, args: dict[str, object], call_id: str) -> ToolCall:
    return ToolCall(call_id, name, json.dumps(args))


@pytest.fixture(autouse=True)
def clear_runs() -> None:
    RUNS.clear()


def feed_all(pieces: list[str]) -> list[str | ToolCall]:
    recovery = TextToolCalls()
    out: list[str | ToolCall] = []
    for piece in pieces:
        out.extend(recovery.feed(piece))
    return [*out, *recovery.finish()]


def test_calls_written_as_text_are_recovered_and_plain_text_is_not_held() -> None:
    fenced = [
        "```",
        "json\n{\n",
        ' "name": "calc',
        'ulate",\n "arguments": {"expression": "17 * 23"}',
        "}\n```",
    ]
    out = feed_all(fenced)
    assert len(out) == 1 and isinstance(out[0], ToolCall)
    assert (out[0].name, json.loads(out[0].arguments)) == ("calculate", {"expression": "17 * 23"})
    tagged = feed_all(
        [
            '<tool_call>\n{"name": "a", "arguments": {}}\n</tool_call>\n<tool_call>\n',
            '{"name": "b", "arguments": "{}"}</tool_call>',
        ]
    )
    assert [c.name for c in tagged if isinstance(c, ToolCall)] == ["a", "b"]
    recovery = TextToolCalls()
    assert recovery.feed("The capital") == ["The capital"]  # released at once, no waiting
    assert recovery.feed(" is Rome.") == [" is Rome."]
    assert feed_all(["{not a call}", " really"]) == ["{not a call} really"]
    assert feed_all(['{"city": "Paris"}']) == ['{"city": "Paris"}']
    # the call is handed over as soon as its object closes, before the stream ends
    recovery = TextToolCalls()
    assert recovery.feed('{"name": "x", "arguments": {"a": 1}') == []
    assert isinstance(recovery.feed("}")[0], ToolCall)


def test_streamed_deltas_are_assembled_per_index() -> None:
    assembler = ToolCallAssembler()
    out: list[str | ToolCall] = []
    deltas = [
        {"role": "assistant", "content": None},
        {
            "tool_calls": [
                {
                    "index": 0,
                    "id": "call_a",
                    "type": "function",
                    "function": {"name": "lookup_order", "arguments": ""},
                }
            ]
        },
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"order_'}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": 'id": "A1"}'}}]},
        {"tool_calls": [{"index": 1, "id": "call_b", "function": {"name": "broken", "arguments": "{}"}}]},
    ]
    for delta in deltas:
        out.extend(assembler.feed_delta(delta))
    assert out == [ToolCall("call_a", "lookup_order", '{"order_id": "A1"}')]  # whole once index 1 began
    assert assembler.finish() == [ToolCall("call_b", "broken", "{}")]
    assert tools_request([], "auto") == {} and tools_request(TOOLS.openai_tools(), "none") == {}
    named = tools_request(TOOLS.openai_tools(), "broken")
    assert named["tool_choice"] == "required" and [t["function"]["name"] for t in named["tools"]] == [
        "broken"
    ]


def test_capability_is_declared_not_guessed() -> None:
    assert supports_tools(ScriptedToolLLM([]))
    assert not supports_tools(ScriptedLLM("hi"))


async def collect(
    llm: ScriptedToolLLM, runner: ToolRunner, prompt: list[Message], choice: str = "auto"
) -> list[object]:
    return [item async for item in reply_with_tools(llm, prompt, GenerationParams(), runner, choice)]


def test_a_tool_round_then_the_answer_from_its_result() -> None:
    llm = ScriptedToolLLM([[tc("lookup_order", {"order_id": "A1"}, "c1")], ["Your order ", "has shipped."]])
    history: list[Message] = [{"role": "user", "content": "Where is A1?"}]
    prompt: list[Message] = [{"role": "system", "content": "sys"}, *history]
    items = asyncio.run(collect(llm, ToolRunner(TOOLS, history), prompt, "required"))
    assert "".join(i for i in items if isinstance(i, str)) == "Your order has shipped."
    assert [i.kind for i in items if isinstance(i, ToolEvent)] == ["calls", "results"]
    assert RUNS == ["A1"]
    assert [m["role"] for m in history] == ["user", "assistant", "tool"]
    assert history[1]["tool_calls"][0]["id"] == "c1" and history[2] == {
        "role": "tool",
        "tool_call_id": "c1",
        "content": "order A1 shipped",
    }
    second_request = llm.calls[1]
    assert second_request[0][-1]["role"] == "tool" and second_request[2] == "auto"  # forced only once


def test_a_call_is_never_run_twice_for_one_request() -> None:
    same = tc("lookup_order", {"order_id": "A1"}, "c1")
    llm = ScriptedToolLLM(
        [
            [
                same,
                same,
                ToolCall("c2", "lookup_order", '{ "order_id" : "A1" }'),
            ],  # repeated id, then same args
            [ToolCall("c3", "lookup_order", '{"order_id": "A1"}')],  # and again in the next round
            ["It shipped."],
        ]
    )
    history: list[Message] = []
    runner = ToolRunner(TOOLS, history)
    items = asyncio.run(collect(llm, runner, []))
    assert RUNS == ["A1"]
    assert [r.call.call_id for r in runner.records] == ["c1", "c2", "c3"]
    assert [r.result.status for r in runner.records] == ["ok", "duplicate", "duplicate"]  # type: ignore[union-attr]
    assert all(r.result.output == "order A1 shipped" for r in runner.records)  # type: ignore[union-attr]
    assert llm.calls[2][1] == [] and llm.calls[2][2] == "none"  # only repeats: no tools offered any more
    assert items[-1] == "It shipped."
    tool_ids = [m["tool_call_id"] for m in history if m["role"] == "tool"]
    assert tool_ids == ["c1", "c2", "c3"]  # every call in the history has exactly one result


def test_a_call_written_when_no_tools_are_offered_is_neither_run_nor_spoken() -> None:
    """Measured: Qwen2.5-Coder-1.5B, given an order's result, asked for the same lookup again and
    then, with no tools offered, wrote the call as text, which was read aloud."""
    llm = ScriptedToolLLM(
        [
            [tc("lookup_order", {"order_id": "A1"}, "c1")],
            [tc("lookup_order", {"order_id": "A1"}, "c2")],  # a repeat: no tools after this
            [tc("lookup_order", {"order_id": "A1"}, "c3")],  # recovered from text, with none offered
        ]
    )
    runner = ToolRunner(TOOLS, [])
    items = asyncio.run(collect(llm, runner, []))
    assert RUNS == ["A1"] and [r.call.call_id for r in runner.records] == ["c1", "c2"]
    assert llm.calls[2][1] == []
    assert [i for i in items if isinstance(i, str)] == ["Here is what I found: order A1 shipped."]


def test_parallel_calls_run_together_or_are_refused_clearly() -> None:
    calls = [tc("slow_lookup", {"order_id": "A"}, "c1"), tc("slow_lookup", {"order_id": "B"}, "c2")]
    start = time.perf_counter()
    done = asyncio.run(ToolRunner(TOOLS).run(calls))
    assert time.perf_counter() - start < 1.8  # two 1 s tools overlapped
    assert [r.ok for r in done.results] == [True, True] and sorted(RUNS) == ["slow:A", "slow:B"]
    RUNS.clear()
    serial = asyncio.run(
        ToolRunner(TOOLS, parallel=False).run(
            [tc("lookup_order", {"order_id": "A"}, "c1"), tc("lookup_order", {"order_id": "B"}, "c2")]
        )
    )
    assert RUNS == ["A"] and serial.results[1].status == "refused"
    assert "one tool call at a time" in (serial.results[1].error or "")


def test_a_slow_tool_gets_one_filler_a_fast_one_none() -> None:
    fillers: list[float] = []

    async def go(calls: list[ToolCall]) -> None:
        start = time.perf_counter()
        runner = ToolRunner(TOOLS, on_filler=lambda: fillers.append(time.perf_counter() - start))
        await runner.run(calls)
        await runner.run(
            [tc("slow_lookup", {"order_id": "Z"}, "c9")]
        )  # a second slow round: no second filler

    asyncio.run(go([tc("lookup_order", {"order_id": "A"}, "c1")]))
    assert len(fillers) == 1  # from the second (slow) round only
    fillers.clear()
    asyncio.run(go([tc("slow_lookup", {"order_id": "B"}, "c2")]))
    assert len(fillers) == 1 and 0.6 < fillers[0] < 0.95


def test_failures_end_in_a_spoken_apology_and_the_session_goes_on() -> None:
    llm = ScriptedToolLLM([[tc("broken", {}, "c1")], ["never asked"]])
    items = asyncio.run(collect(llm, ToolRunner(TOOLS), []))
    assert items[-1] == "Sorry, something went wrong while I was checking that."
    assert len(llm.calls) == 1
    bad_json = ScriptedToolLLM([[ToolCall("c1", "lookup_order", '{"order_id": ')], ["x"]])
    items = asyncio.run(collect(bad_json, ToolRunner(TOOLS), []))
    assert items[-1].startswith("Sorry, I could not work that out")  # type: ignore[union-attr]
    unknown = ScriptedToolLLM(
        [[tc("launch_rockets", {}, "c1"), tc("lookup_order", {"order_id": "Q"}, "c2")], ["Q shipped."]]
    )
    items = asyncio.run(collect(unknown, ToolRunner(TOOLS), []))
    assert items[-1] == "Q shipped." and RUNS == ["Q"]  # one good call: the model answers from it


def test_barge_in_cancels_the_answer_not_the_tool_and_the_result_stays_marked() -> None:
    async def go() -> tuple[list[Message], ToolRunner]:
        llm = ScriptedToolLLM([[tc("slow_lookup", {"order_id": "A"}, "c1")], ["It arrives Thursday."]])
        history: list[Message] = [{"role": "user", "content": "Where is A?"}]
        runner = ToolRunner(TOOLS, history)

        async def speak() -> None:
            async for _ in reply_with_tools(llm, [], GenerationParams(), runner):
                pass

        turn = asyncio.ensure_future(speak())
        await asyncio.sleep(0.4)  # the tool is running
        turn.cancel()
        with pytest.raises(asyncio.CancelledError):
            await turn
        history.append({"role": "user", "content": "Never mind."})  # the next turn starts at once
        assert RUNS == []
        await asyncio.sleep(1.0)  # the tool finishes on its own
        assert len(llm.calls) == 1  # the answer was never generated
        return history, runner

    history, runner = asyncio.run(go())
    assert RUNS == ["slow:A"]
    assert [m["role"] for m in history] == [
        "user",
        "assistant",
        "tool",
        "user",
    ]  # in place, before the next turn
    assert history[2]["content"] == "order A arrives Thursday"
    assert runner.records[0].interrupted and runner.records[0].result.ok  # type: ignore[union-attr]


def test_calls_in_stray_wrappers_are_recovered_once() -> None:
    tools_tag = feed_all(
        ['<tools>\n{"name": "current_datetime", "arguments": {"timezone": "UTC"}}\n</tools>']
    )
    assert [(c.name, c.arguments) for c in tools_tag if isinstance(c, ToolCall)] == [
        ("current_datetime", '{"timezone": "UTC"}')
    ]
    assert len(tools_tag) == 1
    doubled = feed_all(["{{", '"name": "calculate", "arguments": {"expression": "17 * 23"}}', "}"])
    assert len(doubled) == 1 and isinstance(doubled[0], ToolCall) and doubled[0].name == "calculate"
    nested = feed_all(['{"type": "function", "function": {"name": "f", "arguments": {}}', "}"])
    assert [c.name for c in nested if isinstance(c, ToolCall)] == ["f"]
    assert feed_all(["<b>Hello</b>"]) == ["<b>Hello</b>"]


def test_client_tools_are_handed_to_the_client_once_and_local_ones_run() -> None:
    client_tool = {"type": "function", "function": {"name": "book_slot", "parameters": {"type": "object"}}}
    book = tc("book_slot", {"day": "mon"}, "c1")
    llm = ScriptedToolLLM(
        [[book, tc("book_slot", {"day": "mon"}, "c2"), tc("lookup_order", {"order_id": "A"}, "c3")]]
    )
    history: list[Message] = []
    runner = ToolRunner(TOOLS, history)

    async def go() -> list[object]:
        return [
            i async for i in reply_with_tools(llm, [], GenerationParams(), runner, client_tools=[client_tool])
        ]

    items = asyncio.run(go())
    assert "book_slot" in llm.calls[0][1] and "lookup_order" in llm.calls[0][1]
    events = [i for i in items if isinstance(i, ToolEvent)]
    assert [e.kind for e in events] == ["calls", "results", "client_calls"]
    assert events[-1].calls == (book,)  # the repeat (c2) is never sent to the client
    assert RUNS == ["A"]  # the local call ran
    assert [c["id"] for c in history[0]["tool_calls"]] == ["c3", "c1"]
    assert [m.get("tool_call_id") for m in history[1:]] == ["c3"]  # c1's output comes from the client


def test_a_response_of_markup_only_gets_a_spoken_apology_not_silence() -> None:
    """Measured: Qwen2.5-Coder-1.5B answered "What time is it in Paris?" with "<tools></tools>"."""
    llm = ScriptedToolLLM([["<tools></tools>"]])
    items = asyncio.run(collect(llm, ToolRunner(TOOLS, []), []))
    assert items[-1] == "Sorry, I could not answer that. Could you ask it another way?"
    llm = ScriptedToolLLM([["It is noon."]])
    assert asyncio.run(collect(llm, ToolRunner(TOOLS, []), [])) == ["It is noon."]


def test_after_end_conversation_the_model_is_not_asked_again() -> None:
    """Measured: asked again after ending the call, the 1.5B said "I can't assist with that."."""
    from rejoinder.tools.builtins import end_conversation

    tools = ToolSet.from_functions(end_conversation)
    llm = ScriptedToolLLM([[tc("end_conversation", {}, "c1")], ["I can't assist with that."]])
    runner = ToolRunner(tools, [])
    items = asyncio.run(collect(llm, runner, []))
    assert runner.end_requested and len(llm.calls) == 1
    assert [i for i in items if isinstance(i, str)] == ["Goodbye!"]
    llm = ScriptedToolLLM([["Bye now!", tc("end_conversation", {}, "c2")]])  # said its own goodbye
    said = [i for i in asyncio.run(collect(llm, ToolRunner(tools, []), [])) if isinstance(i, str)]
    assert said == ["Bye now!"]
