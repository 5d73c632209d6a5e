"""The OpenAI Realtime protocol (GA event names) over any message channel, split by event family:
session settings, input (audio buffer and items), responses."""

from rejoinder.transports.realtime.connection import RealtimeConnection
from rejoinder.transports.realtime.wire import MAX_EVENT_BYTES, ProtocolError

__all__ = ["MAX_EVENT_BYTES", "ProtocolError", "RealtimeConnection"]
