"""Tools from typed functions: schemas, loading, argument validation, timed runs, built-ins, and
client-supplied definitions."""

from __future__ import annotations

import asyncio
import enum
import json
import time
from pathlib import Path
from typing import Literal, Optional

import jsonschema
import pytest

from rejoinder.errors import BadInputError
from rejoinder.stages.llm import ToolCall
from rejoinder.tools.builtins import calculate, current_datetime
from rejoinder.tools.calculator import CalculationError, evaluate
from rejoinder.tools.client import parse_tool_choice, parse_tools
from rejoinder.tools.loader import load_tools, session_tools
from rejoinder.tools.schema import ToolDefinitionError, function_schema
from rejoinder.tools.tool import Tool, ToolError
from rejoinder.tools.toolset import ToolSet


class Size(enum.Enum):
    SMALL = "small"
    LARGE = "large"


def book(
    day: Literal["mon", "tue"],
    people: int,
    size: Size = Size.SMALL,
    note: Optional[str] = None,  # noqa: UP045 - the old spelling must work too
    tags: list[str] | None = None,
    price: float = 1.5,
    vip: bool = False,
) -> str:
    """Book a table.

    Args:
        day: Which day.
        people: How many guests.
    """
    return f"{day} {people} {size.name} {note} {tags} {price} {vip}"


def call(name: str, args: object, call_id: str = "c1") -> ToolCall:
    return ToolCall(call_id, name, args if isinstance(args, str) else json.dumps(args))


def test_schema_from_signature_hints_and_docstring() -> None:
    schema = function_schema(book)
    assert schema.description == "Book a table."
    props = schema.parameters["properties"]
    assert props["day"] == {"type": "string", "enum": ["mon", "tue"], "description": "Which day."}
    assert props["people"] == {"type": "integer", "description": "How many guests."}
    assert props["size"] == {"type": "string", "enum": ["small", "large"], "default": "small"}
    assert props["note"]["type"] == ["string", "null"] and props["note"]["default"] is None
    assert props["tags"]["type"] == ["array", "null"] and props["tags"]["items"] == {"type": "string"}
    assert props["price"] == {"type": "number", "default": 1.5}
    assert props["vip"] == {"type": "boolean", "default": False}
    assert schema.parameters["required"] == ["day", "people"]
    jsonschema.Draft202012Validator.check_schema(schema.parameters)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("def f(x: dict) -> str: ...", "parameter 'x': unsupported annotation dict"),
        ("def f(x) -> str: ...", "parameter 'x': needs a type annotation"),
        ("def f(*xs: int) -> str: ...", "*args and **kwargs"),
        ("def f(x: int | str) -> str: ...", "unions other than Optional"),
    ],
)
def test_unsupported_signatures_are_named(source: str, message: str) -> None:
    scope: dict[str, object] = {}
    exec(source, scope)  # builds a function with the signature under test
    with pytest.raises(ToolDefinitionError, match=message.replace("*", r"\*")):
        function_schema(scope["f"])  # type: ignore[arg-type]


def test_arguments_are_validated_and_converted_before_the_function_runs() -> None:
    ran: list[object] = []

    def spy(day: Literal["mon", "tue"], size: Size = Size.SMALL) -> str:
        """Spy."""
        ran.append((day, size))
        return "ok"

    tool = Tool.from_function(spy)
    bad = [
        ("{not json", "not valid JSON"),
        ("[1]", "must be a JSON object"),
        ({"day": "sun"}, "day: 'sun' is not one of"),
        ({}, "'day' is a required property"),
        ({"day": "mon", "size": "huge"}, "size: 'huge' is not one of"),
    ]
    for args, message in bad:
        result = asyncio.run(tool.run(call("spy", args)))
        assert not result.ok and result.status == "invalid_arguments" and message in (result.error or "")
    assert ran == []
    good = asyncio.run(tool.run(call("spy", {"day": "tue", "size": "large"})))
    assert good.ok and good.output == "ok" and ran == [("tue", Size.LARGE)]
    copied = asyncio.run(tool.run(call("spy", {"day": "mon", "required": ["day"]})))  # a copied keyword
    assert copied.ok and ran[-1] == ("mon", Size.SMALL)


