"""One reply with tools, for the responder: stream the model, run the calls it makes, feed the
results back, and stream what it then says. Yields the text to speak and typed events for the turn
log / Realtime items; never raises for a tool's failure (a failed round ends in a spoken apology)."""

from __future__ import annotations

import asyncio
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


async def reply_with_tools(
    llm: ToolCallingLLM,
    prompt: list[Message],
    params: GenerationParams,
    runner: ToolRunner,
    tool_choice: ToolChoice = "auto",
    max_rounds: int = MAX_ROUNDS,
    client_tools: Sequence[OpenAITool] = (),
    planned: Sequence[ToolCall] = (),
) -> AsyncIterator[str | ToolEvent]:
    """Text pieces to speak, and a ToolEvent before and after each round of calls. `prompt` is
    extended with each round's messages; the runner also writes them to the session history.
    `client_tools` are offered too, but run by the client (see ToolEvent "client_calls").
    `planned`: calls made without asking the model, as its first round (the clock for "What time
    is it?"); the model then answers from their results."""
    choice = tool_choice
    client = frozenset(t["function"]["name"] for t in client_tools)
    try:
        for round_index in range(max_rounds):
            calls: list[ToolCall] = list(planned) if round_index == 0 else []
            said: list[str] = []
            offered = [*runner.tools.openai_tools(), *client_tools] if choice != "none" else []
            if not calls:  # planned calls stand for the model's first round
                async for item in llm.stream_chat(prompt, params, offered, choice):
                    if isinstance(item, ToolCall):
                        calls.append(item)
                    else:
                        said.append(item)
                        yield item
            if not calls:
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
            fresh = any(r.status != "duplicate" for r in done.results)
            # a forced choice applies to the first response only; repeats or the last round: answer now
            choice = "auto" if fresh and round_index + 2 < max_rounds else "none"
            if planned and round_index == 0:
                choice = "none"  # the model did not choose these calls: it answers from them
    except (asyncio.CancelledError, GeneratorExit):  # barge-in: the answer is gone, the results stay
        runner.mark_interrupted()
        raise
