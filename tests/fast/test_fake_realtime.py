"""The Realtime protocol on fake stages: every server event validates against the official
`openai` SDK's own models, bad fields get a human `invalid_request_error` naming the field, and
every response gets its `response.done`."""

from __future__ import annotations

import asyncio
import base64
import gc
import json
from typing import Any, get_args

import pytest
from openai.types.realtime import RealtimeServerEvent

from fake_engine import SCRIPT, fake_engine
from rejoinder.audio import PCM_RATE, to_pcm16
from rejoinder.backends.fake import FakeLLM, silence, tone
from rejoinder.transports.realtime import RealtimeConnection

SERVER_EVENTS = {
    get_args(kind.model_fields["type"].annotation)[0]: kind
    for kind in get_args(get_args(RealtimeServerEvent)[0])
}
"""The SDK's own model for each server event type."""


class Client:
    def __init__(self, reply: str = "Rome is the capital of Italy.", **stages: object) -> None:
        self.sent: list[dict[str, Any]] = []
        self.invalid: list[str] = []
        self.connection = RealtimeConnection(fake_engine(reply, **stages), self._receive)

    async def _receive(self, event: dict[str, Any]) -> None:
        try:
            SERVER_EVENTS[event["type"]].model_validate(event)  # the SDK's own model accepts it
        except Exception as exc:
            self.invalid.append(f"{event['type']}: {exc}")
        self.sent.append(event)

    async def send(self, type_: str, **fields: Any) -> None:
        await self.connection.handle(json.dumps({"type": type_, **fields}))

    async def ask(self, text: str) -> None:
        """A typed user message and a response.create."""
        item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
        await self.send("conversation.item.create", item=item)
        await self.send("response.create")

    async def until(self, kind: str, count: int = 1, timeout: float = 10) -> list[dict[str, Any]]:
        async with asyncio.timeout(timeout):
            while len(found := [e for e in self.sent if e["type"] == kind]) < count:
                await asyncio.sleep(0.01)
        return found

    def errors(self) -> list[dict[str, Any]]:
        return [e["error"] for e in self.sent if e["type"] == "error"]


def b64(samples: Any) -> str:
    return base64.b64encode(to_pcm16(samples)).decode()


def test_a_spoken_turn_and_a_typed_turn_send_only_valid_events() -> None:
    async def go() -> Client:
        client = Client()
        await client.connection.start()
        audio = [tone(0, 0.8, rate=PCM_RATE), silence(1.0, PCM_RATE)]
        for chunk in audio:
            for i in range(0, chunk.size, 2400):
                await client.send("input_audio_buffer.append", audio=b64(chunk[i : i + 2400]))
                await asyncio.sleep(0.02)
        done = (await client.until("response.done"))[0]["response"]
        assert done["status"] == "completed" and done["output"][0]["content"][0]["transcript"]
        await client.ask("More?")
        await client.until("response.done", 2)
        await client.send("conversation.item.truncate", item_id=done["output"][0]["id"], audio_end_ms=100)
        await client.until("conversation.item.truncated")
        await client.send("nope")
        await client.until("error")
        await client.connection.close()
        return client

    client = asyncio.run(go())
    assert not client.invalid
    kinds = {e["type"] for e in client.sent}
    assert {
        "session.created",
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "conversation.item.input_audio_transcription.completed",
        "conversation.item.added",
        "response.created",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_audio_transcript.delta",
        "response.output_audio.delta",
        "response.output_audio.done",
        "response.output_audio_transcript.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.done",
        "conversation.item.truncated",
        "error",
    } <= kinds
    transcript = next(e for e in client.sent if e["type"].endswith("transcription.completed"))
    assert transcript["transcript"] == SCRIPT[0] and transcript["usage"]["seconds"] > 0.5


