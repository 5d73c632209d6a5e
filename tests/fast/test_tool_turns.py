"""Tool turns through the session and responder, on fakes: the model's call runs, its result is
spoken, the history holds the call and result once and in order, a slow tool gets one filler, a
barge-in keeps a result that arrived, a speculation runs no tool, end_conversation ends the session."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import Sequence

from fake_engine import fake_engine
from rejoinder.answer import Answer
from rejoinder.backends.fake import FakeLLM
from rejoinder.events import ConversationEnded, SessionEvent, ToolCalled, ToolReturned, TurnFinished
from rejoinder.session import Session
from rejoinder.speakable import speakable
from rejoinder.stages.llm import Message, ToolCall
from rejoinder.streams import settle
from rejoinder.tools import FILLER_TEXT, ToolSet


def said_result(messages: Sequence[Message]) -> str:
    last = messages[-1]
    return f"The answer is {last['content']}." if last["role"] == "tool" else "Rome is in Italy."


def session_with(calls: list[ToolCall], tools: ToolSet, events: list[SessionEvent] | None = None) -> Session:
    engine = fake_engine(llm=FakeLLM(reply=said_result, tool_calls=calls, delay_s=0.005))
    engine.tools = tools
    sink = events if events is not None else []

    async def collect(event: SessionEvent) -> None:
        sink.append(event)

    return Session(engine, collect)


def test_a_tool_turn_speaks_the_result_and_keeps_the_history_in_order() -> None:
    events: list[SessionEvent] = []
    call = ToolCall("call_1", "calculate", '{"expression": "17 * 23"}')

    async def go() -> Session:
        session = session_with([call], ToolSet.builtins(), events)
        await session.respond("Multiply 17 by 23.")  # not a bare sum (tools/direct.py): the model calls
        await session.respond("What is the capital of Italy?")  # the rule offers no tools here
        return session

    session = asyncio.run(go())
    first, second = session.reports
    assert first.reply == "The answer is 391." and first.status == "completed"
    assert first.tool_calls == [
        {
            "name": "calculate",
            "arguments": '{"expression": "17 * 23"}',
            "client": False,
            "status": "ok",
            "output": "391",
            "ms": first.tool_calls[0]["ms"],
        }
    ]
    roles = [(m["role"], m["content"]) for m in session.history]
    assert roles == [
        ("user", "Multiply 17 by 23."),
        ("assistant", ""),
        ("tool", "391"),
        ("assistant", "The answer is 391."),
        ("user", "What is the capital of Italy?"),
        ("assistant", "Rome is in Italy."),
    ]
    assert session.history[1]["tool_calls"][0]["id"] == "call_1"
    assert second.reply == "Rome is in Italy." and not second.tool_calls
    llm = session.engine.tiers[0].llm
    assert isinstance(llm, FakeLLM) and llm.offered[0] == [
        "current_datetime",
        "calculate",
        "end_conversation",
    ]
    assert len(llm.offered) == 2  # the second turn went through the plain stream, without tools
    kinds = [type(e).__name__ for e in events if isinstance(e, ToolCalled | ToolReturned)]
    assert kinds == ["ToolCalled", "ToolReturned"]
    assert all(e.turn == 0 for e in events if isinstance(e, ToolCalled | ToolReturned))


async def slow_lookup(order_id: str) -> str:
    """Look up an order by its number."""
    await asyncio.sleep(0.9)
    return f"order {order_id} shipped"


def test_a_slow_tool_gets_one_filler_before_its_result() -> None:
    calls = [
        ToolCall("c1", "slow_lookup", '{"order_id": "A1"}'),
        ToolCall("c2", "slow_lookup", '{"order_id": "B2"}'),
    ]

    async def go() -> Session:
        session = session_with(calls, ToolSet.from_functions(slow_lookup))
        await session.respond("Where is my order A1 and B2?")
        return session

    session = asyncio.run(go())
    report = session.reports[0]
    assert report.reply.startswith(FILLER_TEXT) and report.reply.count(FILLER_TEXT) == 1
    assert "order B2 shipped" in report.reply


def test_a_barge_in_while_a_tool_runs_keeps_its_result_marked() -> None:
    call = ToolCall("c1", "slow_lookup", '{"order_id": "A1"}')

    async def go() -> Session:
        session = session_with([call], ToolSet.from_functions(slow_lookup))
        _, task = session.reply_to("Where is my order A1?")
        await asyncio.sleep(0.3)  # the tool is running
        await session.interrupt()
        await settle(task)  # the turn's own task: cancelled
        await asyncio.sleep(0.8)  # the tool finishes on its own
        return session

    session = asyncio.run(go())
    report = session.reports[0]
    assert report.status == "cancelled"
    assert [m["role"] for m in session.history] == ["user", "assistant", "tool"]
    assert session.history[2]["content"] == "order A1 shipped"
    assert report.tool_calls[0]["interrupted"] is True


def test_a_speculative_answer_runs_no_tool_until_its_turn_is_committed() -> None:
    ran: list[str] = []

    def note(text: str) -> str:
        """Note down something the user says."""
        ran.append(text)
        return "noted"

    call = ToolCall("c1", "note", '{"text": "milk"}')

    async def go() -> tuple[list[str], list[str]]:
        session = session_with([call], ToolSet.from_functions(note))
        answer = Answer(speculative=True)
        clauses = session.responder.answer("Please note down milk.", answer)
        pending = asyncio.ensure_future(anext(clauses, None))
        await asyncio.sleep(0.2)
        before = list(ran)
        answer.begin(0)
        first = await pending
        await clauses.aclose()
        return before, [first or ""]

    before, first = asyncio.run(go())
    assert before == [] and ran == ["milk"] and first == ["The answer is noted."]


def test_end_conversation_ends_the_session_after_the_goodbye() -> None:
    events: list[SessionEvent] = []
    call = ToolCall("c1", "end_conversation", "{}")

    async def go() -> None:
        session = session_with([call], ToolSet.builtins(), events)
        await session.respond("Okay, goodbye!")

    asyncio.run(go())
    kinds = [type(e) for e in events]
    assert ConversationEnded in kinds and kinds.index(ConversationEnded) > kinds.index(TurnFinished)


def test_a_question_about_the_present_time_here_is_answered_from_the_clock_without_the_model() -> None:
    """Measured: the 1.5B called the clock for the first "What time is it?" only, then repeated that
    time from the history or made one up. So the clock is called for it, every time, and its result
    is said as it is."""
    llm = FakeLLM(reply=said_result, delay_s=0.005, tool_calls=[])  # can call tools, never does
    engine = fake_engine(llm=llm)
    engine.tools = ToolSet.builtins()

    async def go() -> Session:
        session = Session(engine)
        for question in ["What time is it?", "What is the capital of Italy?", "What's the date today?"]:
            await session.respond(question)
        await session.respond("What time is it in Springfield?")  # no time zone's name: the model's
        await session.respond("What time is it in Tokyo?")  # a time zone's city: the clock, there
        return session

    session = asyncio.run(go())
    reports = session.reports
    assert [[c["name"] for c in r.tool_calls] for r in reports] == [
        ["current_datetime"],
        [],
        ["current_datetime"],
        [],
        ["current_datetime"],
    ]
    assert reports[4].tool_calls[0]["arguments"] == '{"timezone": "Tokyo"}'
    assert "Asia/Tokyo" in str(reports[4].tool_calls[0]["output"])
    assert re.fullmatch(r"In Tokyo, it's (1[0-2]|[1-9])( oh \d| \d\d)? [AP]M\.", reports[4].reply), reports[
        4
    ].reply
    assert all(c["status"] == "ok" for r in reports for c in r.tool_calls)
    now = dt.datetime.now().astimezone()
    hour, minute = re.findall(r", (\d\d):(\d\d) ", str(reports[0].tool_calls[0]["output"]))[0]
    written = f"It's {int(hour) % 12 or 12}:{minute} {'AM' if int(hour) < 12 else 'PM'}."
    assert reports[0].reply == speakable(written)  # the clock's own reading, said: "It's 6 18 PM."
    assert reports[2].reply.startswith(f"Today is {now:%A}, {now.day} {now:%B}"), reports[2].reply
    assert llm.offered == [["current_datetime", "calculate", "end_conversation"]]  # Springfield only
    assert [m["role"] for m in session.history[:4]] == ["user", "assistant", "tool", "assistant"]
    assert session.history[1]["tool_calls"][0]["function"]["name"] == "current_datetime"


def test_a_bare_sum_is_answered_by_the_calculator_without_the_model() -> None:
    llm = FakeLLM(reply=said_result, delay_s=0.005)  # cannot even call tools: not needed here
    engine = fake_engine(llm=llm)
    engine.tools = ToolSet.builtins()
    events: list[SessionEvent] = []

    async def collect(event: SessionEvent) -> None:
        events.append(event)

    async def go() -> Session:
        session = Session(engine, collect)
        for question in [
            "What is seventeen times twenty-three?",
            "How much is 15 percent of 80?",
            "What is 10 divided by 3?",
            "What's 5 divided by 0?",
            "What is 17 times 23 in euros?",  # more than a sum: the model's
        ]:
            await session.respond(question)
        return session

    session = asyncio.run(go())
    replies = [r.reply for r in session.reports]
    assert replies[:4] == [
        "17 times 23 is 391.",
        "15 percent of 80 is 12.",
        "10 divided by 3 is about 3.333.",
        "I can't work that out: division by zero.",
    ]
    assert replies[4] == "Rome is in Italy."  # the fake model's plain answer
    assert [c["arguments"] for c in session.reports[0].tool_calls] == ['{"expression": "17 * 23"}']
    assert len(llm.calls) == 1  # only the last turn reached the model
    assert session.reports[0].route is None or session.reports[0].route.strategy == "direct"
    kinds = [type(e).__name__ for e in events if isinstance(e, ToolCalled | ToolReturned)]
    assert kinds == ["ToolCalled", "ToolReturned"] * 4


def test_present_time_questions_are_told_apart() -> None:
    from rejoinder.tools.intent import asks_for_local_now

    here = ["What time is it?", "what's the time right now", "What is the date today?", "What day is it?",
            "Can you tell me the time? Please", "Do you know what time it is?"]  # fmt: skip
    other = ["What time is it in Tokyo?", "What time does the store open?", "What is the date of Easter?",
             "How many hours are in a day?", "Tell me what time it is and a joke."]  # fmt: skip
    assert all(asks_for_local_now(t) for t in here)
    assert not any(asks_for_local_now(t) for t in other)


def test_spoken_arithmetic_is_parsed_only_when_the_request_is_nothing_but_a_sum() -> None:
    from rejoinder.tools.direct import spoken_arithmetic

    parsed = {
        "What is 17 times 23?": "17 * 23",
        "what's seventeen times twenty-three": "17 * 23",
        "What is 17x23?": "17 * 23",
        "Can you tell me what 9 times 8 is?": "9 * 8",
        "Okay, how much is 1,250 minus 300?": "1250 - 300",
        "Calculate 144 divided by 12, please.": "144 / 12",
        "What is negative 5 plus 3?": "- 5 + 3",
        "What is 7 squared?": "7 ** 2",
        "What is 2 to the power of 10?": "2 ** 10",
        "How much is 15% of 80?": "15 / 100 * 80",
        "How much is fifteen per cent of eighty?": "15 / 100 * 80",
        "What does 12 times 12 equal?": "12 * 12",
    }
    for text, expression in parsed.items():
        assert spoken_arithmetic(text) is not None and spoken_arithmetic(text)[0] == expression, text  # type: ignore[index]
    for text in [
        "What is 17 times 23 in euros?",
        "What is 7?",
        "What is 5 minus?",
        "How many apples are 3 plus 4?",
        "What is the capital of France?",
        "If I have 3 apples and eat 2, how many are left?",
        "What time is it?",
        "What is 1 2 3?",
    ]:
        assert spoken_arithmetic(text) is None, text


def test_direct_answers_need_no_offered_tools_and_can_be_turned_off() -> None:
    """On by default (config `tools.direct`) with no tools offered to the model; off, the model
    answers; a client's tool_choice "none" means no call at all."""
    from rejoinder.config import Config, ToolsConfig

    async def reply(direct: bool, choice: str = "auto") -> tuple[str, list[str]]:
        engine = fake_engine(llm=FakeLLM(reply="From my head.", delay_s=0.001))
        engine.config = Config(tools=ToolsConfig(direct=direct))
        session = Session(engine)
        session.responder.tools.choice = choice  # type: ignore[assignment]
        await session.respond("What is 6 times 7?")
        report = session.reports[0]
        return report.reply, [str(c["name"]) for c in report.tool_calls]

    assert asyncio.run(reply(True)) == ("6 times 7 is 42.", ["calculate"])
    assert asyncio.run(reply(False)) == ("From my head.", [])
    assert asyncio.run(reply(True, "none")) == ("From my head.", [])
