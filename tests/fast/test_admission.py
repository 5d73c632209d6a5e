"""Admission control on fake stages: the server knows its capacity and load, reports both, and
refuses past capacity with a clear answer on either way in, while admitted sessions keep talking."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest

from fake_engine import fake_engine
from rejoinder.audio import PCM_RATE, SAMPLE_RATE, resample, to_pcm16
from rejoinder.backends.fake import silence, tone
from rejoinder.errors import BadInputError
from rejoinder.server.capacity import Capacity, from_ramp_file, resolve
from server_helpers import connect, running_server
from test_cli import cli


async def ask(ws: Any, utterance: int = 0, timeout: float = 20) -> tuple[str, int]:
    """Speak fake utterance `utterance` (a tone) in real time; the reply's transcript and audio
    bytes (of a response that completed: anything else fails with the events seen)."""
    audio = resample(np.concatenate([tone(utterance, 0.8), silence(0.8)]), SAMPLE_RATE, PCM_RATE)
    step = PCM_RATE // 10
    for i in range(0, audio.size, step):
        chunk = base64.b64encode(to_pcm16(audio[i : i + step])).decode()
        await ws.send_str(json.dumps({"type": "input_audio_buffer.append", "audio": chunk}))
        await asyncio.sleep(0.1)
    audio_bytes, text, seen = 0, "", []
    async with asyncio.timeout(timeout):
        async for msg in ws:
            event = json.loads(msg.data)
            seen.append(event["type"])
            if event["type"] == "response.output_audio.delta":
                audio_bytes += len(base64.b64decode(event["delta"]))
            elif event["type"] == "response.output_audio_transcript.done":
                text = event["transcript"]
            elif event["type"] == "response.done":
                assert event["response"]["status"] == "completed", (event["response"], seen)
                return text, audio_bytes
            elif event["type"] == "error":
                raise AssertionError(event)
    raise AssertionError(f"socket closed before response.done: {seen}")


async def refused_over_socket(base: str, client: aiohttp.ClientSession) -> tuple[dict[str, Any], int | None]:
    ws = await connect(base, client)
    event = json.loads((await ws.receive()).data)
    await ws.receive()  # the close frame
    return event, ws.close_code


def test_health_and_metrics_report_capacity_and_load_and_the_next_session_is_refused() -> None:
    async def go(base: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        async with aiohttp.ClientSession() as client:
            async with client.get(base + "/health") as r:
                out["idle"] = await r.json()
            first = await connect(base, client)
            second = await connect(base, client)
            await asyncio.sleep(0.1)
            async with client.get(base + "/health") as r:
                out["full"] = await r.json()
            start = time.perf_counter()
            out["ws_event"], out["ws_close"] = await refused_over_socket(base, client)
            out["ws_ms"] = (time.perf_counter() - start) * 1000
            async with client.post(base + "/v1/realtime/calls", data="v=0") as r:
                out["rtc"] = (r.status, r.headers.get("Retry-After"), await r.json())
            out["answer"] = await ask(first)  # the admitted sessions are served as before
            async with client.get(base + "/metrics") as r:
                out["metrics"] = await r.text()
            await first.close()
            await second.close()
        return out

    with running_server(fake_engine(), capacity=Capacity(2, "configured")) as base:
        out = asyncio.run(go(base))
    idle, full = out["idle"], out["full"]
    assert (idle["capacity"], idle["capacity_source"], idle["load"], idle["at_capacity"]) == (
        2,
        "configured",
        0.0,
        False,
    )
    assert (full["sessions"], full["load"], full["at_capacity"]) == (2, 1.0, True)
    assert out["ws_event"]["type"] == "error" and out["ws_close"] == 1013
    assert out["ws_event"]["error"]["code"] == "server_at_capacity"
    assert "at capacity (2 live sessions)" in out["ws_event"]["error"]["message"]
    status, retry, body = out["rtc"]
    assert (status, retry, body["error"]["code"]) == (503, "5", "server_at_capacity")
    text, audio_bytes = out["answer"]
    assert text.startswith("Rome") and audio_bytes > 0
    assert "rejoinder_capacity_sessions 2.0" in out["metrics"]
    assert "rejoinder_sessions_rejected_total 2.0" in out["metrics"]
    print(f"refused over the socket in {out['ws_ms']:.1f} ms")


def test_capacity_comes_from_the_ramp_json_or_the_option(tmp_path: Path) -> None:
    ramp = tmp_path / "ramp.json"
    ramp.write_text(json.dumps({"bound_ms": 1000.0, "capacity": 6, "stopped": "...", "levels": []}))
    assert from_ramp_file(ramp) == Capacity(6, "measured", 1000.0)
    assert resolve(3, None, 4) == Capacity(3, "configured")
    assert resolve(None, None, 4) == Capacity(4, "max_sessions")
    with pytest.raises(BadInputError, match="not both"):
        resolve(3, ramp, 4)
    ramp.write_text(json.dumps({"bound_ms": 1000.0, "capacity": 0}))
    with pytest.raises(BadInputError, match="no capacity"):
        from_ramp_file(ramp)
    (tmp_path / "junk.json").write_text("{")
    result = cli("serve", "--capacity-from", tmp_path / "junk.json")
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().startswith("rejoinder: error:") and "bench --ramp --json" in result.stderr
