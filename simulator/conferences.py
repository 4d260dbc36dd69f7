"""Callouts and conferences: `POST /calling/v1/callouts` places a call; conferences hold the
participants that joined by a conferenceCallout or a `connectConf`, and take mute, hold and
kick (docs/sinch-fidelity.md, "Callouts and conferences"). Written from Sinch's definition
(OAS: the Java SDK's `callouts/request/internal/*CalloutInternalImpl.java`,
`conferences/request/ManageConferenceParticipantRequestImpl.java`,
`conferences/ConferenceParticipantImpl.java`), never from the service.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from simulator import errors
from simulator.calls import Call
from simulator.errors import ApiError
from simulator.svaml_rules import (
    DTMF,
    LOCALE,
    MAX_DURATION_RULE,
    MOH,
    NON_EMPTY,
    PROMPT,
    TTS_MAX_CHARS,
    Bool,
    Int,
    JsonObject,
    Obj,
    Str,
    json_type,
    validate_svaml,
)

if TYPE_CHECKING:
    from simulator.state import Simulator

CONFERENCE_ID_MAX = 64
_URL = re.compile(r"https?://\S+")
DESTINATION = Obj(
    required={
        "type": Str(
            choices=("number", "username", "sip", "did"),
            case_insensitive=True,
        ),
        "endpoint": NON_EMPTY,
    }
)
ANY_STR = Str()
TEXT = Str(min_len=1, max_len=TTS_MAX_CHARS)
DOMAIN = Str(choices=("pstn", "mxp"), case_insensitive=True)
ENABLES = {"enableAce": Bool(), "enableDice": Bool(), "enablePie": Bool()}
COMMON = {"cli": NON_EMPTY, "dtmf": DTMF, "custom": ANY_STR}


def _control(value: str, path: str) -> None:
    """A custom callout's ice/ace/pie: a URL, or one SVAML object written as a JSON string."""
    if not value.lstrip().startswith("{"):
        if not _URL.fullmatch(value):
            raise ApiError(400, errors.PARAMETER_VALIDATION, f"{path}: must be a URL or SVAML")
        return
    try:
        parsed = json.loads(value)
    except ValueError:
        raise ApiError(
            400, errors.PARAMETER_VALIDATION, f"{path}: inline SVAML is not JSON"
        ) from None
    try:
        validate_svaml(parsed, "E1")
    except ApiError as error:
        raise ApiError(400, errors.PARAMETER_VALIDATION, f"{path}.{error.message}") from None


def _text_or_prompts(value: JsonObject, path: str) -> None:
    if "text" not in value and "prompts" not in value:
        raise ApiError(400, errors.PARAMETER_VALIDATION, f"{path}.text: required (or prompts)")


def _someone_to_call(value: JsonObject, path: str) -> None:
    ice = value.get("ice")
    if "destination" not in value and not (isinstance(ice, str) and ice.lstrip()[:1] == "{"):
        raise ApiError(400, errors.PARAMETER_VALIDATION, f"{path}.destination: required")


CONTROL = Str(min_len=1, then=_control)
CALLOUTS: dict[str, Obj] = {
    "ttsCallout": Obj(
        required={"destination": DESTINATION},
        optional={
            **COMMON,
            **ENABLES,
            "domain": DOMAIN,
            "locale": LOCALE,
            "text": TEXT,
            "prompts": PROMPT,
        },
        checks=(_text_or_prompts,),
    ),
    "conferenceCallout": Obj(
        required={
            "destination": DESTINATION,
            "conferenceId": Str(min_len=1, max_len=CONFERENCE_ID_MAX),
        },
        optional={
            **COMMON,
            **ENABLES,
            "domain": DOMAIN,
            "locale": LOCALE,
            "greeting": TEXT,
            "mohClass": MOH,
            "maxDuration": MAX_DURATION_RULE,
            "conferenceDtmfOptions": Obj(
                optional={
                    "mode": Str(choices=("ignore", "forward", "detect")),
                    "maxDigits": Int(0),
                    "timeoutMills": Int(0),
                }
            ),
        },
    ),
    "customCallout": Obj(
        optional={
            **COMMON,
            "destination": DESTINATION,
            "maxDuration": MAX_DURATION_RULE,
            "ice": CONTROL,
            "ace": CONTROL,
            "pie": CONTROL,
        },
        checks=(_someone_to_call,),
    ),
}
PARTICIPANT_COMMANDS = ("mute", "unmute", "onhold", "resume")
MANAGE = Obj(required={"command": Str(choices=PARTICIPANT_COMMANDS)}, optional={"moh": MOH})


