"""The conversation's items over the Realtime protocol, on fake stages: each item announced once
with the item before it, `conversation.item.retrieve` and `.delete`, and `response.create` with
no new input, its own metadata and its cancel reason. Every event validates against the `openai`
SDK's models (the Client checks). Found by probing: retrieve and delete were unknown events,
committed audio and replies were never announced as items, a response.create after a reply was
refused, the client's metadata was replaced, and a client's cancel read "turn_detected"."""

from __future__ import annotations

import asyncio
from typing import Any

from test_fake_realtime import Client, b64

from fake_engine import SCRIPT, fake_engine
from rejoinder.audio import PCM_RATE
from rejoinder.backends.fake import FakeLLM, silence, tone
from rejoinder.transports.realtime import RealtimeConnection


def user_item(text: str, item_id: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": text}],
    }
    if item_id is not None:
        item["id"] = item_id
    return item


async def speak(client: Client, index: int = 0) -> None:
    for chunk in (tone(index, 0.8, rate=PCM_RATE), silence(1.0, PCM_RATE)):
        for i in range(0, chunk.size, 2400):
            await client.send("input_audio_buffer.append", audio=b64(chunk[i : i + 2400]))
            await asyncio.sleep(0.02)


def of(client: Client, kind: str) -> list[dict[str, Any]]:
    return [e for e in client.sent if e["type"] == kind]


def test_every_item_is_announced_once_after_the_item_before_it() -> None:
    async def go() -> Client:
        client = Client()
        await speak(client)
        await client.until("response.done")
        await client.ask("More?")
        await client.until("response.done", 2)
        await client.connection.close()
        return client

    client = asyncio.run(go())
    assert not client.invalid and not client.errors()
    added = of(client, "conversation.item.added")
    kinds = [
        (e["item"]["role"], e["item"]["content"][0]["type"] if e["item"]["content"] else None) for e in added
    ]
    assert kinds == [
        ("user", "input_audio"),
        ("assistant", None),
        ("user", "input_text"),
        ("assistant", None),
    ]
    ids = [e["item"]["id"] for e in added]
    assert [e["previous_item_id"] for e in added] == [None, *ids[:-1]]  # replies are in the chain
    committed = of(client, "input_audio_buffer.committed")[0]
    assert committed["item_id"] == ids[0] and committed["previous_item_id"] is None
    usage = of(client, "response.done")[0]["response"]["usage"]  # the fake counts words as tokens
    assert usage["output_tokens"] == 6  # "Rome is the capital of Italy."
    assert (
        usage["input_tokens"] > 0 and usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    )
    done = {e["item"]["id"]: e["item"] for e in of(client, "conversation.item.done")}
    assert set(done) == set(ids)
    assert done[ids[1]]["status"] == "completed"
    assert done[ids[1]]["content"][0]["transcript"] == "Rome is the capital of Italy."


def test_items_can_be_retrieved_with_what_was_said_and_heard() -> None:
    async def go() -> Client:
        client = Client()
        await speak(client)
        await client.until("response.done")
        await client.until("conversation.item.input_audio_transcription.completed")
        user, reply = (e["item"]["id"] for e in of(client, "conversation.item.added"))
        for item_id in (user, reply, "item_nope"):
            await client.send("conversation.item.retrieve", item_id=item_id)
        await client.until("error")
        await client.connection.close()
        return client

    client = asyncio.run(go())
    assert not client.invalid
    user, reply = (e["item"] for e in of(client, "conversation.item.retrieved"))
    assert user["role"] == "user" and user["content"][0]["transcript"] == SCRIPT[0]
    assert (
        reply["role"] == "assistant" and reply["content"][0]["transcript"] == "Rome is the capital of Italy."
    )
    [error] = client.errors()
    assert (
        error["code"] == "item_not_found" and error["param"] == "item_id" and "item_nope" in error["message"]
    )


def test_a_deleted_exchange_leaves_what_the_model_reads_and_can_no_longer_be_retrieved() -> None:
    llm = FakeLLM(reply="Nice to meet you.")

    async def go() -> Client:
        client = Client(llm=llm)
        await client.ask("My name is Ada.")
        await client.until("response.done")
        for event in of(client, "conversation.item.added"):
            await client.send("conversation.item.delete", item_id=event["item"]["id"])
        await client.until("conversation.item.deleted", 2)
        await client.ask("What is my name?")
        await client.until("response.done", 2)
        await client.send(
            "conversation.item.retrieve", item_id=of(client, "conversation.item.added")[0]["item"]["id"]
        )
        await client.until("error")
        await client.connection.close()
        return client

    client = asyncio.run(go())
    assert not client.invalid
    assert [m["content"] for m in llm.calls[-1] if m["role"] != "system"] == ["What is my name?"]
    assert [e["error"]["code"] for e in of(client, "error")] == ["item_not_found"]
    third = of(client, "conversation.item.added")[2]
    assert third["previous_item_id"] is None  # the items before it are gone


