"""End to end in headless Chromium: the page, a fake microphone playing a recorded question, and
the agent's reply shown and played. Chromium is driven over the DevTools protocol (no extra deps)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest

from helpers import SAMPLES
from rejoinder.audio import WavWriter, read_audio
from rejoinder.engine import Engine
from server_helpers import running_server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class DevTools:
    def __init__(self, ws: Any) -> None:
        self.ws, self.next_id = ws, 0

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        await self.ws.send_str(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads((await self.ws.receive(timeout=30)).data)
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(msg["error"])
                return msg["result"]  # type: ignore[no-any-return]

    async def js(self, expression: str) -> Any:
        result = await self.call(
            "Runtime.evaluate", expression=expression, userGesture=True, awaitPromise=True, returnByValue=True
        )
        return result["result"].get("value")


def _launch(profile: Path, wav: Path) -> subprocess.Popen[bytes]:
    assert CHROMIUM, "chromium is not installed (.ci/run installs Debian's chromium)"
    return subprocess.Popen(
        [
            CHROMIUM,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-quic",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={wav}",
            "--autoplay-policy=no-user-gesture-required",
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, so _stop reaches every helper process
    )


def _stop(browser: subprocess.Popen[bytes]) -> None:
    """Stop Chromium and all its helpers: a renderer or crashpad left running keeps writing into
    the profile while the temporary directory is being removed."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(browser.pid, sig)
        except ProcessLookupError:
            break
        try:
            browser.wait(10)
        except subprocess.TimeoutExpired:
            continue
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                os.killpg(browser.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)


async def _page_session(profile: Path, base: str, mode: str, timeout_s: float = 90) -> dict[str, Any]:
    port_file = profile / "DevToolsActivePort"
    deadline = time.time() + 30
    while not port_file.exists():
        assert time.time() < deadline, "chromium did not start"
        await asyncio.sleep(0.2)
    port = port_file.read_text().split()[0]
    async with aiohttp.ClientSession() as client:
        async with client.get(f"http://127.0.0.1:{port}/json/list") as r:
            target = next(t for t in await r.json() if t["type"] == "page")
        async with client.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as ws:
            tools = DevTools(ws)
            await tools.call("Page.enable")
            await tools.call("Page.navigate", url=base + "/")
            for _ in range(100):
                if await tools.js("document.readyState === 'complete' && !!document.getElementById('talk')"):
                    break
                await asyncio.sleep(0.1)
            await tools.js(f"document.getElementById('mode').value = '{mode}'")
            await tools.js("document.getElementById('talk').click()")
            start = time.time()
            state: dict[str, Any] = {}
            while time.time() - start < timeout_s:
                state = await tools.js("""({log: document.getElementById('log').innerText,
                    status: document.getElementById('status').textContent,
                    latency: document.getElementById('latency').textContent,
                    playing: !!(document.getElementById('remote').srcObject &&
                                document.getElementById('remote').srcObject.getAudioTracks().length)})""")
                if "Agent:" in state["log"] and "first audio" in state["latency"]:
                    break
                await asyncio.sleep(0.25)
            await tools.js("document.getElementById('talk').click()")
            released = time.time()
            while True:  # Stop releases the session on the server, whatever the transport
                async with client.get(base + "/health") as r:
                    if (await r.json())["sessions"] == 0:
                        break
                assert time.time() - released < 10, "the session was not released after Stop"
                await asyncio.sleep(0.2)
            state["released_s"] = time.time() - released
            return state


@pytest.mark.parametrize("mode", ["webrtc", "websocket"])
def test_browser_talks_and_sees_the_answer(engine: Engine, mode: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "mic.wav"
        with WavWriter(wav, 16_000) as w:  # Chromium loops this file as the microphone
            w.write(read_audio(SAMPLES / "capital_of_italy.wav"))
            w.write(np.zeros(16_000 * 8, np.float32))
        profile = Path(tmp) / "profile"
        profile.mkdir()
        browser = _launch(profile, wav)
        try:
            with running_server(engine) as base:
                state = asyncio.run(_page_session(profile, base, mode))
        finally:
            _stop(browser)
    assert "capital of italy" in state["log"].lower(), state
    assert "Agent:" in state["log"] and "rome" in state["log"].lower(), state
    assert "median first audio" in state["latency"], state
    if mode == "webrtc":
        assert state["playing"], "the agent's audio track never reached the page"
    assert not state["status"].startswith("error"), state
    assert state["released_s"] < 10
