"""The inbound side's admin routes: ring the application, press digits, hang up, show calls
(simulator/inbound.py has the calls' story; this module only parses and answers)."""

from __future__ import annotations

from typing import Annotated, Literal, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from simulator.api import INBOUND, SIMULATOR
from simulator.calls import CALL_ID_PATTERN
from simulator.inbound import Inbound, InboundCall

M = TypeVar("M", bound=BaseModel)


class Ring(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_by_name=True, validate_by_alias=True)
    to: Annotated[str, Field(min_length=1, max_length=64)]
    from_: Annotated[str, Field(alias="from", min_length=1, max_length=64)] = "+46700000001"
    callback_url: Annotated[str | None, Field(alias="callbackUrl", pattern=r"^https?://")] = None
    region: Literal["use1", "euc1", "sae1", "apse1", "apse2"] | None = None
    custom: Annotated[str, Field(max_length=1024)] = ""
    call_id: Annotated[str | None, Field(alias="callId", pattern=CALL_ID_PATTERN)] = None


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")
    digits: Annotated[str, Field(pattern=r"^[0-9#*]{1,32}$")]


class HangUp(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = "CALLERHANGUP"


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def _model(request: web.Request, model: type[M]) -> M | web.Response:
    raw = await request.read()
    try:
        return model.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
        )
        return _error(400, problems)


def _find(request: web.Request) -> InboundCall | web.Response:
    inbound = request.app[INBOUND].get(request.match_info["callId"])
    if inbound is None:
        return _error(404, "no inbound call with that callId")
    return inbound


async def ring(request: web.Request) -> web.Response:
    parsed = await _model(request, Ring)
    if isinstance(parsed, web.Response):
        return parsed
    sim = request.app[SIMULATOR]
    url = parsed.callback_url or sim.settings.callback_url
    if not url:
        return _error(400, "callbackUrl: required (or start the simulator with --callback-url)")
    if parsed.call_id and sim.calls.get(parsed.call_id) is not None:
        return _error(409, f"call {parsed.call_id} exists")
    inbound = await request.app[INBOUND].ring(
        to=parsed.to,
        cli=parsed.from_,
        callback_url=url,
        region=parsed.region,
        custom=parsed.custom,
        call_id=parsed.call_id,
    )
    return web.json_response(inbound.to_json(), status=201)


async def press(request: web.Request) -> web.Response:
    inbound = _find(request)
    if isinstance(inbound, web.Response):
        return inbound
    parsed = await _model(request, Input)
    if isinstance(parsed, web.Response):
        return parsed
    if inbound.phase != "menu":
        return _error(409, f"the call is {inbound.phase}, not in a menu")
    await request.app[INBOUND].press(inbound, parsed.digits)
    return web.json_response(inbound.to_json())


async def hang_up(request: web.Request) -> web.Response:
    inbound = _find(request)
    if isinstance(inbound, web.Response):
        return inbound
    parsed = await _model(request, HangUp)
    if isinstance(parsed, web.Response):
        return parsed
    if inbound.phase == "ended":
        return _error(409, "the call has ended")
    await request.app[INBOUND].hang_up(inbound, parsed.reason)
    return web.json_response(inbound.to_json())


async def show(request: web.Request) -> web.Response:
    inbound = _find(request)
    if isinstance(inbound, web.Response):
        return inbound
    return web.json_response(inbound.to_json())


async def list_all(request: web.Request) -> web.Response:
    return web.json_response({"calls": [c.to_json() for c in request.app[INBOUND].all()]})


def install(app: web.Application) -> None:
    """Routes and lifecycle of the inbound side (called by `create_app`)."""
    app[INBOUND] = Inbound(app[SIMULATOR])

    async def close(app: web.Application) -> None:
        await app[INBOUND].close()

    app.on_cleanup.append(close)
    app.router.add_post("/_admin/inbound/ring", ring)
    app.router.add_get("/_admin/inbound", list_all)
    app.router.add_get("/_admin/inbound/{callId}", show)
    app.router.add_post("/_admin/inbound/{callId}/input", press)
    app.router.add_post("/_admin/inbound/{callId}/hangup", hang_up)