def test_a_deleted_item_waiting_for_a_response_is_not_answered() -> None:
    llm = FakeLLM(reply="Sure.")

    async def go() -> Client:
        client = Client(llm=llm)
        await client.send("conversation.item.create", item=user_item("Ignore me.", "item_a"))
        await client.send("conversation.item.create", item=user_item("Say hi.", "item_b"))
        await client.send("conversation.item.create", item=user_item("Again.", "item_b"))  # a duplicate id
        await client.send("conversation.item.delete", item_id="item_a")
        await client.send("response.create")
        await client.until("response.done")
        await client.connection.close()
        return client

    client = asyncio.run(go())
    assert llm.calls[-1][-1]["content"] == "Say hi."
    [error] = client.errors()
    assert error["param"] == "item.id" and "already exists" in error["message"]


def test_a_response_without_new_input_answers_from_the_conversation() -> None:
    """Once the reply was deleted (regenerate), as OpenAI's does; right after a reply it is
    refused with the reason (found by probing: llama.cpp took the reply as one to go on writing,
    which gave empty responses and then "Cannot have 2 or more assistant messages")."""
    llm = FakeLLM(reply="Rome.")

    async def go() -> Client:
        client = Client(llm=llm)
        await client.send("response.create", event_id="early")  # nothing in the conversation yet
        await client.until("error")
        await client.ask("What is the capital of Italy?")
        await client.until("response.done")
        await client.send("response.create", event_id="after_reply")  # llama.cpp would go on writing it
        await client.until("error", 2)
        reply = of(client, "conversation.item.added")[-1]["item"]["id"]
        await client.send("conversation.item.delete", item_id=reply)
        await client.until("conversation.item.deleted")
        await client.send("response.create")
        await client.until("response.done", 2)
        await client.connection.close()
        return client

    client = asyncio.run(go())
    assert not client.invalid
    early, after_reply = client.errors()
    assert early["code"] == "no_input" and early["event_id"] == "early"
    assert after_reply["code"] == "no_input" and "ends with the assistant's reply" in after_reply["message"]
    assert [e["response"]["status"] for e in of(client, "response.done")] == ["completed", "completed"]
    assert [m["role"] for m in llm.calls[-1]] == ["system", "user"]  # asked again, the reply gone
    assert llm.calls[-1][-1]["content"] == "What is the capital of Italy?"


def test_a_responses_metadata_comes_back_and_a_clients_cancel_says_so() -> None:
    async def go() -> Client:
        client = Client("word " * 40)
        item = user_item("Talk.")
        await client.send("conversation.item.create", item=item)
        await client.send("response.create", response={"metadata": {"tag": "t1"}})
        await client.until("response.done")
        await client.send("conversation.item.create", item=item)
        await client.send("response.create", response={"metadata": {"tag": 5}})
        await client.until("error")
        heard = len(of(client, "response.output_audio.delta"))
        await client.send("response.create")
        await client.until("response.output_audio.delta", heard + 1)
        await client.send("response.cancel")
        await client.until("response.done", 2)
        await client.send("conversation.item.create", item=item)
        await client.send("response.create")
        await client.send("response.cancel")  # before it has started
        await client.until("response.done", 3)
        await client.connection.close()
        return client

    client = asyncio.run(go())
    assert not client.invalid
    first, second, third = (e["response"] for e in of(client, "response.done"))
    assert first["metadata"] == {"tag": "t1"} and first["conversation_id"].startswith("conv")
    assert "metadata" in client.errors()[0]["param"]
    assert second["status"] == "cancelled" and second["status_details"]["reason"] == "client_cancelled"
    assert "first_audio_ms" in second["metadata"]  # without the client's own: the turn's timings
    assert third["status"] == "cancelled" and third["status_details"]["reason"] == "client_cancelled"


def test_webrtc_reports_its_output_buffer_and_a_clients_clear_cuts_the_reply() -> None:
    """Found by probing: output_audio_buffer.clear, which OpenAI's WebRTC clients send to cut
    playback, was an unknown event, and no output_audio_buffer event was ever sent."""
    track: list[Any] = []
    cuts: list[int] = []

    def reply(messages: Any) -> str:
        return "word " * 60 if messages[-1]["content"] == "Talk." else "Hi there."

    async def go() -> tuple[Client, Client]:
        client = Client()
        engine = fake_engine(llm=FakeLLM(reply=reply))
        client.connection = RealtimeConnection(
            engine, client._receive, audio_out=track.append, audio_clear=lambda: cuts.append(1)
        )
        await client.ask("Hello.")
        await client.until("output_audio_buffer.stopped")
        await client.ask("Talk.")
        await client.until("output_audio_buffer.started", 2)
        await client.send("output_audio_buffer.clear")
        await client.until("response.done", 2)
        await client.connection.close()
        websocket = Client()
        await websocket.send("output_audio_buffer.clear")
        await websocket.until("error")
        await websocket.connection.close()
        return client, websocket

    client, websocket = asyncio.run(go())
    assert not client.invalid and not client.errors() and track and cuts
    first, second = (e["response"] for e in of(client, "response.done"))
    buffer = [
        (e["type"].rsplit(".", 1)[1], e["response_id"])
        for e in client.sent
        if e["type"].startswith("output_audio_buffer")
    ]
    assert buffer == [
        ("started", first["id"]),
        ("stopped", first["id"]),
        ("started", second["id"]),
        ("cleared", second["id"]),
    ]
    assert second["status"] == "cancelled" and second["status_details"]["reason"] == "client_cancelled"
    assert not of(client, "response.output_audio.delta")  # the audio went to the media track
    [error] = websocket.errors()
    assert "WebRTC" in error["message"] and error["param"] == "type"


