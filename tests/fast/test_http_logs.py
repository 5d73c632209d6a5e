"""What a malformed HTTP request leaves in the server's log (found by probing: aiohttp logged each
one as "Error handling request" with a raw traceback through Python's last-resort handler, which
quoted the bad header line and so the API key in it, past the project's redaction)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
KEY = "sk-live-probe-SECRET-0042"

SERVER = textwrap.dedent(
    """
    import asyncio, socket, sys
    from aiohttp import web
    from rejoinder import logs

    logs.setup(sys.argv[1], sys.argv[2])
    logs.protect_secrets(sys.argv[3])

    async def fail(request):
        raise RuntimeError("a bug in a handler, Bearer " + sys.argv[3])

    async def main():
        app = web.Application()
        app.router.add_get("/bug", fail)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        key = sys.argv[3].encode()
        for raw in [
            b"GET / HTTP/1.1\\r\\nHost: localhost\\r\\nAuthorization: Bearer " + key + b"\\x01\\r\\n\\r\\n",
            b"GET / HTTP/1.1\\r\\nHost: x\\r\\nSec-WebSocket-Protocol: openai-insecure-api-key."
            + key + b"\\x7f\\r\\n\\r\\n",
            b"GET /?api_key=" + key + b"\\x01 HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n",
            b"GET / HTTP/1.1\\r\\n\\r\\n",
            b"GET /bug HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n",
        ]:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(raw)
            await writer.drain()
            await reader.read()
            writer.close()
        await runner.cleanup()

    asyncio.run(main())
    """
)


def serve_and_probe(tmp_path: Path, level: str) -> tuple[str, subprocess.CompletedProcess[str]]:
    log = tmp_path / "server.log"
    done = subprocess.run(
        [sys.executable, "-c", SERVER, level, str(log), KEY],
        capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(SRC)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return log.read_text(), done


def test_malformed_requests_are_one_info_line_each_without_the_key(tmp_path: Path) -> None:
    text, done = serve_and_probe(tmp_path, "info")
    assert KEY not in text + done.stderr + done.stdout
    records = [json.loads(line) for line in text.splitlines()]  # every line is a JSON record
    bad = [r for r in records if r["event"].startswith("bad HTTP request: 400")]
    assert len(bad) == 4 and all(r["level"] == "info" and "exc" not in r for r in bad), bad
    assert any("Missing 'Host' header" in r["event"] for r in bad)
    # a server bug is still an error with its traceback, scrubbed
    (bug,) = [r for r in records if r["level"] == "error"]
    assert "RuntimeError: a bug in a handler, Bearer [redacted]" in bug["exc"]


def test_at_warning_level_a_client_mistake_is_not_logged(tmp_path: Path) -> None:
    text, _ = serve_and_probe(tmp_path, "warning")
    records = [json.loads(line) for line in text.splitlines()]
    assert [r["level"] for r in records] == ["error"] and KEY not in text
