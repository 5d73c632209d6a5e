"""Abuse found by probing the server at stop 23, replayed by the soak: bodies no model can take
(each must be a 400, not a 500) and a burst of `response.create` (each response must end)."""

from __future__ import annotations

import asyncio
import json

import aiohttp

from rejoinder.soak.abuse import Outcome, Probe, post_and_check
from rejoinder.soak.voice import next_event, open_session

BURST = 10


async def deep_json(client: aiohttp.ClientSession, base: str) -> Outcome:
    headers = {"Content-Type": "application/json"}
    url = base + "/v1/chat/completions"
    return await post_and_check(client, url, {400}, "http:deep-json", data="[" * 100_000, headers=headers)


async def surrogate_text(client: aiohttp.ClientSession, base: str) -> Outcome:
    body = '{"messages": [{"role": "user", "content": "\\ud800 hi"}]}'
    headers = {"Content-Type": "application/json"}
    return await post_and_check(
        client, base + "/v1/chat/completions", {400}, "http:surrogate", data=body, headers=headers
    )


async def bad_multipart(client: aiohttp.ClientSession, base: str) -> Outcome:
    headers = {"Content-Type": "multipart/form-data; boundary=zzz"}
    url = base + "/v1/audio/transcriptions"
    return await post_and_check(
        client, url, {400}, "http:multipart-no-boundary", data="--x\r\n\r\n", headers=headers
    )


async def response_burst(client: aiohttp.ClientSession, base: str) -> Outcome:
    """BURST pairs of a user item and `response.create` at once: every response must get its
    `response.done`, in order, and all but the last must be cancelled, not queued."""
    kind = "ws:response-burst"
    ws = await open_session(client, base)
    try:
        item = {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "Count to ten."}],
        }
        for _ in range(BURST):
            await ws.send_str(json.dumps({"type": "conversation.item.create", "item": item}))
            await ws.send_str(json.dumps({"type": "response.create"}))
        created: list[str] = []
        done: list[tuple[str, str]] = []

        async def until_done() -> None:
            while len(done) < BURST:
                event = await next_event(ws)
                if event["type"] == "response.created":
                    created.append(event["response"]["id"])
                elif event["type"] == "response.done":
                    done.append((event["response"]["id"], event["response"]["status"]))

        await asyncio.wait_for(until_done(), 90)  # not asyncio.timeout: Python 3.10 is supported
    except (asyncio.TimeoutError, ConnectionError, RuntimeError) as exc:
        return Outcome(kind, False, f"{type(exc).__name__} after {len(done)}/{BURST} response.done")
    finally:
        await ws.close()
    statuses = [status for _, status in done]
    ok = [i for i, _ in done] == created and statuses[:-1] == ["cancelled"] * (BURST - 1)
    return Outcome(kind, ok, "" if ok else f"done {statuses}")


PROBES: list[Probe] = [deep_json, surrogate_text, bad_multipart, response_burst]
