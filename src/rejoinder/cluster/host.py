"""The session-host deployment: Serve's ingress. Each replica runs the usual aiohttp server on a
loopback port (VAD here, STT/LLM/TTS through handles to the model deployments) and bridges
Serve's HTTP and WebSocket traffic to it. Its SessionHost admits at most `sessions` live sessions:
the per-replica cap is the admission control, and Serve's router sends each new connection to
the replica with fewer ongoing requests (a WebSocket counts for its whole life)."""

import asyncio
import logging
from typing import Any

import aiohttp
from aiohttp import web
from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import Response
from ray import serve

from rejoinder import logs, registry
from rejoinder.cluster.bridge import forward_http, forward_socket
from rejoinder.cluster.remote import RemoteLLM, RemoteSTT, RemoteTTS
from rejoinder.config import Config
from rejoinder.engine import Engine
from rejoinder.server.app import create_app
from rejoinder.server.capacity import Capacity
from rejoinder.server.security import SecuritySettings
from rejoinder.server.state import ServerSettings

log = logging.getLogger(__name__)

api = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)


@serve.ingress(api)
class SessionHostReplica:
    def __init__(
        self,
        config: Config,
        sessions: int,
        stt: Any,
        llms: "list[Any]",
        tts: Any,
        api_key: str | None = None,
        log_level: str = "warning",
        security: SecuritySettings | None = None,
    ) -> None:
        logs.setup(log_level)
        self.config, self.sessions, self.api_key = config, sessions, api_key
        self.security = security or SecuritySettings()
        """The public bind's rules: the bridge passes the client's Host and Origin through."""
        self._stt, self._llms, self._tts = stt, llms, tts
        self._base: str | None = None
        self._client: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self._starting: asyncio.Lock | None = None

    async def _engine(self) -> Engine:
        vad = registry.create("vad", self.config.vad.backend, self.config.vad)
        sample_rate = await self._tts.sample_rate.remote()
        llms = [RemoteLLM(handle) for handle in self._llms]
        engine = Engine.from_stages(
            self.config, vad=vad, stt=RemoteSTT(self._stt), llm=llms[0], tts=RemoteTTS(self._tts, sample_rate)
        )
        if self.config.router.enabled:
            from rejoinder.routers import build_router

            engine.use_tiers(llms, build_router(self.config.router))
        return engine

    async def _local(self) -> tuple[aiohttp.ClientSession, str]:
        """Starts the inner server on first use (on the replica's own event loop)."""
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self._base is None or self._client is None:
                settings = ServerSettings(
                    api_key=self.api_key,
                    max_sessions=self.sessions,
                    capacity=Capacity(self.sessions, "configured"),
                    security=self.security,
                )
                self._runner = web.AppRunner(create_app(await self._engine(), settings), access_log=None)
                await self._runner.setup()
                site = web.TCPSite(self._runner, "127.0.0.1", 0)
                await site.start()
                port = self._runner.addresses[0][1]
                self._client = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
                self._base = f"http://127.0.0.1:{port}"
                log.info("session host ready", extra={"port": port, "sessions": self.sessions})
        return self._client, self._base

    @api.websocket("/v1/realtime")
    async def realtime(self, ws: WebSocket) -> None:
        client, base = await self._local()
        await forward_socket(client, base, ws)

    @api.api_route("/{path:path}", methods=["GET", "POST", "DELETE"])
    async def http(self, request: Request, path: str) -> Response:
        client, base = await self._local()
        return await forward_http(client, base, request)

    async def check_health(self) -> None:
        """Serve's periodic health check also starts the inner server ahead of the first client."""
        await self._local()

    async def __del__(self) -> None:
        if self._client is not None:
            await self._client.close()
        if self._runner is not None:
            await self._runner.cleanup()
