"""conversation.item.truncate: a client that stopped playing a reply early tells the server how
much it played, and only those words stay in the chat history."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from rejoinder.engine import Engine
from rejoinder.transports.realtime import RealtimeConnection


def test_item_truncate_keeps_only_what_the_client_played(engine: Engine) -> None:
    async def go() -> None:
        sent: list[dict[str, Any]] = []

        async def send(event: dict[str, Any]) -> None:
            sent.append(event)

        async def until(kind: str) -> dict[str, Any]:
            async with asyncio.timeout(60):
                while not (found := [e for e in sent if e["type"] == kind]):
                    await asyncio.sleep(0.05)
            sent.remove(found[0])
            return found[0]

        conn = RealtimeConnection(engine, send)
        instructions = "Explain things in detail, in several sentences."
        await conn.handle(
            json.dumps(
                {"type": "session.update", "session": {"instructions": instructions, "max_output_tokens": 32}}
            )
        )
        item = {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "Why is the sky blue?"}],
        }
        await conn.handle(json.dumps({"type": "conversation.item.create", "item": item}))
        await conn.handle(json.dumps({"type": "response.create"}))
        done = await until("response.done")
        assert done["response"]["status"] == "completed"
        item_id = done["response"]["output"][0]["id"]
        said = conn.session.history[-1]["content"]
        assert len(said.split()) > 8, said

        await conn.handle(
            json.dumps({"type": "conversation.item.truncate", "item_id": item_id, "audio_end_ms": 1200})
        )
        truncated = await until("conversation.item.truncated")
        assert (truncated["item_id"], truncated["audio_end_ms"]) == (item_id, 1200)
        kept = conn.session.history[-1]
        print(f"said: {said!r}\nkept after 1.2 s: {kept['content']!r}")
        assert kept["role"] == "assistant" and said.startswith(kept["content"])
        assert 0 < len(kept["content"].split()) < 8  # about three words a second
        assert conn.session.reports[-1].reply == kept["content"]

        # Truncating later than before (within the audio) never brings words back; past the end of
        # the item's audio, and other bad requests, are errors.
        produced_ms = round(conn.responses.output.log.audio_s(conn.session.reports[-1].index) * 1000)
        assert produced_ms > 2400, produced_ms
        await conn.handle(
            json.dumps({"type": "conversation.item.truncate", "item_id": item_id, "audio_end_ms": 2400})
        )
        await until("conversation.item.truncated")
        assert conn.session.history[-1] == kept
        for bad, code in [
            ({"item_id": item_id, "audio_end_ms": produced_ms + 1000}, "invalid_value"),
            ({"item_id": "item_nope", "audio_end_ms": 10}, "item_not_found"),
            ({"item_id": item_id, "audio_end_ms": -1}, "invalid_value"),
            ({"item_id": item_id, "audio_end_ms": "10"}, "invalid_value"),
            ({"item_id": item_id, "content_index": 2, "audio_end_ms": 10}, "invalid_value"),
        ]:
            await conn.handle(json.dumps({"type": "conversation.item.truncate", **bad}))
            assert (await until("error"))["error"]["code"] == code, bad
        await conn.close()

    asyncio.run(go())
