"""A tiny HTTP health endpoint for the orchestrator: 200 while the gateway is ready and the queue consumer
runs, 503 otherwise."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from aiohttp import web

log = logging.getLogger(__name__)


class HealthServer:
    def __init__(self, status: Callable[[], dict[str, object]], port: int, host: str = "0.0.0.0") -> None:  # noqa: S104
        self._status = status
        self._port = port
        self._host = host
        self._runner: web.AppRunner | None = None
        self.bound_port: int | None = None

    async def _handle(self, _request: web.Request) -> web.Response:
        status = self._status()
        healthy = bool(status.get("healthy"))
        return web.Response(status=200 if healthy else 503, text=json.dumps(status),
                            content_type="application/json")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []
        self.bound_port = sockets[0].getsockname()[1] if sockets else self._port
        log.info("health endpoint on %s:%s/healthz", self._host, self.bound_port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
