"""Builds the aiohttp application and runs it on a real socket."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import structlog
from aiohttp import web

from simulator import admin, api, conference_api, inbound_admin
from simulator.api import SIMULATOR
from simulator.settings import Settings
from simulator.state import Simulator

CALL_PATH = "/calling/v1/calls/id/{callId}"
LEG_PATH = "/calling/v1/calls/id/{callId}/leg/{callLeg}"


def create_app(
    settings: Settings, log: structlog.typing.FilteringBoundLogger | None = None
) -> web.Application:
    logger: structlog.typing.FilteringBoundLogger = log or structlog.get_logger("simulator")
    app = web.Application(client_max_size=settings.max_body_bytes)
    app[SIMULATOR] = Simulator.from_settings(settings, logger)
    # "*" routes: the handlers answer other methods with a Sinch-style 405 themselves.
    app.router.add_route("*", CALL_PATH, api.handle_call)
    app.router.add_route("*", LEG_PATH, api.handle_leg)
    conference_api.install(app)
    app.router.add_routes(admin.routes())
    inbound_admin.install(app)
    app.router.add_route("*", "/{tail:.*}", api.not_found)
    return app


@dataclass
class RunningServer:
    app: web.Application
    runner: web.AppRunner
    url: str

    @property
    def simulator(self) -> Simulator:
        return self.app[SIMULATOR]

    async def close(self) -> None:
        await self.runner.cleanup()


async def start_server(
    settings: Settings, log: structlog.typing.FilteringBoundLogger | None = None
) -> RunningServer:
    """Start listening (port 0 picks a free port; the chosen one is in .url)."""
    app = create_app(settings, log)
    access_log = logging.getLogger("aiohttp.access") if settings.access_log else None
    if access_log is not None:
        access_log.setLevel(logging.INFO)
    runner = web.AppRunner(
        app,
        handle_signals=False,
        access_log=access_log,
        shutdown_timeout=settings.shutdown_timeout_seconds,
    )
    await runner.setup()
    # A deep backlog, so a benchmark's burst of new connections is not refused.
    site = web.TCPSite(runner, settings.host, settings.port, backlog=1024)
    await site.start()
    host, port = runner.addresses[0][:2]
    shown = f"[{host}]" if ":" in host else host
    return RunningServer(app, runner, f"http://{shown}:{port}")
