"""The playback log: what a listener heard when a reply was cut short."""

from __future__ import annotations

from rejoinder.playback import KEEP_TURNS, PlaybackLog


def _log_with_two_clauses() -> PlaybackLog:
    log = PlaybackLog()
    log.clause(0, 0, "The sky is blue.")
    log.produced(0, 0, 1.0)
    log.sent(0, 0, 0.5, plays_at=10.0)
    log.sent(0, 0, 0.5, plays_at=10.5)
    log.delivered(0, 0)
    log.clause(0, 1, "Sunlight is scattered by the air molecules above us.")
    log.produced(0, 1, 2.0)
    log.sent(0, 1, 1.0, plays_at=11.0)  # the rest of the clause is not sent yet
    return log


def test_heard_keeps_whole_clauses_then_the_words_played_of_the_next() -> None:
    log = _log_with_two_clauses()
    assert log.heard(0, now=9.0) == []
    assert log.heard(0, now=10.6) == ["The sky"]  # 60 % of four words: two whole words
    assert log.heard(0, now=11.0) == ["The sky is blue."]
    # 0.5 s of a 2 s clause of nine words: two words heard.
    assert log.heard(0, now=11.5) == ["The sky is blue.", "Sunlight is"]
    # Only half of the second clause was ever sent: the listener cannot have heard more.
    assert log.heard(0, now=20.0) == ["The sky is blue.", "Sunlight is scattered by"]


def test_a_delivered_clause_counts_only_once_it_has_played_out() -> None:
    log = PlaybackLog()
    log.clause(3, 0, "Hello there.")
    log.produced(3, 0, 1.0)
    log.sent(3, 0, 1.0, plays_at=5.0)
    log.delivered(3, 0)
    assert log.heard(3, now=5.99) == ["Hello"]
    assert log.heard(3, now=6.0) == ["Hello there."]
    assert log.heard(4, now=6.0) == []


def test_heard_until_follows_the_clients_playback_position() -> None:
    """conversation.item.truncate: the client says how far into the reply's audio it played."""
    log = _log_with_two_clauses()
    assert log.heard_until(1, 1.0) is None  # an unknown turn
    assert log.heard_until(0, 0.0) == []
    assert log.heard_until(0, 0.5) == ["The sky"]
    assert log.heard_until(0, 1.5) == ["The sky is blue.", "Sunlight is"]
    assert log.heard_until(0, 99.0) == [
        "The sky is blue.",
        "Sunlight is scattered by the air molecules above us.",
    ]


def test_only_recent_turns_are_kept() -> None:
    log = PlaybackLog()
    for turn in range(KEEP_TURNS + 3):
        log.clause(turn, 0, "Hi.")
    assert log.heard_until(2, 1.0) is None and log.heard_until(3, 1.0) == ["Hi."]
