"""The Calling API routes (E1, E2, E3): faults, then auth, then validation, then call state."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING, Literal

from aiohttp import web

from simulator import errors
from simulator.calls import CALL_ID, AppliedSvaml, Call
from simulator.errors import ApiError
from simulator.faults import FaultPlan
from simulator.recorder import RequestRecord
from simulator.state import Simulator
from simulator.svaml_rules import UNPARK_ACTIONS, Svaml, validate_svaml

if TYPE_CHECKING:
    from simulator.inbound import Inbound

SIMULATOR = web.AppKey("simulator", Simulator)
# The inbound-call side (simulator/inbound.py), keyed here so the API can tell it about PATCHes.
INBOUND: web.AppKey[Inbound] = web.AppKey("inbound")
# E1-E3: the call endpoints; then the callouts and conferences endpoints (simulator/conferences.py).
Route = Literal["E1", "E2", "E3", "callouts", "conference", "participant"]

LEGS = ("caller", "callee", "both")
# The domains of calls the PATCH endpoints manage; app-to-app (mxp) calls are not among them.
PATCHABLE_DOMAINS = frozenset({"pstn", "sip"})
JSON = "application/json"
_INJECTED_MESSAGES = {500: "Internal error", 503: "Temporarily unavailable"}


@dataclass(slots=True)
class Reply:
    status: int
    body: bytes | None = None
    error_code: int | None = None
    error_message: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def error(cls, exc: ApiError) -> Reply:
        return cls(
            exc.status, errors.error_body(exc.status, exc.code, exc.message), exc.code, exc.message
        )

    def response(self) -> web.Response:
        if self.body is None:
            return web.Response(status=self.status, headers=self.headers or None)
        return web.Response(
            status=self.status, body=self.body, content_type=JSON, headers=self.headers or None
        )


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


# One decoder for all requests: json.loads with options would build a new one per call.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def _parse_json(body: bytes) -> object:
    try:
        return _DECODER.decode(body.decode("utf-8"))
    except json.JSONDecodeError as exc:
        raise ApiError(
            400,
            errors.INVALID_REQUEST,
            f"body: malformed JSON ({exc.msg} at line {exc.lineno} column {exc.colno})",
        ) from None
    except ValueError as exc:  # not UTF-8, or NaN/Infinity
        raise ApiError(400, errors.INVALID_REQUEST, f"body: malformed JSON ({exc})") from None


def _check_content_type(content_type: str | None) -> None:
    media_type = (content_type or "").partition(";")[0].strip().lower()
    if media_type != JSON:
        raise ApiError(
            400,
            errors.INVALID_REQUEST,
            f"Content-Type: must be application/json (got {content_type!r})",
        )


class Outcome:
    """What processing decided, plus what the request log needs to know about it."""

    __slots__ = ("applied", "auth_ok", "auth_scheme", "reply")

    def __init__(self) -> None:
        self.reply = Reply(500)
        self.auth_scheme: str | None = None
        self.auth_ok: bool | None = None
        self.applied: AppliedSvaml | None = None


def process(
    sim: Simulator,
    request: web.Request,
    endpoint: Route,
    call_id: str,
    leg: str | None,
    path: str,
    query_string: str,
    body: bytes,
) -> Outcome:
    """Everything after fault injection; synchronous, so one request is applied atomically."""
    out = Outcome()
    now = time.time()
    if not authenticated(sim, request, out, path, query_string, body, now):
        return out
    try:
        if endpoint == "E2":
            call = _find_call(sim, call_id)
            out.reply = Reply(200, json.dumps(call.sinch_view(time.monotonic())).encode())
            return out
        if endpoint == "E3" and leg not in LEGS:
            raise ApiError(
                400,
                errors.PARAMETER_VALIDATION,
                f"callLeg: must be one of {', '.join(LEGS)} (got {leg!r})",
            )
        _check_content_type(request.headers.get("Content-Type"))
        svaml = validate_svaml(_parse_json(body), "E3" if endpoint == "E3" else "E1")
        call = _find_call(sim, call_id)
        if call.final:
            # Sinch answers 40400 for calls it no longer manages.
            raise ApiError(404, errors.CALL_NOT_FOUND, "Call not found")
        _check_call_takes(call, svaml)
        out.applied = call.apply(svaml, endpoint, leg, now, time.monotonic())
        action = svaml.action or {}
        if action.get("name") == "connectConf":
            sim.conferences.join(action["conferenceId"], call, call.from_.get("endpoint", ""))
        request.app[INBOUND].after_update(call, svaml)
        out.reply = Reply(204 if endpoint == "E1" else 200)
    except ApiError as exc:
        out.reply = Reply.error(exc)
    return out


def authenticated(
    sim: Simulator,
    request: web.Request,
    out: Outcome,
    path: str,
    query_string: str,
    body: bytes,
    now: float,
) -> bool:
    """Sinch's auth, as for every Calling API request; on failure `out` holds the answer."""
    config = sim.config
    auth = sim.auth.check(
        method=request.method,
        path=path,
        query_string=query_string,
        headers=request.headers,
        body=body,
        schemes=config.auth_schemes,
        skew_seconds=config.timestamp_skew_seconds,
        now=now,
    )
    out.auth_scheme = auth.scheme
    out.auth_ok = auth.error is None
    if auth.error is not None:
        out.reply = Reply.error(auth.error)
        return False
    return True


