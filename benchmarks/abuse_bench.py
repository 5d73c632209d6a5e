"""Issue 13's worst single requests against a server built from a given source tree, before/after.

memory:   peak server RSS (VmHWM) around each abusive request: 31 MB of one letter and a
          20,000-character word to /v1/audio/speech, a 4,096-character word, a 600 MB upload to
          /v1/audio/transcriptions. A watchdog kills the server above --rss-cap-mb (this machine
          is shared), which is then reported as "killed at the cap".
priority: a voice turn's first audio (speech_stopped -> first audio delta, seen by a WebSocket
          client) with the models idle, while a 100,000-character /v1/audio/speech request
          streams, and while a 1,900-token chat completion streams.
llm:      the LLM alone, in one process: a voice request's first token, idle and while a
          1,900-token batch completion (an HTTP request's priority, where it exists) runs.

Run: .venv/bin/python benchmarks/abuse_bench.py memory|priority [--tree SRC] [--json]
  --tree: the `src` folder of the code under test (e.g. an export of an older commit); the
  client side always runs from this checkout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from rejoinder.bench import summarise
from rejoinder.soak.server import ServerProcess, process_vitals
from rejoinder.soak.voice import ask, bundled_questions, open_session

ROOT = Path(__file__).resolve().parent.parent
SENTENCE = "The dragon slept under the old stone bridge, dreaming of gold and of summer rain. "

SERVER = """
import sys
from aiohttp import web
from rejoinder.config import Config
from rejoinder.engine import Engine
from rejoinder.server.app import ServerSettings, create_app
port, speech_chars = int(sys.argv[1]), int(sys.argv[2])
app = create_app(Engine.load(Config()), ServerSettings(max_sessions=8))
try:
    from rejoinder.server.limits import API_LIMITS, ApiLimits
    app[API_LIMITS] = ApiLimits(speech_chars=speech_chars)
except ImportError:
    pass  # code from before the limits existed
web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)
"""


LLM_PROBE = """
import asyncio, json, time
from contextlib import nullcontext
from rejoinder.config import DEFAULT_SYSTEM_PROMPT, LLMConfig
from rejoinder.backends.llamacpp import LlamaCppLLM
from rejoinder.stages.llm import GenerationParams
try:
    from rejoinder.backends.worker import batch_priority
except ImportError:  # before priorities existed: the HTTP request's call is like any other
    batch_priority = nullcontext
llm = LlamaCppLLM(LLMConfig())
system = {"role": "system", "content": DEFAULT_SYSTEM_PROMPT}
llm.prefill([system])
questions = ["What is the capital of Italy?", "Why is the sky blue?", "How many legs does a spider have?"]
async def voice(q):
    t = time.perf_counter()
    async for _ in llm.stream([system, {"role": "user", "content": q}], GenerationParams(max_tokens=24)):
        return round((time.perf_counter() - t) * 1000)
async def batch():
    story = [{"role": "user", "content": "Tell me a very long story about a dragon and a knight."}]
    with batch_priority():
        return len([p async for p in llm.stream(story, GenerationParams(max_tokens=1900, temperature=0.0))])
async def main():
    idle = [await voice(q) for q in questions]
    task = asyncio.ensure_future(batch())
    await asyncio.sleep(2.0)
    during = []
    for q in questions:
        during.append(await voice(q))
        await asyncio.sleep(1.0)
    overlapped = not task.done()
    print(json.dumps({"idle_first_token_ms": idle, "during_batch_first_token_ms": during,
                      "batch_tokens": await task, "batch_still_running_after_voice": overlapped}))
asyncio.run(main())
"""


class Server(ServerProcess):
    """The app built from --tree, with the /v1/audio/speech character cap raised where it exists."""

    def __init__(self, tree: Path, speech_chars: int) -> None:
        super().__init__(env={**os.environ, "PYTHONPATH": str(tree)})
        self.command = [sys.executable, "-c", SERVER, str(self.port), str(speech_chars)]


async def watchdog(server: Server, cap_mb: float, killed: dict[str, bool]) -> None:
    while server.alive:
        rss, _, _, _ = process_vitals(server.proc.pid)  # type: ignore[union-attr]
        if rss is not None and rss > cap_mb:
            killed["yes"] = True
            server.proc.kill()  # type: ignore[union-attr]
            return
        await asyncio.sleep(0.05)


async def memory_case(server: Server, name: str, cap_mb: float) -> dict[str, Any]:
    pid = server.proc.pid  # type: ignore[union-attr]
    rss_before, hwm_before, _, _ = process_vitals(pid)
    killed = {"yes": False}
    dog = asyncio.ensure_future(watchdog(server, cap_mb, killed))
    started = time.perf_counter()
    status: Any
    try:
        async with aiohttp.ClientSession() as client:
            status = await asyncio.wait_for(_request(client, server.base, name), 600)
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        status = type(exc).__name__
    seconds = time.perf_counter() - started
    await asyncio.sleep(1.0)
    rss_after, hwm_after, _, _ = process_vitals(pid)
    dog.cancel()
    return {
        "case": name,
        "status": status,
        "seconds": round(seconds, 1),
        "rss_before_mb": rss_before,
        "peak_rss_mb": f">{cap_mb:.0f} (killed at the cap)" if killed["yes"] else hwm_after,
        "peak_rose_mb": None
        if killed["yes"] or hwm_after is None
        else round(hwm_after - (hwm_before or 0), 1),
        "rss_after_mb": rss_after,
    }


async def _request(client: aiohttp.ClientSession, base: str, name: str) -> Any:
    if name == "speech: 31 MB of one letter":
        data: Any = b'{"input": "' + b"a" * (31 << 20) + b'"}'
        headers = {"Content-Type": "application/json"}
        url = base + "/v1/audio/speech"
    elif name.startswith("speech:"):
        n = int(name.split()[1].replace(",", "").split("-")[0])
        data, headers, url = json.dumps({"input": "a" * n}), {"Content-Type": "application/json"}, None
        url = base + "/v1/audio/speech"
    else:

        async def upload() -> Any:
            yield b'--B\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
            for _ in range(600):
                yield bytes(1 << 20)
            yield b"\r\n--B--\r\n"

        data, headers = upload(), {"Content-Type": "multipart/form-data; boundary=B"}
        url = base + "/v1/audio/transcriptions"
    async with client.post(url, data=data, headers=headers) as r:
        body = await r.read()
        return r.status if r.status == 200 else f"{r.status} {body[:120].decode(errors='replace')}"


MEMORY_CASES = [
    "speech: 4,096-char word",
    "speech: 20,000-char word",
    "speech: 31 MB of one letter",
    "transcriptions: 600 MB upload",
]


async def run_memory(tree: Path, cap_mb: float, speech_chars: int, cases: list[int]) -> list[dict[str, Any]]:
    """Each case on a freshly started server, so each peak is that request's alone."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for index in cases:
            server = Server(tree, speech_chars=speech_chars)
            await server.start(Path(tmp) / "server.log")
            try:
                rows.append(await memory_case(server, MEMORY_CASES[index], cap_mb))
            finally:
                server.stop()
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows


