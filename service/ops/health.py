"""The operations port: `/healthz` (liveness), `/readyz` (readiness), `/metrics` (Prometheus).

Liveness answers from the event loop, so a blocked loop fails it. Readiness means consuming:
started, in the consumer group, not shutting down; when not ready, the body's `reasons` say why
(`{"status": "not ready", "ready": false, "reasons": ["not in consumer group"]}`).
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest


class HealthServer:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        not_ready: Callable[[], list[str]],
        registry: CollectorRegistry,
    ) -> None:
        self._host = host
        self._port = port
        self._not_ready = not_ready
        self._registry = registry
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._live)
        app.router.add_get("/readyz", self._readiness)
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        # The bound port (port 0 in tests picks a free one): the runner's first address.
        addresses = self._runner.addresses
        self.port = int(addresses[0][1]) if addresses else self._port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _live(self, _: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _readiness(self, _: web.Request) -> web.Response:
        reasons = self._not_ready()
        ready = not reasons
        body = {"status": "ready" if ready else "not ready", "ready": ready, "reasons": reasons}
        return web.json_response(body, status=200 if ready else 503)

    async def _metrics(self, _: web.Request) -> web.Response:
        body = generate_latest(self._registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
