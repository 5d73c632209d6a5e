"""The one event type a session emits; transports translate it to their wire format."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

EventType = Literal[
    "state",  # data: state
    "speech_started",  # data: at_s
    "speech_stopped",  # data: at_s
    "transcript",  # data: text
    "reply_clause",  # data: text (about to be spoken)
    "audio",  # audio: float32 chunk, data: sample_rate, clause (index)
    "clause_done",  # data: clause (index), text: all of this clause's audio has been emitted
    "reply_done",  # data: status, text (what was spoken)
    "turn_report",  # data: TurnReport.to_dict()
    "error",  # data: message
]


@dataclass
class Event:
    type: EventType
    turn: int | None = None
    data: dict[str, Any] = field(default_factory=dict)
    audio: np.ndarray | None = None
    at: float = field(default_factory=time.perf_counter)


EventSink = Callable[[Event], Awaitable[None]]
