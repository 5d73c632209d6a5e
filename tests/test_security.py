"""Cross-site use, DNS rebinding and API keys in logs: what a hostile web page or log reader gets."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import aiohttp
import pytest

from rejoinder import logs
from rejoinder.engine import Engine
from rejoinder.errors import BadInputError
from rejoinder.server.security import SecuritySettings, checked_api_key, origin_allowed, settings_from_options
from server_helpers import connect, events_until, running_server
from test_cli import assert_one_line_error, cli

EVIL = "http://evil.example"


@pytest.fixture(scope="module")
def server(engine: Engine):  # type: ignore[no-untyped-def]
    with running_server(engine, max_sessions=8) as base:
        yield base


async def ws_status(base: str, headers: dict[str, str], **kwargs: Any) -> int:
    """101 if the WebSocket opened (and got session.created), else the HTTP status."""
    async with aiohttp.ClientSession() as client:
        try:
            ws = await connect(base, client, headers=headers, **kwargs)
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status
        await events_until(ws, "session.created", timeout=10)
        await ws.close()
        return 101


async def sessions(base: str) -> int:
    async with aiohttp.ClientSession() as client, client.get(base + "/health") as r:
        return int((await r.json())["sessions"])


def test_websockets_only_from_the_own_page_or_clients_without_origin(server: str) -> None:
    port = server.rsplit(":", 1)[1]

    async def go() -> list[int]:
        return [
            await ws_status(server, {}),  # SDKs, curl: no Origin
            await ws_status(server, {"Origin": server}),  # the server's own page
            await ws_status(server, {"Origin": f"http://localhost:{port}", "Host": f"localhost:{port}"}),
            await ws_status(server, {"Origin": EVIL}),
            await ws_status(server, {"Origin": f"http://127.0.0.1:{int(port) + 1}"}),  # another local port
            await ws_status(server, {"Origin": "null"}),  # sandboxed frame, file:// page
        ]

    assert asyncio.run(go()) == [101, 101, 101, 403, 403, 403]


def test_listed_origins_are_allowed(engine: Engine) -> None:
    settings = SecuritySettings(allow_origins=("https://app.example:8443",))
    with running_server(engine, security=settings) as base:
        results = [
            asyncio.run(ws_status(base, {"Origin": "https://APP.example:8443"})),
            asyncio.run(ws_status(base, {"Origin": "https://app.example"})),
        ]
    assert results == [101, 403]
    with running_server(engine, security=SecuritySettings(allow_origins=("*",))) as base:
        assert asyncio.run(ws_status(base, {"Origin": EVIL})) == 101


def test_cross_site_posts_create_no_session(server: str) -> None:
    """A page elsewhere posting text/plain or a form (no preflight) to the call route or a model endpoint."""

    async def go() -> tuple[list[int], int, int]:
        before = await sessions(server)
        statuses = []
        async with aiohttp.ClientSession() as client:
            for path, headers, body in [
                ("/v1/realtime/calls", {"Origin": EVIL, "Content-Type": "text/plain"}, "v=0\r\n"),
                ("/v1/realtime/calls", {"Sec-Fetch-Site": "cross-site", "Content-Type": "text/plain"}, "v=0"),
                (
                    "/v1/chat/completions",
                    {"Origin": EVIL, "Content-Type": "application/x-www-form-urlencoded"},
                    "messages=hi",
                ),
                ("/v1/audio/speech", {"Origin": EVIL, "Content-Type": "text/plain"}, '{"input": "hi"}'),
            ]:
                async with client.post(server + path, data=body, headers=headers) as r:
                    statuses.append(r.status)
                    assert (await r.json())["error"]["code"] == "origin_not_allowed"
            async with client.get(server + "/health", headers={"Origin": EVIL}) as r:
                read_only = r.status  # reading needs CORS, which the server never grants
        return statuses, await sessions(server) - before, read_only

    statuses, new_sessions, read_only = asyncio.run(go())
    assert statuses == [403, 403, 403, 403]
    assert new_sessions == 0 and read_only == 200


def test_dns_rebinding_host_names_are_refused_on_loopback(server: str) -> None:
    port = server.rsplit(":", 1)[1]

    async def status(host: str) -> int:
        async with (
            aiohttp.ClientSession() as client,
            client.get(server + "/health", headers={"Host": host}) as r,
        ):
            return r.status

    async def go() -> list[int]:
        return [
            await status(f"127.0.0.1:{port}"),
            await status(f"localhost:{port}"),
            await status(f"[::1]:{port}"),
            await status("127.4.5.6"),
            await status(f"evil.example:{port}"),
            await status("rebind.attacker.net"),
        ]

    assert asyncio.run(go()) == [200, 200, 200, 200, 403, 403]
    assert (
        asyncio.run(
            ws_status(server, {"Host": f"evil.example:{port}", "Origin": f"http://evil.example:{port}"})
        )
        == 403
    )


def test_allow_host_and_public_binds(engine: Engine) -> None:
    async def status(base: str, host: str) -> int:
        async with (
            aiohttp.ClientSession() as client,
            client.get(base + "/health", headers={"Host": host}) as r,
        ):
            return r.status

    listed = SecuritySettings(allow_hosts=("voice.lan",))
    with running_server(engine, security=listed) as base:
        assert asyncio.run(status(base, "voice.lan:8000")) == 200
        assert asyncio.run(status(base, "other.lan")) == 403
    public = SecuritySettings(bind_host="0.0.0.0")
    with running_server(engine, security=public) as base:
        assert asyncio.run(status(base, "my-machine.example")) == 200


def test_the_api_key_never_reaches_the_logs(engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    key = "sk-very-secret-0123456789"
    caplog.set_level(logging.DEBUG)
    formatter = logs.JsonFormatter()

    async def go(base: str) -> tuple[int, int, dict[str, Any]]:
        # a browser-style client offering the key only as a subprotocol (aiohttp warns and echoes it)
        opened = await ws_status(base, {}, protocols=[f"openai-insecure-api-key.{key}"])
        async with aiohttp.ClientSession() as client, client.get(base + f"/v1/models?api_key={key}") as r:
            in_url, body = r.status, await r.json()
        return opened, in_url, body

    with running_server(engine, api_key=key) as base:
        opened, in_url, body = asyncio.run(go(base))
        logging.getLogger("rejoinder.test").warning("client sent Bearer %s", key, extra={"header": key})
    assert opened == 101  # the subprotocol form authenticates
    assert in_url == 400 and body["error"]["code"] == "api_key_in_url"
    assert key not in json.dumps(body)
    assert caplog.records, "nothing was logged: the check would prove nothing"
    assert any("openai-insecure-api-key.[redacted]" in r.getMessage() for r in caplog.records)
    for record in caplog.records:
        assert key not in record.getMessage()
        assert key not in formatter.format(record)


def test_option_values_are_checked() -> None:
    assert settings_from_options("127.0.0.1", ["https://a.example:443/", "*"], ["[::1]", "Box.lan"]) == (
        SecuritySettings(("https://a.example", "*"), ("::1", "box.lan"), "127.0.0.1")
    )
    for bad in ["a.example", "ftp://x", "https://a.example/path"]:
        with pytest.raises(BadInputError, match="--allow-origin"):
            settings_from_options("127.0.0.1", [bad], None)
    assert origin_allowed("http://localhost", "localhost:80", SecuritySettings())
    assert not origin_allowed("https://localhost", "localhost:80", SecuritySettings())
    assert_one_line_error(cli("serve", "--allow-origin", "evil"), 2, "--allow-origin")


def test_an_empty_or_unsendable_api_key_is_refused_before_anything_starts() -> None:
    """`--api-key "$KEY"` with KEY unset served everyone without a key."""
    assert checked_api_key(None) is None and checked_api_key("s3cr3t-Key_1") == "s3cr3t-Key_1"
    for bad in ["", "   ", "two words", "clé"]:
        with pytest.raises(BadInputError, match="--api-key"):
            checked_api_key(bad)
    assert_one_line_error(cli("serve", "--api-key", ""), 2, "--api-key is empty")
    assert_one_line_error(cli("serve", "--api-key", "a b"), 2, "printable ASCII")
