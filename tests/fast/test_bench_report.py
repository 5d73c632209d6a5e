"""The bench report's per-kind latency: turns that called a tool apart from the others."""

from __future__ import annotations

from rejoinder.bench import _first_audio_by, _kind


def turn(first_audio: float | None, calls: int) -> dict[str, object]:
    return {"timings_ms": {"first_audio": first_audio}, "tool_calls": [{"name": "clock"}] * calls}


def test_tool_turns_are_reported_apart() -> None:
    kinds = _first_audio_by(
        [turn(900.0, 1), turn(300.0, 0), turn(500.0, 0), turn(None, 1), turn(1100.0, 2)], _kind
    )
    assert kinds["tool"]["n"] == 2 and kinds["tool"]["median"] in (900.0, 1000.0, 1100.0)
    assert kinds["plain"]["n"] == 2 and kinds["plain"]["max"] == 500.0
    assert _first_audio_by([turn(300.0, 0)], _kind).keys() == {"plain"}