Processor = Callable[[Simulator, web.Request, Route, str, "str | None", str, str, bytes], "Outcome"]


def _check_call_takes(call: Call, svaml: Svaml) -> None:
    """Rules about the call, not the body (docs/sinch-fidelity.md, "Calls")."""
    if call.domain.lower() not in PATCHABLE_DOMAINS:
        # Sinch: "only for calls that originate from or terminate to PSTN or SIP networks".
        raise ApiError(
            400,
            errors.INVALID_REQUEST,
            f"Call domain {call.domain!r}: only PSTN and SIP calls can be managed",
        )
    action = svaml.action
    if action is not None and action["name"] in UNPARK_ACTIONS and not call.parked:
        raise ApiError(
            400,
            errors.INVALID_REQUEST,
            f"action.name: {action['name']!r} only unparks a parked call",
        )


def _find_call(sim: Simulator, call_id: str) -> Call:
    call = sim.calls.get(call_id)
    if call is not None:
        return call
    if sim.config.auto_create_calls and CALL_ID.fullmatch(call_id):
        return sim.calls.create(call_id)
    raise ApiError(404, errors.CALL_NOT_FOUND, "Call not found")


def _injected_error(plan: FaultPlan) -> Reply:
    status = plan.status
    message = _INJECTED_MESSAGES.get(status) or _phrase(status)
    return Reply.error(ApiError(status, errors.default_code(status), message))


def _rate_limited(plan: FaultPlan) -> Reply:
    reply = Reply.error(ApiError(429, errors.default_code(429), "Too many requests"))
    reply.headers["Retry-After"] = str(plan.retry_after_seconds)
    return reply


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _drop(request: web.Request, plan: FaultPlan) -> web.Response:
    """Close the connection with nothing written: the client sees no HTTP response at all."""
    transport = request.transport
    if transport is not None:
        if plan.drop_mode == "reset":
            sock = transport.get_extra_info("socket")
            if sock is not None:
                # Linger 0 turns close() into a TCP RST ("connection reset by peer").
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.close()
    # aiohttp fails to write this to the closed transport and drops it silently.
    return web.Response(status=500)


def _record(
    request: web.Request,
    path: str,
    endpoint: Route | None,
    call_id: str | None,
    leg: str | None,
) -> RequestRecord:
    """The log entry for a request, before its body is read and its answer is known."""
    return RequestRecord(
        received_at=time.time(),
        method=request.method,
        path=path,
        endpoint=endpoint,
        call_id=call_id,
        leg=leg,
        content_type=request.headers.get("Content-Type"),
        body=b"",
        traceparent=request.headers.get("traceparent"),
    )


