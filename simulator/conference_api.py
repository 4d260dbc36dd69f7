"""The callouts and conferences routes: faults, auth and the request log as for calls
(`simulator.api`), then the rules of `simulator.conferences`."""

from __future__ import annotations

import json
import time

from aiohttp import web

from simulator.api import (
    INBOUND,
    SIMULATOR,
    Outcome,
    Reply,
    Route,
    _check_content_type,
    _handle,
    _parse_json,
    authenticated,
)
from simulator.conferences import place, validate_callout, validate_manage
from simulator.errors import ApiError
from simulator.state import Simulator

CALLOUTS_PATH = "/calling/v1/callouts"
CONFERENCE_PATH = "/calling/v1/conferences/id/{conferenceId}"
PARTICIPANT_PATH = "/calling/v1/conferences/id/{conferenceId}/{callId}"


def _callout(
    sim: Simulator,
    request: web.Request,
    endpoint: Route,
    call_id: str,
    leg: str | None,
    path: str,
    query_string: str,
    body: bytes,
) -> Outcome:
    """POST /calling/v1/callouts: the answer is `{"callId": ...}` (OAS `CalloutResponse`)."""
    out = Outcome()
    if not authenticated(sim, request, out, path, query_string, body, time.time()):
        return out
    try:
        _check_content_type(request.headers.get("Content-Type"))
        callout = validate_callout(_parse_json(body))
        call = place(sim, callout)
        request.app[INBOUND].placed(call, callout)
        out.reply = Reply(200, json.dumps({"callId": call.call_id}).encode())
    except ApiError as exc:
        out.reply = Reply.error(exc)
    return out


def _conference(
    sim: Simulator,
    request: web.Request,
    endpoint: Route,
    call_id: str,
    leg: str | None,
    path: str,
    query_string: str,
    body: bytes,
) -> Outcome:
    """GET (participants) and DELETE (kick all) of one conference; PATCH and DELETE of one
    participant (`call_id` set)."""
    out = Outcome()
    if not authenticated(sim, request, out, path, query_string, body, time.time()):
        return out
    conference_id = request.match_info["conferenceId"]
    store = sim.conferences
    try:
        if request.method == "GET":
            out.reply = Reply(200, json.dumps(store.view(conference_id)).encode())
        elif request.method == "PATCH":
            _check_content_type(request.headers.get("Content-Type"))
            wanted = validate_manage(_parse_json(body))
            participant = store.participant(conference_id, call_id)
            command = wanted["command"]
            if command in ("mute", "unmute"):
                participant.muted = command == "mute"
            else:
                participant.onhold = command == "onhold"
                participant.moh = wanted.get("moh") if participant.onhold else None
            out.reply = Reply(204)
        else:  # DELETE
            room = store.find(conference_id)
            kicked = [store.participant(conference_id, call_id)] if call_id else room.present()
            for participant in kicked:
                participant.call.end("MANAGERHANGUP", time.monotonic())
                store.remove(conference_id, participant.call.call_id)
                request.app[INBOUND].ended(participant.call)
            out.reply = Reply(204)
    except ApiError as exc:
        out.reply = Reply.error(exc)
    return out


async def handle_callouts(request: web.Request) -> web.StreamResponse:
    endpoint: Route | None = "callouts" if request.method == "POST" else None
    return await _handle(request, endpoint, "", None, _callout)


async def handle_conference(request: web.Request) -> web.StreamResponse:
    endpoint: Route | None = "conference" if request.method in ("GET", "DELETE") else None
    return await _handle(request, endpoint, "", None, _conference)


async def handle_participant(request: web.Request) -> web.StreamResponse:
    endpoint: Route | None = "participant" if request.method in ("PATCH", "DELETE") else None
    return await _handle(request, endpoint, request.match_info["callId"], None, _conference)


def install(app: web.Application) -> None:
    app.router.add_route("*", CALLOUTS_PATH, handle_callouts)
    app.router.add_route("*", CONFERENCE_PATH, handle_conference)
    app.router.add_route("*", PARTICIPANT_PATH, handle_participant)
    app.router.add_get("/_admin/conferences", list_conferences)


async def list_conferences(request: web.Request) -> web.Response:
    """`GET /_admin/conferences`: every conference with its participants, ended ones too."""
    return web.json_response({"conferences": request.app[SIMULATOR].conferences.admin_view()})
