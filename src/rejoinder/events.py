"""What a session tells its transport: one small frozen dataclass per kind of event.

Reply audio is not an event: it goes through the session's `AudioOutput` (output.py), which
knows what the listener has heard. Transports translate these events into their wire format.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from rejoinder.stages.llm import ToolCall
    from rejoinder.timeline import TurnReport
    from rejoinder.tools.tool import ToolResult

State = Literal["listening", "user_speaking", "thinking", "speaking"]
TurnStatus = Literal["completed", "cancelled", "empty", "failed"]


def _now() -> float:
    return time.perf_counter()


@dataclass(frozen=True)
class StateChanged:
    state: State
    at: float = field(default_factory=_now)


@dataclass(frozen=True)
class UserSpeechStarted:
    turn: int
    """The turn this speech will become."""
    at_s: float
    """Stream position of the onset, in seconds."""
    at: float = field(default_factory=_now)


@dataclass(frozen=True)
class UserSpeechStopped:
    turn: int
    at_s: float
    """Stream position where the speech ended (before the end-of-turn silence)."""
    at: float = field(default_factory=_now)


@dataclass(frozen=True)
class Transcribed:
    turn: int
    text: str
    at: float = field(default_factory=_now)


@dataclass(frozen=True)
class ClauseStarted:
    """A clause of the reply is about to be spoken."""

    turn: int
    clause: int
    text: str
    at: float = field(default_factory=_now)


@dataclass(frozen=True)
class ReplyDone:
    """The reply ended; `text` is what the listener heard of it."""

    turn: int
    status: TurnStatus
    text: str
    at: float = field(default_factory=_now)


@dataclass(frozen=True)
class TurnFinished:
    """The turn's report, after its reply has played out (or was cut short)."""

    turn: int
    report: TurnReport
    at: float = field(default_factory=_now)


@dataclass(frozen=True)
class TurnFailed:
    turn: int
    message: str
    at: float = field(default_factory=_now)
    by_input: bool = False
    """What the client sent made it fail (a prompt over the model's context), not the server."""


@dataclass(frozen=True)
class ToolCalled:
    """The model called a tool; `client`: the client runs it and sends the output back."""

    turn: int
    call: ToolCall
    client: bool = False
    at: float = field(default_factory=_now)


@dataclass(frozen=True)
class ToolReturned:
    """An in-process tool's result (or error), now in the model's prompt."""

    turn: int
    result: ToolResult
    at: float = field(default_factory=_now)


@dataclass(frozen=True)
class ConversationEnded:
    """A tool ended the conversation (end_conversation); sent once the goodbye has played."""

    turn: int
    at: float = field(default_factory=_now)


SessionEvent = (
    StateChanged
    | UserSpeechStarted
    | UserSpeechStopped
    | Transcribed
    | ClauseStarted
    | ReplyDone
    | TurnFinished
    | TurnFailed
    | ToolCalled
    | ToolReturned
    | ConversationEnded
)

EventSink = Callable[[SessionEvent], Awaitable[None]]


async def ignore(event: SessionEvent) -> None:
    """A sink for sessions nobody listens to (file mode, benchmarks)."""