@pytest.mark.parametrize(
    ("event", "param", "words"),
    [
        ({"type": "session.update", "session": {"audio": {"input": "x"}}}, "session.audio.input", "object"),
        ({"type": "session.update", "session": "x"}, "session", "object"),
        ({"type": "session.update", "session": {"instructions": 7}}, "session.instructions", "string"),
        (
            {"type": "session.update", "session": {"instructions": "x" * 1_000_000}},
            "session.instructions",
            "at most",
        ),
        (
            {"type": "session.update", "session": {"max_output_tokens": "many"}},
            "session.max_output_tokens",
            "integer",
        ),
        (
            {"type": "session.update", "session": {"audio": {"input": {"turn_detection": {"threshold": 7}}}}},
            "session.audio.input.turn_detection.threshold",
            "less than or equal",
        ),
        (
            {
                "type": "session.update",
                "session": {"audio": {"input": {"turn_detection": {"prefix_padding_ms": 10**9}}}},
            },
            "session.audio.input.turn_detection.prefix_padding_ms",
            "less than or equal to 2000",
        ),
        (
            {
                "type": "conversation.item.create",
                "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": 7}]},
            },
            "item.content[0].text",
            "string",
        ),
        (
            {"type": "conversation.item.create", "item": {"role": "user", "content": "hi"}},
            "item.content",
            "list",
        ),
        ({"type": "input_audio_buffer.append", "audio": 5}, "audio", "base64"),
        ({"type": "input_audio_buffer.append", "audio": "###"}, "audio", "base64"),
        ({"type": "input_audio_buffer.append", "audio": "AAAA"}, "audio", "even"),
        (
            {"type": "session.update", "session": {"tools": [{"type": "function", "name": "a b"}]}},
            "session.tools[0].name",
            "letters",
        ),
        (
            {
                "type": "session.update",
                "session": {"tools": [{"type": "function", "name": "f", "parameters": {"type": 3}}]},
            },
            "session.tools[0].parameters/type",
            "not a valid JSON schema",
        ),
        (  # valid JSON schemas llama.cpp cannot compile: every later tool turn failed
            {
                "type": "session.update",
                "session": {
                    "tools": [
                        {
                            "type": "function",
                            "name": "f",
                            "parameters": {"properties": {"a": {"$ref": "#/$defs/x"}}},
                        }
                    ]
                },
            },
            "session.tools[0].parameters/properties/a/$ref",
            "points to nothing",
        ),
        (
            {
                "type": "session.update",
                "session": {
                    "tools": [
                        {
                            "type": "function",
                            "name": "f",
                            "parameters": {"properties": {"a": {"type": "string", "minLength": 100000}}},
                        }
                    ]
                },
            },
            "session.tools[0].parameters/properties/a/minLength",
            "at most 1000",
        ),
        (
            {
                "type": "session.update",
                "session": {
                    "tools": [
                        {
                            "type": "function",
                            "name": "f",
                            "parameters": {
                                "properties": {"a": {"type": "string", "pattern": "^a{1" + "0" * 5000 + "}$"}}
                            },
                        }
                    ]
                },
            },
            "session.tools[0].parameters/properties/a/pattern",
            "repetition counts of at most 1000",
        ),
        (
            {"type": "session.update", "session": {"tool_choice": {"type": "function", "name": "nope"}}},
            "session.tool_choice.name",
            "not one of the tools",
        ),
        (
            {
                "type": "conversation.item.create",
                "item": {"type": "function_call_output", "call_id": "call_x", "output": "{}"},
            },
            "item.call_id",
            "no function call 'call_x'",
        ),
    ],
)
def test_bad_fields_get_a_human_error_naming_the_field(event: dict[str, Any], param: str, words: str) -> None:
    async def go() -> Client:
        client = Client()
        await client.connection.handle(json.dumps(event))
        await client.ask("Hi")  # the session goes on
        await client.until("response.done")
        await client.connection.close()
        return client

    client = asyncio.run(go())
    [error] = client.errors()
    assert error["type"] == "invalid_request_error" and error["param"] == param, error
    assert words in error["message"] and "pydantic" not in error["message"] and "http" not in error["message"]


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("[" * 100_000, "nested deeper than 64"),  # was a server_error: RecursionError
        ('{"type": "session.update", "session": {"instructions": "Be brief \\udfff."}}', "surrogate"),
        (
            '{"type": "conversation.item.create", "item": {"type": "message", "role": "user", '
            '"content": [{"type": "input_text", "text": "\\ud800 hi"}]}}',
            "surrogate",
        ),
    ],
)
def test_json_no_model_can_take_is_refused_and_the_session_goes_on(raw: str, words: str) -> None:
    """Found by probing: deep nesting gave a server_error; a lone surrogate in instructions was
    accepted and then failed every later turn inside llama.cpp."""

    async def go() -> Client:
        client = Client()
        await client.connection.handle(raw)
        await client.ask("Hi")
        await client.until("response.done")
        await client.connection.close()
        return client

    client = asyncio.run(go())
    [error] = client.errors()
    assert error["type"] == "invalid_request_error" and error["code"] == "invalid_json"
    assert words in error["message"]
    [done] = [e for e in client.sent if e["type"] == "response.done"]
    assert done["response"]["status"] == "completed"