async def _handle(
    request: web.Request,
    endpoint: Route | None,
    call_id: str,
    leg: str | None,
    processor: Processor | None = None,
) -> web.StreamResponse:
    sim = request.app[SIMULATOR]
    started = time.perf_counter()
    path, _, query_string = request.raw_path.partition("?")
    record = _record(request, path, endpoint, call_id, leg)
    try:
        record.body = body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        reply = Reply.error(ApiError(413, errors.default_code(413), "Request body too large"))
        return _finish(sim, record, reply.response(), reply, started)

    plan = sim.faults.plan() if endpoint is not None else None
    if plan is not None:
        if plan.delay_s:
            record.delay_ms = plan.delay_s * 1000.0
            await asyncio.sleep(plan.delay_s)
        record.fault = plan.kind
        record.fault_after = plan.after_processing
        if plan.kind == "rateLimit":
            reply = _rate_limited(plan)
            return _finish(sim, record, reply.response(), reply, started)
        if plan.kind is not None and not plan.after_processing:
            if plan.kind == "drop":
                return _finish(sim, record, _drop(request, plan), None, started)
            reply = _injected_error(plan)
            return _finish(sim, record, reply.response(), reply, started)

    if endpoint is None:
        reply = Reply.error(
            ApiError(405, errors.default_code(405), f"Method {request.method} not allowed")
        )
        return _finish(sim, record, reply.response(), reply, started)

    outcome = (processor or process)(sim, request, endpoint, call_id, leg, path, query_string, body)
    record.auth_scheme = outcome.auth_scheme
    record.auth_ok = outcome.auth_ok
    reply = outcome.reply
    if plan is not None and plan.after_processing:
        # The request took effect; now lose or spoil its answer.
        if plan.kind == "drop":
            return _finish(sim, record, _drop(request, plan), None, started, outcome.applied)
        reply = _injected_error(plan)
    return _finish(sim, record, reply.response(), reply, started, outcome.applied)


def _finish(
    sim: Simulator,
    record: RequestRecord,
    response: web.Response,
    reply: Reply | None,
    started: float,
    applied: AppliedSvaml | None = None,
) -> web.Response:
    if reply is not None:
        record.status = reply.status
        record.error_code = reply.error_code
        record.error_message = reply.error_message
    record.duration_ms = (time.perf_counter() - started) * 1000.0
    seq = sim.requests.append(record)
    if applied is not None:
        applied.seq = seq
    sim.stats.count(record.endpoint or "other", record.status, record.fault)
    if sim.log_each_request:
        sim.log.debug(
            "request",
            seq=seq,
            method=record.method,
            path=record.path,
            status=record.status,
            error_code=record.error_code,
            fault=record.fault,
            ms=round(record.duration_ms, 2),
        )
    return response


async def handle_call(request: web.Request) -> web.StreamResponse:
    """/calling/v1/calls/id/{callId}: PATCH is E1, GET is E2."""
    method = request.method
    endpoint: Route | None = "E1" if method == "PATCH" else "E2" if method == "GET" else None
    return await _handle(request, endpoint, request.match_info["callId"], None)


async def handle_leg(request: web.Request) -> web.StreamResponse:
    """/calling/v1/calls/id/{callId}/leg/{callLeg}: PATCH is E3."""
    endpoint: Route | None = "E3" if request.method == "PATCH" else None
    info = request.match_info
    return await _handle(request, endpoint, info["callId"], info["callLeg"])


async def not_found(request: web.Request) -> web.StreamResponse:
    """Any other path outside /_admin: Sinch-style 404, recorded like the real routes."""
    path, _, _ = request.raw_path.partition("?")
    if path.startswith("/_admin"):
        return web.json_response({"error": f"no admin route {request.method} {path}"}, status=404)
    sim = request.app[SIMULATOR]
    started = time.perf_counter()
    record = _record(request, path, None, None, None)
    with contextlib.suppress(web.HTTPRequestEntityTooLarge):
        record.body = await request.read()
    reply = Reply.error(ApiError(404, errors.default_code(404), "Resource not found"))
    return _finish(sim, record, reply.response(), reply, started)
