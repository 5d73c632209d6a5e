"""Routes an OpenAI client may call that the server does not serve answer OpenAI-style JSON, and
every model /v1/models lists can be retrieved. Found by probing with the openai SDK: unknown
paths and wrong methods got aiohttp's text/plain "404: Not Found" / "405: Method Not Allowed",
`/v1/audio/translations` too, and `models.retrieve` was a 404 for every listed id."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from fake_engine import fake_engine
from server_helpers import running_server

Answer = tuple[int, Any, str]


async def ask(base: str, requests: list[tuple[str, str]], key: str | None = None) -> list[Answer]:
    """(status, JSON body or None, Allow header) for each (method, path)."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    out = []
    async with aiohttp.ClientSession(headers=headers) as client:
        for method, path in requests:
            async with client.request(method, base + path) as r:
                body = await r.json() if r.content_type == "application/json" else None
                out.append((r.status, body, r.headers.get("Allow", "")))
    return out


def test_unknown_routes_and_wrong_methods_get_openai_error_bodies() -> None:
    requests = [
        ("GET", "/v1/nope"),
        ("POST", "/v1/embeddings"),
        ("POST", "/v1/audio/translations"),
        ("GET", "/v1/chat/completions"),
        ("DELETE", "/v1/models"),
    ]
    with running_server(fake_engine()) as base:
        answers = asyncio.run(ask(base, requests))
    for (_, path), (status, body, _) in zip(requests, answers, strict=True):
        assert body is not None and set(body["error"]) >= {"message", "type", "code", "param"}, (path, status)
        assert path in body["error"]["message"], body
    assert [a[0] for a in answers] == [404, 404, 404, 405, 405]
    assert "/v1/audio/transcriptions" in answers[2][1]["error"]["message"]  # what to use instead
    assert answers[3][2] == "POST" and "use POST" in answers[3][1]["error"]["message"]


def test_every_listed_model_can_be_retrieved_and_an_unknown_one_is_a_json_404() -> None:
    async def go(base: str) -> tuple[list[str], list[tuple[int, Any, str]]]:
        async with aiohttp.ClientSession() as client, client.get(base + "/v1/models") as r:
            ids = [m["id"] for m in (await r.json())["data"]]
        return ids, await ask(base, [("GET", f"/v1/models/{i}") for i in ids] + [("GET", "/v1/models/gpt-9")])

    with running_server(fake_engine()) as base:
        ids, answers = asyncio.run(go(base))
    assert len(ids) >= 2
    for name, (status, body, _) in zip(ids, answers, strict=False):
        assert status == 200 and body == {
            "id": name,
            "object": "model",
            "created": 0,
            "owned_by": "rejoinder",
        }
    status, body, _ = answers[-1]
    error = body["error"]
    assert status == 404 and error["code"] == "model_not_found" and "gpt-9" in error["message"]
    assert error["param"] == "model"


def test_with_a_key_an_unknown_route_is_401_first_and_the_page_still_serves() -> None:
    with running_server(fake_engine(), api_key="sekrit") as base:
        no_key = asyncio.run(ask(base, [("GET", "/v1/nope"), ("GET", "/v1/models/x")]))
        keyed = asyncio.run(ask(base, [("GET", "/v1/nope")], key="sekrit"))
        page = asyncio.run(ask(base, [("GET", "/")]))
    assert [s for s, _, _ in no_key] == [401, 401]
    assert keyed[0][0] == 404 and json.dumps(keyed[0][1]).find("sekrit") < 0
    assert page[0][0] == 200