def test_a_truncation_past_the_end_of_the_audio_is_refused() -> None:
    """As the OpenAI API does; it used to be accepted and echoed back (audio_end_ms 10^300)."""

    async def go() -> tuple[Client, int]:
        client = Client()
        await client.ask("Hi")
        done = (await client.until("response.done"))[0]["response"]
        deltas = [e["delta"] for e in client.sent if e["type"] == "response.output_audio.delta"]
        played_ms = sum(len(base64.b64decode(d)) // 2 for d in deltas) * 1000 // PCM_RATE
        item_id = done["output"][0]["id"]
        await client.send(
            "conversation.item.truncate", item_id=item_id, content_index=0, audio_end_ms=10**300
        )
        await client.until("error")
        await client.send(
            "conversation.item.truncate", item_id=item_id, content_index=0, audio_end_ms=played_ms
        )
        await client.until("conversation.item.truncated")
        await client.connection.close()
        return client, played_ms

    client, played_ms = asyncio.run(go())
    [error] = client.errors()
    assert played_ms > 0 and error["param"] == "audio_end_ms" and "past the end" in error["message"]


def test_a_commit_with_no_speech_open_gets_an_error_not_silence() -> None:
    async def go() -> Client:
        client = Client()
        await client.send("input_audio_buffer.commit")  # server VAD on, nothing said
        await client.until("error")
        await client.connection.close()
        return client

    [error] = asyncio.run(go()).errors()
    assert error["code"] == "input_audio_buffer_commit_empty" and error["type"] == "invalid_request_error"


def test_a_replaced_response_still_gets_its_response_done() -> None:
    async def go() -> Client:
        client = Client("word " * 12)
        await client.ask("One")
        await client.ask("One")  # replaces the first before it says anything
        await client.until("response.done", 2)
        await client.connection.close()
        return client

    client = asyncio.run(go())
    created = [e["response"]["id"] for e in client.sent if e["type"] == "response.created"]
    done = {e["response"]["id"]: e["response"]["status"] for e in client.sent if e["type"] == "response.done"}
    assert len(created) == 2 and set(done) == set(created)
    assert sorted(done.values()) == ["cancelled", "completed"]


def test_a_burst_of_responses_leaves_one_running_and_ends_every_one() -> None:
    """Twenty response.create in a row (found by probing: 17 of 20 never got response.done, and
    others were queued to play in full one after another): each replaces the one before."""

    async def go() -> Client:
        client = Client("word " * 12)
        for _ in range(20):
            await client.ask("Count.")
            gc.collect()  # nothing a turn needs may be collected while it waits
        await client.until("response.done", 20, timeout=5)
        await client.connection.close()
        return client

    client = asyncio.run(go())
    created = [e["response"]["id"] for e in client.sent if e["type"] == "response.created"]
    ends = [e["response"] for e in client.sent if e["type"] == "response.done"]
    done = [(end["id"], end["status"]) for end in ends]
    assert len(created) == 20 and [i for i, _ in done] == created  # each ends, in order
    assert [status for _, status in done] == ["cancelled"] * 19 + ["completed"]
    assert not client.invalid and not client.errors()


def test_a_create_response_that_is_not_a_boolean_is_refused_and_changes_nothing() -> None:
    """ "no" used to be taken as true (bool("no")), and the rest of the setting applied anyway."""

    async def go() -> Client:
        client = Client()
        td = {"type": "server_vad", "silence_duration_ms": 900, "create_response": "no"}
        await client.send("session.update", session={"audio": {"input": {"turn_detection": td}}})
        await client.until("error")
        await client.connection.close()
        return client

    client = asyncio.run(go())
    [error] = client.errors()
    assert error["param"] == "session.audio.input.turn_detection.create_response"
    assert "boolean" in error["message"]
    settings = client.connection.settings
    assert settings.create_response is True and settings.config.vad.min_silence_ms != 900


def test_a_number_python_will_not_convert_is_refused_as_json() -> None:
    """An integer of 5,000 digits made int() raise ValueError: a server_error."""

    async def go() -> Client:
        client = Client()
        await client.connection.handle(
            '{"type": "response.create", "response": {"max_output_tokens": 1' + "0" * 5000 + "}}"
        )
        await client.until("error")
        await client.connection.close()
        return client

    [error] = asyncio.run(go()).errors()
    assert error["type"] == "invalid_request_error" and error["code"] == "invalid_json"
    assert "digits" in error["message"]


def test_a_manual_commit_is_transcribed_once() -> None:
    """With turn detection off, the commit sent the transcript and response.create sent it again;
    and the last 35 ms of the audio stayed in the resampler, out of the committed utterance."""

    async def go() -> Client:
        client = Client()
        await client.send("session.update", session={"audio": {"input": {"turn_detection": None}}})
        await client.send("input_audio_buffer.append", audio=b64(tone(0, 0.8, rate=PCM_RATE)))
        await client.send("input_audio_buffer.commit")
        await client.send("response.create")
        await client.until("response.done")
        await client.connection.close()
        return client

    client = asyncio.run(go())
    done = [e for e in client.sent if e["type"] == "conversation.item.input_audio_transcription.completed"]
    # all of it: 35 ms used to stay in the resampler
    assert len(done) == 1 and done[0]["usage"]["seconds"] == 0.8, done
    assert not client.errors() and not client.invalid


def test_a_truncation_of_a_running_response_past_its_audio_is_refused() -> None:
    """A huge audio_end_ms for a response still speaking reached a float division: server_error."""

    async def go() -> Client:
        client = Client("word " * 40)
        await client.ask("Talk.")
        added = (await client.until("response.output_item.added"))[0]
        await client.send(
            "conversation.item.truncate", item_id=added["item"]["id"], content_index=0, audio_end_ms=10**300
        )
        await client.until("error")
        await client.until("response.done")
        await client.connection.close()
        return client

    client = asyncio.run(go())
    [error] = client.errors()
    assert error["type"] == "invalid_request_error" and error["param"] == "audio_end_ms", error


@pytest.mark.parametrize(
    "session",
    [
        {"instructions": "Answer like a pirate.", "audio": {"input": {"format": {"type": "audio/pcmu"}}}},
        {
            "tools": [{"type": "function", "name": "x"}],
            "audio": {"input": {"turn_detection": {"type": "bogus"}}},
        },
        {"audio": {"input": {"turn_detection": None}}, "max_output_tokens": 0},  # turn detection went off
        # accepted and ignored before (found by probing): μ-law read as PCM16, text-only output
        # answered with audio, a silence of 30 years, a pcmu output format
        {"instructions": "Be brief.", "input_audio_format": "g711_ulaw"},
        {"instructions": "Be brief.", "output_modalities": ["text"]},
        {"instructions": "Be brief.", "modalities": ["text"]},
        {"audio": {"input": {"turn_detection": {"type": "server_vad", "silence_duration_ms": 10**12}}}},
        {"instructions": "Be brief.", "audio": {"output": {"format": {"type": "audio/pcmu"}}}},
    ],
)
def test_a_refused_session_update_changes_nothing(session: dict[str, Any]) -> None:
    """Found by probing: the fields before the refused one were applied anyway."""

    async def go() -> Client:
        client = Client()
        await client.connection.start()
        await client.send("session.update", session=session)
        await client.until("error")
        await client.send("session.update", session={})
        await client.until("session.updated")
        await client.connection.close()
        return client

    client = asyncio.run(go())
    [error] = client.errors()
    assert error["type"] == "invalid_request_error"
    [created] = [e["session"] for e in client.sent if e["type"] == "session.created"]
    [updated] = [e["session"] for e in client.sent if e["type"] == "session.updated"]
    assert updated == created
    assert client.connection.settings.vad_enabled


def test_a_prompt_over_the_context_is_the_clients_error_and_the_session_recovers() -> None:
    """Found by probing: 4,000 characters of CJK instructions (about 12,000 tokens) passed the
    character limit, then every turn failed as a server_error; now an invalid_request_error that
    says why, and new instructions bring the session back."""

    async def go() -> Client:
        client = Client(llm=FakeLLM(reply="Hello there.", context=2048))
        await client.send("session.update", session={"instructions": "漢" * 1000})
        await client.ask("Hi")
        await client.until("response.done")
        await client.send("session.update", session={"instructions": "Be brief."})
        await client.ask("Hi")
        await client.until("response.done", 2)
        await client.connection.close()
        return client

    client = asyncio.run(go())
    [error] = client.errors()
    assert error["type"] == "invalid_request_error" and error["code"] == "turn_failed"
    assert "context holds 2048" in error["message"]
    statuses = [e["response"]["status"] for e in client.sent if e["type"] == "response.done"]
    assert statuses == ["failed", "completed"]


@pytest.mark.parametrize("wait_for_each", [True, False])
def test_a_history_grown_past_the_context_is_trimmed_not_fatal(wait_for_each: bool) -> None:
    """Found by probing: within the limits (messages under 4,000 characters, 8 exchanges kept),
    the history outgrew the model's context; then every turn failed, "Hi" too, and nothing the
    client could do brought the session back. Asking without waiting leaves the messages
    unanswered in the history, as the probe did."""
    llm = FakeLLM(reply="Noted.", context=2048)

    async def go() -> Client:
        client = Client(llm=llm)
        for i in range(12):
            await client.ask(f"Note {i}: " + "the quick brown fox jumps over the lazy dog. " * 8)
            if wait_for_each:
                await client.until("response.done", i + 1)
        done = len(await client.until("response.done", 12 if wait_for_each else 1))
        await client.ask("What is the capital of Spain?")
        await client.until("response.done", done + 1)
        await asyncio.sleep(0.05)
        await client.connection.close()
        return client

    client = asyncio.run(go())
    assert not client.errors(), client.errors()
    statuses = {e["response"]["status"] for e in client.sent if e["type"] == "response.done"}
    assert "failed" not in statuses
    last = llm.calls[-1]
    # unanswered words are one request with what follows them (Responder._goes_on)
    assert last[-1]["content"].endswith("What is the capital of Spain?")
    assert sum(len(m["content"].encode()) for m in last) <= 2048
    assert any(m["content"].startswith("Note 11") for m in last)  # the newest history is kept


def test_two_items_before_a_response_both_reach_the_model() -> None:
    """Found by probing: the second conversation.item.create replaced the first, so "My name is
    Zorblax." then "What is my name?" reached the model as the question alone."""
    llm = FakeLLM(reply="Zorblax.")

    async def go() -> Client:
        client = Client(llm=llm)
        for text in ("My name is Zorblax.", "What is my name?"):
            item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
            await client.send("conversation.item.create", item=item)
        await client.send("response.create")
        await client.until("response.done")
        await client.connection.close()
        return client

    client = asyncio.run(go())
    assert not client.errors()
    assert llm.calls[-1][-1]["content"] == "My name is Zorblax.\nWhat is my name?"


def test_create_response_false_commits_a_spoken_turn_and_waits_for_response_create() -> None:
    """Found by probing: create_response false was echoed back and ignored: the turn was answered
    at once, and the client's own response.create then got no_input."""
    llm = FakeLLM(reply="Rome.")

    async def go() -> tuple[Client, int]:
        client = Client(llm=llm)
        await client.connection.start()
        td = {"type": "server_vad", "silence_duration_ms": 300, "create_response": False}
        await client.send("session.update", session={"audio": {"input": {"turn_detection": td}}})
        await client.until("session.updated")
        for chunk in (tone(0, 0.8, rate=PCM_RATE), silence(1.5, PCM_RATE)):
            for i in range(0, chunk.size, 2400):
                await client.send("input_audio_buffer.append", audio=b64(chunk[i : i + 2400]))
                await asyncio.sleep(0.02)
        await client.until("conversation.item.input_audio_transcription.completed")
        await asyncio.sleep(0.3)
        before = len([e for e in client.sent if e["type"] == "response.created"])
        await client.send("response.create")
        await client.until("response.done")
        await client.connection.close()
        return client, before

    client, created_before = asyncio.run(go())
    assert created_before == 0 and not client.errors(), client.errors()
    [committed] = [e for e in client.sent if e["type"] == "input_audio_buffer.committed"]
    [heard] = [e for e in client.sent if e["type"] == "conversation.item.input_audio_transcription.completed"]
    assert heard["item_id"] == committed["item_id"] and heard["transcript"]
    assert llm.calls[-1][-1]["content"] == heard["transcript"]
    [done] = [e["response"] for e in client.sent if e["type"] == "response.done"]
    assert done["status"] == "completed"


def test_tools_of_a_session_update_are_checked_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """Found by probing: 128 large tools (717 KB, within the limits) took 1.1-1.5 s to check on
    the event loop, and every other session's audio stalled meanwhile."""
    import threading

    from rejoinder.transports.realtime import tool_events

    threads: list[threading.Thread] = []
    real = tool_events.parse_session_tools

    def recording(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(tool_events, "parse_session_tools", recording)
    tool = {"type": "function", "name": "f", "parameters": {"type": "object", "properties": {}}}

    async def go() -> Client:
        client = Client()
        await client.send("session.update", session={"tools": [tool]})
        await client.send("session.update", session={"tools": [{**tool, "name": 5}]})
        await client.until("error")
        await client.connection.close()
        return client

    client = asyncio.run(go())
    assert len(threads) == 2 and threading.main_thread() not in threads
    [updated] = [e["session"] for e in client.sent if e["type"] == "session.updated"]
    assert [t["name"] for t in updated["tools"]] == ["f"]
    [error] = client.errors()
    assert error["param"].startswith("session.tools[0].name"), error


def test_the_settings_this_server_honours_are_still_accepted() -> None:
    async def go() -> Client:
        client = Client()
        for session in (
            {"output_modalities": ["audio"], "input_audio_format": "pcm16", "output_audio_format": "pcm16"},
            {"modalities": ["text", "audio"], "audio": {"output": {"format": {"type": "audio/pcm"}}}},
            {"audio": {"input": {"turn_detection": {"type": "server_vad", "silence_duration_ms": 10_000}}}},
        ):
            await client.send("session.update", session=session)
        await client.until("session.updated", 3)
        await client.connection.close()
        return client

    assert not asyncio.run(go()).errors()


def test_a_typed_turn_while_the_user_speaks_keeps_the_spoken_items_events_on_one_item() -> None:
    """Found by probing: the typed turn took the turn index the speech got when it started, so
    the typed words came back as the audio item's transcript, and speech_stopped and committed
    named another item than speech_started."""

    async def go() -> Client:
        client = Client()
        await client.connection.start()
        speech = tone(0, 1.2, rate=PCM_RATE)
        half = speech.size // 2
        for i in range(0, half, 2400):
            await client.send("input_audio_buffer.append", audio=b64(speech[i : i + 2400]))
            await asyncio.sleep(0.02)
        await client.until("input_audio_buffer.speech_started")
        await client.ask("Say the word banana.")
        for chunk in (speech[half:], silence(1.5, PCM_RATE)):
            for i in range(0, chunk.size, 2400):
                await client.send("input_audio_buffer.append", audio=b64(chunk[i : i + 2400]))
                await asyncio.sleep(0.02)
        await client.until("conversation.item.input_audio_transcription.completed")
        await client.until("response.done", 2)
        await client.connection.close()
        return client

    client = asyncio.run(go())
    assert not client.errors(), client.errors()

    def ids(kind: str) -> list[str]:
        return [e["item_id"] for e in client.sent if e["type"] == kind]

    [started] = ids("input_audio_buffer.speech_started")
    assert ids("input_audio_buffer.speech_stopped") == ids("input_audio_buffer.committed") == [started]
    heard = [e for e in client.sent if e["type"] == "conversation.item.input_audio_transcription.completed"]
    assert [e["item_id"] for e in heard] == [started]
    assert "banana" not in heard[0]["transcript"].lower()


def test_response_create_applies_its_own_instructions_and_token_limit_once() -> None:
    """Found by probing: a response.create's instructions, max_output_tokens and output
    modalities were ignored, and an out-of-band request got no_input."""
    llm = FakeLLM(reply="one two three four five six seven eight.")

    async def go() -> Client:
        client = Client(llm=llm)
        await client.send("session.update", session={"instructions": "Be brief."})
        item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Count."}]}
        await client.send("conversation.item.create", item=item)
        response = {
            "instructions": "Count in English.",
            "max_output_tokens": 3,
            "output_modalities": ["audio"],
        }
        await client.send("response.create", response=response)
        await client.until("response.done")
        await client.ask("Again.")
        await client.until("response.done", 2)
        for bad in (
            {"output_modalities": ["text"]},
            {"conversation": "none", "input": []},
            {"max_output_tokens": 0},
            {"instructions": 7},
        ):
            await client.send("response.create", response=bad)
        await client.send("response.create", response="now")
        await client.until("error", 5)
        await client.connection.close()
        return client

    client = asyncio.run(go())
    first, second = llm.calls[-2:]
    assert first[0] == {"role": "system", "content": "Count in English."}
    assert second[0] == {"role": "system", "content": "Be brief."}  # for that response only
    transcripts = [
        e["transcript"] for e in client.sent if e["type"] == "response.output_audio_transcript.done"
    ]
    assert transcripts[0].split() == ["one", "two", "three"] and len(transcripts[1].split()) == 8
    params = [e["param"] for e in client.errors()]
    assert params == [
        "response.output_modalities",
        "response.conversation",
        "response.max_output_tokens",
        "response.instructions",
        "response",
    ]
