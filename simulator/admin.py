"""/_admin: health, stats, calls, the request log, faults and live config. Never faulted."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from simulator.api import SIMULATOR
from simulator.calls import CALL_ID_PATTERN, Call, CallExists
from simulator.faults import FaultConfig
from simulator.state import Simulator

REASONS = (
    "N/A",
    "TIMEOUT",
    "CALLERHANGUP",
    "CALLEEHANGUP",
    "BLOCKED",
    "NOCREDITPARTNER",
    "MANAGERHANGUP",
    "CANCEL",
    "GENERALERROR",
)


class AdminError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Party(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: str = "number"
    # Sinch's own GET sample shows a numeric endpoint, so both are allowed and echoed as given.
    endpoint: str | int


class CreateCall(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_by_name=True, validate_by_alias=True)
    call_id: Annotated[str | None, Field(alias="callId", pattern=CALL_ID_PATTERN)] = None
    from_: Annotated[Party | None, Field(alias="from")] = None
    to: Party | None = None
    domain: str | None = None
    custom: str | None = None
    # A call parked by its incoming-call answer, waiting to be unparked.
    parked: bool = False


class EndCall(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = "CALLERHANGUP"


def _sim(request: web.Request) -> Simulator:
    return request.app[SIMULATOR]


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status)


async def _body(request: web.Request, *, empty_ok: bool = False) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip() and empty_ok:
        return {}
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise AdminError(400, f"malformed JSON: {exc}") from None
    if not isinstance(data, dict):
        raise AdminError(400, "the body must be a JSON object")
    return data


def _validation_message(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
    )


def _int_param(request: web.Request, name: str, default: int, minimum: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise AdminError(400, f"{name}: must be an integer (got {raw!r})") from None
    if value < minimum:
        raise AdminError(400, f"{name}: at least {minimum} (got {value})")
    return value


Handler = Callable[[web.Request], Awaitable[web.Response]]


def _guarded(handler: Handler) -> Handler:
    """Turn admin failures into {"error": ...}. A decorator rather than a middleware, so the
    Calling API hot path does not pay for it."""

    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except AdminError as exc:
            return _json({"error": exc.message}, exc.status)
        except ValidationError as exc:
            return _json({"error": _validation_message(exc)}, 400)

    return wrapper


async def health(request: web.Request) -> web.Response:
    return _json({"status": "ok"})


async def get_stats(request: web.Request) -> web.Response:
    sim = _sim(request)
    return _json(
        {
            **sim.stats.to_json(),
            "calls": sim.calls.counts(),
            "requestLog": {"entries": len(sim.requests), "lastSeq": sim.requests.last_seq},
        }
    )


async def reset_stats(request: web.Request) -> web.Response:
    _sim(request).stats.reset()
    return web.Response(status=204)


async def create_call(request: web.Request) -> web.Response:
    sim = _sim(request)
    spec = CreateCall.model_validate(await _body(request, empty_ok=True))
    try:
        call = sim.calls.create(
            spec.call_id,
            from_=spec.from_.model_dump() if spec.from_ else None,
            to=spec.to.model_dump() if spec.to else None,
            domain=spec.domain,
            custom=spec.custom,
        )
        call.parked = spec.parked
    except CallExists:
        raise AdminError(409, f"call {spec.call_id} already exists") from None
    return _json(call.admin_view(time.monotonic()), 201)


async def list_calls(request: web.Request) -> web.Response:
    limit = _int_param(request, "limit", 1000, 1)
    return _json({"calls": _sim(request).calls.summaries(time.monotonic(), limit)})


async def clear_calls(request: web.Request) -> web.Response:
    _sim(request).calls.clear()
    return web.Response(status=204)


def _call_or_404(request: web.Request) -> Call:
    call_id = request.match_info["callId"]
    call = _sim(request).calls.get(call_id)
    if call is None:
        raise AdminError(404, f"no call {call_id}")
    return call


async def get_call(request: web.Request) -> web.Response:
    return _json(_call_or_404(request).admin_view(time.monotonic()))


async def delete_call(request: web.Request) -> web.Response:
    call_id = request.match_info["callId"]
    if not _sim(request).calls.delete(call_id):
        raise AdminError(404, f"no call {call_id}")
    return web.Response(status=204)


async def end_call(request: web.Request) -> web.Response:
    """End a call from the far side (e.g. the caller hangs up), so later PATCHes get 404."""
    call = _call_or_404(request)
    spec = EndCall.model_validate(await _body(request, empty_ok=True))
    if spec.reason not in REASONS:
        raise AdminError(400, f"reason: must be one of {', '.join(REASONS)}")
    call.end(spec.reason, time.monotonic())
    return _json(call.admin_view(time.monotonic()))


async def get_requests(request: web.Request) -> web.Response:
    sim = _sim(request)
    entries = sim.requests.query(
        call_id=request.query.get("callId") or None,
        since=_int_param(request, "since", 0, 0),
        limit=_int_param(request, "limit", 1000, 1),
    )
    return _json({"requests": [e.to_json() for e in entries]})


async def clear_requests(request: web.Request) -> web.Response:
    _sim(request).requests.clear()
    return web.Response(status=204)


def _faults_reply(sim: Simulator) -> web.Response:
    return _json(sim.faults.config.model_dump(mode="json"))


async def get_faults(request: web.Request) -> web.Response:
    return _faults_reply(_sim(request))


async def put_faults(request: web.Request) -> web.Response:
    """Replace: omitted fields take the built-in defaults (no fault), not the start-up ones."""
    sim = _sim(request)
    sim.faults.config = FaultConfig.model_validate(await _body(request))
    sim.log.info("faults.changed", **sim.faults.config.model_dump(mode="json"))
    return _faults_reply(sim)


async def patch_faults(request: web.Request) -> web.Response:
    sim = _sim(request)
    sim.faults.config = sim.faults.config.merged(await _body(request))
    sim.log.info("faults.changed", **sim.faults.config.model_dump(mode="json"))
    return _faults_reply(sim)


async def reset_faults(request: web.Request) -> web.Response:
    sim = _sim(request)
    sim.faults.config = sim.settings.fault_config()
    sim.log.info("faults.reset", **sim.faults.config.model_dump(mode="json"))
    return _faults_reply(sim)


async def get_config(request: web.Request) -> web.Response:
    sim = _sim(request)
    s = sim.settings
    return _json(
        {
            **sim.config.to_json(),
            "applicationKey": s.application_key,
            "host": s.host,
            "port": s.port,
            "maxCalls": s.max_calls,
            "requestLogLimit": s.request_log_limit,
            "maxBodyBytes": s.max_body_bytes,
            "logLevel": s.log_level,
        }
    )


async def patch_config(request: web.Request) -> web.Response:
    sim = _sim(request)
    sim.config = sim.config.merged(await _body(request))
    sim.log.info("config.changed", **sim.config.to_json())
    return await get_config(request)


async def reset_all(request: web.Request) -> web.Response:
    sim = _sim(request)
    sim.reset()
    sim.log.info("reset")
    return web.Response(status=204)


def routes() -> list[web.RouteDef]:
    table: list[tuple[str, str, Handler]] = [
        ("GET", "/_admin/health", health),
        ("GET", "/_admin/stats", get_stats),
        ("DELETE", "/_admin/stats", reset_stats),
        ("POST", "/_admin/calls", create_call),
        ("GET", "/_admin/calls", list_calls),
        ("DELETE", "/_admin/calls", clear_calls),
        ("GET", "/_admin/calls/{callId}", get_call),
        ("DELETE", "/_admin/calls/{callId}", delete_call),
        ("POST", "/_admin/calls/{callId}/end", end_call),
        ("GET", "/_admin/requests", get_requests),
        ("DELETE", "/_admin/requests", clear_requests),
        ("GET", "/_admin/faults", get_faults),
        ("PUT", "/_admin/faults", put_faults),
        ("PATCH", "/_admin/faults", patch_faults),
        ("DELETE", "/_admin/faults", reset_faults),
        ("GET", "/_admin/config", get_config),
        ("PATCH", "/_admin/config", patch_config),
        ("POST", "/_admin/reset", reset_all),
    ]
    return [web.route(method, path, _guarded(handler)) for method, path, handler in table]
