"""Peak memory of `rejoinder serve` with both LLM tiers loaded and answering.

Starts the server as a child process (default settings: routing on, SmolLM2 + Qwen2.5-Coder-1.5B),
asks the bundled spoken questions over the Realtime WebSocket, one after another in one
conversation, then reads the server's peak resident set size (VmHWM) from /proc.

Run: .venv/bin/python benchmarks/serve_rss.py [--port 8765]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import numpy as np

from rejoinder.audio import read_audio, resample, to_pcm16

SAMPLES = Path(__file__).resolve().parent.parent / "src" / "rejoinder" / "data" / "samples"


def memory_kb(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            fields[key] = int(value.split()[0])
    return fields


async def ask_all(port: int, names: list[str]) -> list[tuple[str, str]]:
    answers = []
    async with aiohttp.ClientSession() as client:
        ws = await client.ws_connect(f"ws://127.0.0.1:{port}/v1/realtime?model=rejoinder")
        for name in names:
            audio = resample(read_audio(SAMPLES / f"{name}.wav"), 16_000, 24_000)
            audio = np.concatenate([audio, np.zeros(24_000, np.float32)])
            for i in range(0, audio.size, 2400):
                chunk = base64.b64encode(to_pcm16(audio[i : i + 2400])).decode()
                await ws.send_str(json.dumps({"type": "input_audio_buffer.append", "audio": chunk}))
            transcript, reply = "", ""
            async with asyncio.timeout(120):
                async for msg in ws:
                    event = json.loads(msg.data)
                    if event["type"] == "conversation.item.input_audio_transcription.completed":
                        transcript = event.get("transcript", "")
                    if event["type"] == "response.done":
                        output = event["response"].get("output") or [{}]
                        content = output[0].get("content") or [{}]
                        reply = content[0].get("transcript", "")
                        tier = event["response"].get("metadata", {}).get("route_tier", "-")
                        reply = f"[{tier}] {reply}"
                        break
            answers.append((transcript, reply))
        await ws.close()
    return answers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    server = subprocess.Popen(
        [sys.executable, "-m", "rejoinder", "serve", "--port", str(args.port), "--log-level", "warning"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stderr is not None
        t0 = time.perf_counter()
        for line in server.stderr:
            if "listening on" in line:
                break
        while True:  # the line comes just before the socket is bound
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", args.port)) == 0:
                    break
            time.sleep(0.1)
        loaded = memory_kb(server.pid)
        print(f"loaded in {time.perf_counter() - t0:.1f} s: {loaded}", flush=True)
        names = ["hello", "capital_of_italy", "sky_blue", "spider_legs", "water_boil", "largest_planet"]
        for transcript, reply in asyncio.run(ask_all(args.port, names)):
            print(f"  {transcript!r} -> {reply[:80]!r}")
        after = memory_kb(server.pid)
        print(
            f"after {len(names)} turns: VmRSS {after['VmRSS'] // 1024} MB, "
            f"peak VmHWM {after['VmHWM'] // 1024} MB"
        )
    finally:
        server.terminate()
        server.wait(30)


if __name__ == "__main__":
    main()
