"""The bench report's per-kind latency: turns that called a tool apart from the others, and calls
decided by the request's words (direct) apart from the model's."""

from __future__ import annotations

from rejoinder.bench import _first_audio_by, _kind


def turn(first_audio: float | None, calls: int, strategy: str = "learned") -> dict[str, object]:
    return {
        "timings_ms": {
            "first_audio": first_audio,
            "stt": 100.0,
            "llm_first_token": None,
            "tts_first_audio": None,
        },
        "timeline_ms": {},
        "endpointing_wall_ms": 250.0,
        "route": {"tier": "strong", "strategy": strategy},
        "tool_calls": [{"name": "clock"}] * calls,
    }


def test_tool_turns_are_reported_apart() -> None:
    turns = [
        turn(900.0, 1),
        turn(300.0, 0),
        turn(500.0, 0),
        turn(None, 1),
        turn(1100.0, 2),
        turn(120.0, 1, "direct"),
    ]
    kinds = _first_audio_by(turns, _kind)
    assert kinds["tool"]["n"] == 2 and kinds["tool"]["median"] in (900.0, 1000.0, 1100.0)
    assert kinds["plain"]["n"] == 2 and kinds["plain"]["max"] == 500.0
    assert kinds["tool, direct"]["n"] == 1 and kinds["tool, direct"]["median"] == 120.0
    voice = _first_audio_by(turns, _kind, "voice_to_voice")  # the endpointing wait included
    assert voice["tool, direct"]["median"] == 370.0 and voice["plain"]["max"] == 750.0
    assert _first_audio_by([turn(300.0, 0)], _kind).keys() == {"plain"}