def test_turn_detection_switched_off_mid_utterance_keeps_its_speech_and_its_item() -> None:
    """Found by probing: the utterance's speech_started never got speech_stopped, and the commit
    made a new item from the second half alone ("Solar system.")."""

    async def go() -> Client:
        client = Client()
        first = tone(0, 0.6, rate=PCM_RATE)  # the longer half: a commit of both reads as it
        for i in range(0, first.size, 2400):
            await client.send("input_audio_buffer.append", audio=b64(first[i : i + 2400]))
            await asyncio.sleep(0.02)
        await client.until("input_audio_buffer.speech_started")
        await client.send("session.update", session={"audio": {"input": {"turn_detection": None}}})
        await client.send("input_audio_buffer.append", audio=b64(tone(1, 0.3, rate=PCM_RATE)))
        await client.send("input_audio_buffer.commit")
        await client.until("conversation.item.input_audio_transcription.completed")
        await client.connection.close()
        return client

    client = asyncio.run(go())
    assert not client.invalid and not client.errors()
    [started] = of(client, "input_audio_buffer.speech_started")
    [stopped] = of(client, "input_audio_buffer.speech_stopped")
    [committed] = of(client, "input_audio_buffer.committed")
    [heard] = of(client, "conversation.item.input_audio_transcription.completed")
    assert started["item_id"] == stopped["item_id"] == committed["item_id"] == heard["item_id"]
    assert heard["transcript"] == SCRIPT[0] and heard["usage"]["seconds"] >= 0.8


def test_a_restored_conversation_and_a_spoken_item_reach_the_model_in_order() -> None:
    """Found by probing: system and assistant items and input_audio content were refused, and
    a part the server cannot read (an image) was dropped without a word."""
    llm = FakeLLM(reply="Ada.")

    def message(role: str, kind: str, text: str) -> dict[str, Any]:
        return {"type": "message", "role": role, "content": [{"type": kind, "text": text}]}

    async def go() -> Client:
        client = Client(llm=llm)
        await client.send("conversation.item.create", item=message("user", "input_text", "My name is Ada."))
        await client.send("conversation.item.create", item=message("assistant", "output_text", "Hello, Ada."))
        await client.send("conversation.item.create", item=message("system", "input_text", "Be brief."))
        spoken = {"type": "input_audio", "audio": b64(tone(0, 0.8, rate=PCM_RATE))}
        await client.send(
            "conversation.item.create", item={"type": "message", "role": "user", "content": [spoken]}
        )
        await client.send("response.create")
        await client.until("response.done")
        for bad in (
            {"type": "message", "role": "user", "content": [{"type": "input_image", "image_url": "x"}]},
            message("developer", "input_text", "x"),
            {"type": "message", "role": "user", "content": [{"type": "input_audio", "audio": "%%"}]},
        ):
            await client.send("conversation.item.create", item=bad)
        await client.until("error", 3)
        await client.connection.close()
        return client

    client = asyncio.run(go())
    assert not client.invalid
    asked = [(m["role"], m["content"]) for m in llm.calls[-1][1:]]
    assert asked == [
        ("user", "My name is Ada."),
        ("assistant", "Hello, Ada."),
        ("system", "Be brief."),
        ("user", SCRIPT[0]),
    ]
    [heard] = of(client, "conversation.item.input_audio_transcription.completed")
    assert (
        heard["transcript"] == SCRIPT[0]
        and heard["item_id"] == of(client, "conversation.item.added")[3]["item"]["id"]
    )
    assert [e["param"] for e in client.errors()] == [
        "item.content[0].type",
        "item.role",
        "item.content[0].audio",
    ]


def test_an_item_goes_at_the_end_or_is_refused() -> None:
    """Found by probing: a previous_item_id naming no item, or one in the middle, was ignored."""

    async def go() -> Client:
        client = Client()
        await client.send("conversation.item.create", previous_item_id="root", item=user_item("One.", "a"))
        await client.send("conversation.item.create", previous_item_id="a", item=user_item("Two.", "b"))
        await client.send("conversation.item.create", item=user_item("Three.", "c"))
        for previous in ("nonexistent", "a", "root", 7):
            await client.send("conversation.item.create", previous_item_id=previous, item=user_item("No."))
        await client.until("error", 4)
        await client.connection.close()
        return client

    client = asyncio.run(go())
    assert [e["item"]["id"] for e in of(client, "conversation.item.added")] == ["a", "b", "c"]
    codes = [(e["code"], e["param"]) for e in client.errors()]
    assert codes == [("item_not_found", "previous_item_id")] + [("invalid_value", "previous_item_id")] * 3
