"""`--tools SPEC` (repeatable), `--builtin-tools/--no-builtin-tools` and `--direct-tools/--no-direct-tools`
for `reply`, `serve` and `bench`: the options and the ToolSet they give the engine, loaded before the
models so a bad file fails at once."""

from __future__ import annotations

from typing import Annotated

import typer

from rejoinder.tools.loader import session_tools
from rejoinder.tools.toolset import ToolSet

ToolsOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--tools",
        help="Python functions the agent may call: FILE.py or module:attr (repeatable). "
        "Only turns that may need a tool are offered them, answered by a tier that can call tools.",
    ),
]
BuiltinToolsOpt = Annotated[
    bool,
    typer.Option(
        "--builtin-tools/--no-builtin-tools",
        help="Offer the built-in tools: current_datetime, calculate, end_conversation. Off by default: "
        "on 2 CPU cores a tool turn takes seconds (the strong tier reads the tool prompt), while the "
        "strong tier answers arithmetic correctly on its own (docs/tools.md).",
    ),
]


DirectToolsOpt = Annotated[
    bool | None,
    typer.Option(
        "--direct-tools/--no-direct-tools",
        help="Answer 'What time is it?', 'What's the date?', bare sums and short reckoning (weekdays, "
        "clock times, which number is bigger) from tools without asking the model [on].",
    ),
]


def cli_tools(specs: list[str] | None, builtins: bool) -> ToolSet | None:
    """The tools of `--tools` plus the built-ins (if asked for); None when there are none."""
    tools = session_tools(list(specs or []), builtins=builtins)
    return tools if len(tools) else None