def test_failures_and_timeouts_become_results() -> None:
    def raises() -> str:
        """Breaks."""
        raise RuntimeError("disk on fire")

    def refuses() -> str:
        """Refuses."""
        raise ToolError("no such order")

    def slow() -> str:
        """Sleeps (sync)."""
        time.sleep(1.0)
        return "late"

    async def slow_async() -> str:
        """Sleeps (async)."""
        await asyncio.sleep(5)
        return "late"

    tools = ToolSet.from_functions(raises, refuses, slow, slow_async, timeout_s=0.2)

    async def go() -> list[object]:
        return [await tools.run(call(n, {})) for n in ("raises", "refuses", "slow", "slow_async", "nope")]

    start = time.perf_counter()
    results = asyncio.run(go())
    assert time.perf_counter() - start < 1.5
    assert [r.status for r in results] == ["failed", "failed", "timed_out", "timed_out", "unknown_tool"]  # type: ignore[attr-defined]
    assert "RuntimeError: disk on fire" in results[0].error  # type: ignore[attr-defined]
    assert results[1].error == "refuses: no such order"  # type: ignore[attr-defined]
    assert json.loads(results[4].output)["error"].startswith("there is no tool named 'nope'")  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("17 * 23", 391),
        ("17 × 23", 391),
        ("(1 + 2) * -3", -9),
        ("7 // 2", 3),
        ("7 % 4", 3),
        ("2 ** 10", 1024),
        ("2^10", 1024),
        ("3.5 * 4.2", 14.7),
        ("1,234 + 1", 1235),
        ("-2 ** 2", -4),
        ("10 / 4", 2.5),
        ("2 ** -1", 0.5),
    ],
)
def test_calculator_arithmetic(expression: str, value: float) -> None:
    assert evaluate(expression) == pytest.approx(value)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("9**9**9", "too large"),
        ("10**100000", "too large"),
        ("1/0", "division by zero"),
        ("__import__('os')", "not Call"),
        ("x + 1", "not 'x'"),
        ("2 +", "cannot parse"),
        ("1e308 * 10", "too large"),
        ("(-8) ** 0.5", "not a real number"),
        ("1" * 300, "longer than"),
        ("True + 1", "not True"),
        ("'a' * 3", "not 'a'"),
        ("", "empty"),
    ],
)
def test_calculator_refuses_what_is_not_bounded_arithmetic(expression: str, message: str) -> None:
    start = time.perf_counter()
    with pytest.raises(CalculationError, match=message):
        evaluate(expression)
    assert time.perf_counter() - start < 0.5


def test_builtins() -> None:
    assert calculate("17 * 23") == "391" and calculate("1/3") == "0.3333333333"
    assert "Asia/Tokyo, UTC+09:00" in current_datetime("Asia/Tokyo")
    assert "Asia/Tokyo" in current_datetime("tokyo") and "America/New_York" in current_datetime("New York")
    assert "local time" in current_datetime()
    with pytest.raises(ToolError, match="unknown time zone 'Mars/Base'"):
        current_datetime("Mars/Base")
    tools = ToolSet.builtins()
    assert tools.names == ["current_datetime", "calculate", "end_conversation"]
    bad_zone = asyncio.run(tools.run(call("current_datetime", {"timezone": "Nowhere"})))
    assert not bad_zone.ok and "unknown time zone" in (bad_zone.error or "")
    ended = asyncio.run(tools.run(call("end_conversation", {"reason": "user said bye"})))
    assert ended.ok and ended.ends_conversation
    assert all(
        t["type"] == "function" and t["function"]["parameters"]["type"] == "object"
        for t in tools.openai_tools()
    )


def test_load_tools_from_a_file_and_a_module(tmp_path: Path) -> None:
    source = tmp_path / "mytools.py"
    source.write_text(
        "import os\nfrom os.path import join\n\n"
        "def lookup_order(order_id: str) -> str:\n    '''Find an order.'''\n    return 'shipped'\n\n"
        "async def ping() -> str:\n    '''Ping.'''\n    return 'pong'\n\n"
        "def _private() -> None: ...\n"
    )
    tools = load_tools(str(source))
    assert tools.names == ["lookup_order", "ping"] and tools.get("ping").is_async  # type: ignore[union-attr]
    assert asyncio.run(tools.run(call("ping", {}))).output == "pong"
    assert load_tools("rejoinder.tools.builtins:calculate").names == ["calculate"]
    assert load_tools("rejoinder.tools.builtins:BUILTINS").names == [
        "current_datetime",
        "calculate",
        "end_conversation",
    ]
    with pytest.raises(BadInputError, match="calculator:MAX_DEPTH: 50 is not a function"):
        load_tools("rejoinder.tools.calculator:MAX_DEPTH")


