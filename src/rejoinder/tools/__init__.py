"""Function calling: typed tools from Python functions, the built-ins, and running them in a session.

Public names: Tool, ToolSet, ToolResult, ToolError, EndConversation, load_tools, session_tools,
ToolRunner, reply_with_tools (import them from here)."""

from rejoinder.tools.loader import load_tools, session_tools
from rejoinder.tools.loop import ToolEvent, reply_with_tools
from rejoinder.tools.runner import FILLER_TEXT, ToolRecord, ToolRound, ToolRunner
from rejoinder.tools.tool import EndConversation, Tool, ToolError, ToolResult
from rejoinder.tools.toolset import ToolSet

__all__ = [
    "FILLER_TEXT",
    "EndConversation",
    "Tool",
    "ToolError",
    "ToolEvent",
    "ToolRecord",
    "ToolResult",
    "ToolRound",
    "ToolRunner",
    "ToolSet",
    "load_tools",
    "reply_with_tools",
    "session_tools",
]