@dataclass(frozen=True, slots=True)
class Callout:
    method: str
    details: JsonObject

    def enabled(self, event: str) -> bool:
        """ACE/DiCE/PIE for this call: `enableAce` etc., or a custom callout's own answer."""
        if self.method == "customCallout":
            return event in ("ace", "dice") and bool(self.details.get(event, event == "dice"))
        return bool(self.details.get(f"enable{event.capitalize()}", False))


def validate_callout(body: object) -> Callout:
    """The callout body: `method` and exactly the object it names, each field as Sinch has it."""
    if not isinstance(body, dict):
        raise ApiError(400, errors.INVALID_REQUEST, f"body: must be an object ({json_type(body)})")
    method = body.get("method")
    if not isinstance(method, str) or method not in CALLOUTS:
        raise ApiError(
            400, errors.PARAMETER_VALIDATION, f"method: must be one of {', '.join(CALLOUTS)}"
        )
    for key in body:
        if key not in ("method", method):
            raise ApiError(400, errors.PARAMETER_VALIDATION, f"{key}: unknown field")
    if method not in body:
        raise ApiError(400, errors.PARAMETER_VALIDATION, f"{method}: required")
    CALLOUTS[method].check(body[method], method)
    return Callout(method, body[method])


def validate_manage(body: object) -> JsonObject:
    if not isinstance(body, dict):
        raise ApiError(400, errors.INVALID_REQUEST, f"body: must be an object ({json_type(body)})")
    MANAGE.check(body, "")
    if "moh" in body and body["command"] != "onhold":
        # OAS: moh "is only available to use with the onhold command".
        raise ApiError(400, errors.PARAMETER_VALIDATION, "moh: only with the onhold command")
    return body


@dataclass(slots=True)
class Participant:
    call: Call
    cli: str
    joined_mono: float
    muted: bool = False
    onhold: bool = False
    moh: str | None = None

    def sinch_view(self, now_mono: float) -> JsonObject:
        """OAS `ConferenceParticipant`: cli, id, duration, muted, onhold."""
        return {
            "cli": self.cli,
            "id": self.call.call_id,
            "duration": max(0, int(now_mono - self.joined_mono)),
            "muted": self.muted,
            "onhold": self.onhold,
        }


@dataclass(slots=True)
class Conference:
    conference_id: str
    participants: dict[str, Participant] = field(default_factory=dict)

    def present(self) -> list[Participant]:
        """Participants whose call goes on (an ended call has left)."""
        return [p for p in self.participants.values() if not p.call.final]


class ConferenceStore:
    def __init__(self) -> None:
        self._rooms: dict[str, Conference] = {}

    def join(self, conference_id: str, call: Call, cli: str) -> Participant:
        room = self._rooms.setdefault(conference_id, Conference(conference_id))
        participant = Participant(call, cli, time.monotonic())
        room.participants[call.call_id] = participant
        return participant

    def find(self, conference_id: str) -> Conference:
        """A conference with someone in it; Sinch answers 40400 for any other."""
        room = self._rooms.get(conference_id)
        if room is None or not room.present():
            raise ApiError(404, errors.CALL_NOT_FOUND, "Conference not found")
        return room

    def participant(self, conference_id: str, call_id: str) -> Participant:
        room = self.find(conference_id)
        found = room.participants.get(call_id)
        if found is None or found.call.final:
            raise ApiError(404, errors.CALL_NOT_FOUND, "Participant not found")
        return found

    def remove(self, conference_id: str, call_id: str) -> None:
        room = self._rooms.get(conference_id)
        if room is not None:
            room.participants.pop(call_id, None)
            if not room.participants:
                del self._rooms[conference_id]

    def view(self, conference_id: str) -> JsonObject:
        now = time.monotonic()
        return {"participants": [p.sinch_view(now) for p in self.find(conference_id).present()]}

    def admin_view(self) -> list[Any]:
        now = time.monotonic()
        return [
            {
                "conferenceId": room.conference_id,
                "participants": [
                    {**p.sinch_view(now), "moh": p.moh, "ended": p.call.final}
                    for p in room.participants.values()
                ],
            }
            for room in self._rooms.values()
        ]

    def clear(self) -> None:
        self._rooms.clear()


def place(sim: Simulator, callout: Callout) -> Call:
    """A callout's call: ongoing at once (the callee answers), joined to its conference."""
    details = callout.details
    destination = details.get("destination") or {"type": "number", "endpoint": "+46700000002"}
    to = {"type": str(destination["type"]).lower(), "endpoint": destination["endpoint"]}
    cli = details.get("cli", "+46700000001")
    domain = str(details.get("domain", "mxp" if to["type"] == "username" else "pstn")).lower()
    call = sim.calls.create(
        None,
        from_={"type": "number", "endpoint": cli},
        to=to,
        domain=domain,
        custom=details.get("custom", ""),
    )
    if callout.method == "conferenceCallout":
        sim.conferences.join(details["conferenceId"], call, to["endpoint"])
    return call