@pytest.mark.parametrize(
    ("content", "spec", "message"),
    [
        (None, "missing.py", "tools file 'missing.py' does not exist"),
        ("def f(:\n", "bad.py", "bad.py:1: syntax error"),
        ("import nothing_here_xyz\n", "bad.py", "importing it raised ModuleNotFoundError"),
        ("X = 1\n", "bad.py", "defines no public functions"),
        ("def f(x: dict) -> str:\n    '''F.'''\n", "bad.py", "unsupported annotation dict"),
        (None, "no_such_module_xyz:f", "cannot be found"),
        (None, "rejoinder.tools.builtins:nope", "has no attribute 'nope'"),
    ],
)
def test_load_tools_errors_are_one_clear_line(
    tmp_path: Path, content: str | None, spec: str, message: str
) -> None:
    if content is not None:
        (tmp_path / spec).write_text(content)
    if spec.endswith(".py"):
        spec = str(tmp_path / spec) if content is not None else spec
    with pytest.raises(BadInputError, match=message) as info:
        load_tools(spec)
    assert "\n" not in str(info.value)


def test_client_tool_definitions_are_checked_field_by_field() -> None:
    good = {
        "type": "function",
        "name": "lookup",
        "description": "Find.",
        "parameters": {"type": "object", "properties": {"id": {"type": "string"}}},
    }
    chat_shape = {"type": "function", "function": {"name": "other", "parameters": {"type": "object"}}}
    tools = parse_tools([good, chat_shape], "session.tools")
    assert [t.name for t in tools] == ["lookup", "other"]
    assert tools[0].openai()["function"]["parameters"] == good["parameters"]
    cases = [
        ({**good, "type": "web_search"}, "session.tools[0].type: must be 'function'"),
        ({**good, "name": "has space"}, "session.tools[0].name: must be 1-64"),
        ({**good, "description": 3}, "session.tools[0].description"),
        (
            {**good, "parameters": {"type": "strng"}},
            "session.tools[0].parameters/type: not a valid JSON schema",
        ),
        ({**good, "parameters": {"type": "string"}}, "session.tools[0].parameters.type: must be 'object'"),
        ({**good, "parameters": []}, "session.tools[0].parameters: must be a JSON schema object"),
        ({"type": "function", "function": {"name": "a b"}}, "session.tools[0].function.name"),
    ]
    for raw, message in cases:
        with pytest.raises(BadInputError) as info:
            parse_tools([raw], "session.tools")
        assert str(info.value).startswith(message), str(info.value)
    with pytest.raises(BadInputError, match=r"tools\[1\].name: 'lookup' is defined twice"):
        parse_tools([good, good])
    assert parse_tool_choice("required", ["lookup"]) == "required"
    assert parse_tool_choice({"type": "function", "name": "lookup"}, ["lookup"]) == "lookup"
    assert parse_tool_choice({"type": "function", "function": {"name": "lookup"}}, ["lookup"]) == "lookup"
    with pytest.raises(BadInputError, match=r"tool_choice\.name: 'other' is not one of the tools"):
        parse_tool_choice({"type": "function", "name": "other"}, ["lookup"])
    with pytest.raises(BadInputError, match="tool_choice: must be"):
        parse_tool_choice("sometimes", ["lookup"])


def test_session_tools_are_builtins_plus_each_spec(tmp_path: Path) -> None:
    (tmp_path / "shop.py").write_text(
        "def lookup_order(order_id: str) -> str:\n    '''Find.'''\n    return 'x'\n"
    )
    (tmp_path / "clash.py").write_text(
        "def calculate(expression: str) -> str:\n    '''Mine.'''\n    return 'x'\n"
    )
    tools = session_tools([str(tmp_path / "shop.py")])
    assert tools.names == ["current_datetime", "calculate", "end_conversation", "lookup_order"]
    assert session_tools([], builtins=False).names == []
    with pytest.raises(BadInputError, match="two tools are named 'calculate'"):
        session_tools([str(tmp_path / "clash.py")])