async def voice_turns(base: str, n: int) -> list[float | None]:
    questions = bundled_questions()
    out: list[float | None] = []
    async with aiohttp.ClientSession() as client:
        ws = await open_session(client, base)
        for i in range(n):
            result = await ask(ws, questions[i % len(questions)], timeout_s=90)
            out.append(None if result.first_audio_s is None else round(result.first_audio_s * 1000))
            print(
                f"  voice turn {i + 1}: {out[-1]} ms, server's figure {result.server_first_audio_ms} ms "
                f"({result.status})",
                file=sys.stderr,
                flush=True,
            )
            await asyncio.sleep(1.0)
        await ws.close()
    return out


LOADS = ["idle", "speech 100k chars", "chat 1900 tokens"]


async def run_priority(tree: Path, turns: int, loads: list[int]) -> dict[str, Any]:
    result: dict[str, Any] = {"load_average_at_start": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory() as tmp:
        for load in [LOADS[i] for i in loads]:
            server = Server(tree, speech_chars=100_000)
            await server.start(Path(tmp) / "server.log")
            try:
                print(f"{load}:", file=sys.stderr, flush=True)
                async with aiohttp.ClientSession() as client:
                    background = asyncio.ensure_future(_background(client, server.base, load))
                    await asyncio.sleep(3.0)
                    ms = await voice_turns(server.base, turns)
                    still_running = not background.done()
                    background.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await background
                result[load] = {
                    "first_audio_ms": ms,
                    "summary": summarise([m for m in ms if m is not None]),
                    "background_still_running_after_voice_turns": still_running,
                }
            finally:
                server.stop()
    return result


async def _background(client: aiohttp.ClientSession, base: str, load: str) -> None:
    if load == "idle":
        return
    if load.startswith("speech"):
        text = (SENTENCE * (100_000 // len(SENTENCE) + 1))[:100_000]
        request = client.post(base + "/v1/audio/speech", json={"input": text, "response_format": "pcm"})
    else:
        body = {
            "messages": [
                {"role": "user", "content": "Tell me a very long story about a dragon and a knight."}
            ],
            "max_tokens": 1900,
            "temperature": 0.0,
            "stream": True,
        }
        request = client.post(base + "/v1/chat/completions", json=body)
    async with request as r:
        async for _ in r.content.iter_chunked(1 << 16):
            pass


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("mode", choices=["memory", "priority", "llm"])
    parser.add_argument("--tree", type=Path, default=ROOT / "src")
    parser.add_argument("--rss-cap-mb", type=float, default=6000)
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--speech-chars", type=int, default=4096, help="memory: the server's input cap")
    parser.add_argument("--cases", type=int, nargs="*", default=list(range(4)), help="memory: which cases")
    parser.add_argument("--loads", type=int, nargs="*", default=list(range(3)), help="priority: which loads")
    args = parser.parse_args()
    if args.mode == "memory":
        out: Any = asyncio.run(
            run_memory(args.tree.resolve(), args.rss_cap_mb, args.speech_chars, args.cases)
        )
    elif args.mode == "priority":
        out = asyncio.run(run_priority(args.tree.resolve(), args.turns, args.loads))
    else:
        env = {**os.environ, "PYTHONPATH": str(args.tree.resolve())}
        probe = subprocess.run([sys.executable, "-c", LLM_PROBE], env=env, capture_output=True, text=True)
        out = json.loads(probe.stdout.strip().splitlines()[-1]) | {
            "load_average_at_start": os.getloadavg()[0]
        }
    print(json.dumps({"tree": str(args.tree), "speech_chars": args.speech_chars, args.mode: out}, indent=2))


if __name__ == "__main__":
    main()
