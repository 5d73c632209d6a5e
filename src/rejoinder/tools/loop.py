"""One reply with tools, for the responder: stream the model, run the calls it makes, feed the
results back, and stream what it then says. Yields the text to speak and typed events for the turn
log / Realtime items; never raises for a tool's failure (a failed round ends in a spoken apology)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Literal

from rejoinder.stages.llm import GenerationParams, Message, OpenAITool, ToolCall, ToolCallingLLM, ToolChoice
from rejoinder.tools.runner import ToolRound, ToolRunner

MAX_ROUNDS = 3


@dataclass(frozen=True)
class ToolEvent:
    """ "calls": the model's calls of a response; "results": the round run (in-process results);
    "client_calls": calls for the client to run; the reply ends there, to go on once its outputs
    are in the prompt (Realtime: function_call items, then function_call_output + response.create)."""

    kind: Literal["calls", "results", "client_calls"]
    round: ToolRound | None = None
    calls: tuple[ToolCall, ...] = ()


def apology(round_: ToolRound) -> str:
    """A plain spoken sentence for a round in which every tool failed; the model is not asked."""
    statuses = {r.status for r in round_.results}
    if statuses == {"timed_out"}:
        return "Sorry, that is taking too long right now. Please try again in a moment."
    if statuses <= {"invalid_arguments", "unknown_tool"}:
        return "Sorry, I could not work that out. Could you say it another way?"
    return "Sorry, something went wrong while I was checking that."


NOTHING_SAID = "Sorry, I could not answer that. Could you ask it another way?"
GOODBYE = "Goodbye!"


def said_anything(pieces: Sequence[str]) -> bool:
    """Whether a response held words, not only markup (tags, fences, brackets) or nothing."""
    return re.search(r"[^\W_]", re.sub(r"<[^>]*>", "", "".join(pieces))) is not None


def unspoken_results(runner: ToolRunner) -> str:
    """What to say when the model, given the results, only asks for the same calls again (measured:
    Qwen2.5-Coder-1.5B re-wrote an order lookup as text instead of reading its result): the
    results themselves, in their own words; with none, an apology."""
    outputs = [r.result.output for r in runner.records if r.result is not None and r.result.ok]
    if not outputs:
        return NOTHING_SAID
    return "Here is what I found: " + "; ".join(dict.fromkeys(outputs)).rstrip(".") + "."


async def reply_with_tools(
    llm: ToolCallingLLM,
    prompt: list[Message],
    params: GenerationParams,
    runner: ToolRunner,
    tool_choice: ToolChoice = "auto",
    max_rounds: int = MAX_ROUNDS,
    client_tools: Sequence[OpenAITool] = (),
) -> AsyncIterator[str | ToolEvent]:
    """Text pieces to speak, and a ToolEvent before and after each round of calls. `prompt` is
    extended with each round's messages; the runner also writes them to the session history.
    `client_tools` are offered too, but run by the client (see ToolEvent "client_calls")."""
    choice = tool_choice
    spoken: list[str] = []
    client = frozenset(t["function"]["name"] for t in client_tools)
    try:
        for round_index in range(max_rounds):
            calls: list[ToolCall] = []
            said: list[str] = []  # this round's text; `spoken` holds the whole request's
            offered = [*runner.tools.openai_tools(), *client_tools] if choice != "none" else []
            async for item in llm.stream_chat(prompt, params, offered, choice):
                if isinstance(item, ToolCall):
                    calls.append(item)
                else:
                    said.append(item)
                    spoken.append(item)
                    yield item
            if not calls or not offered:  # no calls, or calls written as text when none may be made
                if not said_anything(said):  # measured: "<tools></tools>" and nothing else
                    yield unspoken_results(runner)
                return
            yield ToolEvent("calls", calls=tuple(calls))
            done = await runner.run(calls, "".join(said), client)
            yield ToolEvent("results", round=done)
            if done.calls or done.for_client:
                prompt.extend(done.messages())
            if done.for_client:
                yield ToolEvent("client_calls", round=done, calls=tuple(done.for_client))
                return
            if not done.calls:
                return  # only repeats of client calls already sent: nothing new to say or wait for
            if done.all_failed:
                yield apology(done)
                return
            if runner.end_requested:  # measured: asked again, the 1.5B said "I can't assist with that."
                if not said_anything(spoken):
                    yield GOODBYE
                return
            fresh = any(r.status != "duplicate" for r in done.results)
            # a forced choice applies to the first response only; repeats or the last round: answer now
            choice = "auto" if fresh and round_index + 2 < max_rounds else "none"
    except (asyncio.CancelledError, GeneratorExit):  # barge-in: the answer is gone, the results stay
        runner.mark_interrupted()
        raise
