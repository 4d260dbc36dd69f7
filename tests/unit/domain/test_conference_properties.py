"""Properties of the callout and conference commands: every valid one is accepted with its
key and becomes one request on its own path; keys and ids are checked as for calls."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from service.domain import commands as c
from service.domain.decode import Rejection, decode_command
from service.domain.paths import CONFERENCE_ID_PATTERN
from service.domain.plan import plan
from service.domain.results import ErrorCode
from tests.unit.domain.test_properties import (
    COMMON_OPTIONAL,
    MAX_BYTES,
    PROPERTY,
    call_ids,
    command_ids,
    dtmf,
    locales,
    optional_fields,
    text,
)

Record = dict[str, Any]
conference_ids = st.from_regex(CONFERENCE_ID_PATTERN.strip("^$"), fullmatch=True)
numbers = st.from_regex(r"\+[0-9]{6,15}", fullmatch=True)
destinations = st.fixed_dictionaries(
    {"type": st.sampled_from(["number", "Number", "username", "sip", "did"]), "endpoint": numbers}
)
enables = {"enableAce": st.booleans(), "enableDice": st.booleans(), "enablePie": st.booleans()}
moh = st.sampled_from(["ring", "music1", "music2", "music3"])


@st.composite
def tts_callout(draw: st.DrawFn) -> Record:
    body: Record = {"destination": draw(destinations), "locale": draw(locales)}
    body.update(draw(st.sampled_from([{"text": "Hello"}, {"prompts": "#tts[Hi];welcome"}])))
    body.update(
        draw(
            optional_fields({"cli": numbers, "dtmf": dtmf, "custom": text(max_size=50), **enables})
        )
    )
    return {"method": "ttsCallout", "ttsCallout": body}


@st.composite
def conference_callout(draw: st.DrawFn) -> Record:
    body: Record = {"destination": draw(destinations), "conferenceId": draw(conference_ids)}
    body.update(
        draw(
            optional_fields(
                {
                    "cli": numbers,
                    "mohClass": moh,
                    "maxDuration": st.integers(1, 14_400),
                    "greeting": text(min_size=1, max_size=100),
                    "locale": locales,
                    **enables,
                }
            )
        )
    )
    return {"method": "conferenceCallout", "conferenceCallout": body}


@st.composite
def custom_callout(draw: st.DrawFn) -> Record:
    body: Record = {"destination": draw(destinations)}
    body.update(
        draw(
            optional_fields(
                {
                    "ice": st.just('{"action":{"name":"connectPstn","number":"+46700000001"}}'),
                    "ace": st.just('{"action":{"name":"continue"}}'),
                    "pie": st.just("https://example.com/pie"),
                    "maxDuration": st.integers(1, 14_400),
                }
            )
        )
    )
    return {"method": "customCallout", "customCallout": body}


@st.composite
def envelope(draw: st.DrawFn, type_: str) -> Record:
    return {"commandId": draw(command_ids), "type": type_, **draw(optional_fields(COMMON_OPTIONAL))}


@st.composite
def callout(draw: st.DrawFn) -> Record:
    body = draw(st.one_of(tts_callout(), conference_callout(), custom_callout()))
    return {**draw(envelope("callout")), "callout": body}


@st.composite
def conference_command(draw: st.DrawFn, type_: str, participant: bool) -> Record:
    record = {**draw(envelope(type_)), "conferenceId": draw(conference_ids)}
    if participant:
        record["callId"] = draw(call_ids)
    if type_ == "holdParticipant" and draw(st.booleans()):
        record["moh"] = draw(moh)
    return record


OTHER_VALID: dict[str, st.SearchStrategy[Record]] = {
    "callout": callout(),
    "getConferenceInfo": conference_command("getConferenceInfo", False),
    "kickAllParticipants": conference_command("kickAllParticipants", False),
    **{
        kind: conference_command(kind, True)
        for kind in (
            "muteParticipant",
            "unmuteParticipant",
            "holdParticipant",
            "resumeParticipant",
            "kickParticipant",
        )
    },
}
conference_commands = st.one_of(*(v for k, v in OTHER_VALID.items() if k != "callout"))


def decode(record: Record, key: bytes | None) -> c.Command | Rejection:
    return decode_command(key, json.dumps(record).encode(), max_bytes=MAX_BYTES)


@PROPERTY
@given(conference_commands)
def test_conference_commands_are_accepted_keyed_by_conference(record: Record) -> None:
    command = decode(record, record["conferenceId"].encode())
    assert not isinstance(command, Rejection), command
    assert command.about_conference() == record["conferenceId"]
    assert command.about_call() == record.get("callId")
    request = plan(command)
    assert request.harmless
    assert request.path.startswith(f"/calling/v1/conferences/id/{record['conferenceId']}")
    assert request.path.count("/") == 5 + ("callId" in record)


@PROPERTY
@given(conference_commands, call_ids)
def test_conference_commands_keyed_by_another_id_are_refused(record: Record, key: str) -> None:
    if key == record["conferenceId"]:
        return
    rejection = decode(record, key.encode())
    assert isinstance(rejection, Rejection)
    assert rejection.code is ErrorCode.KEY_MISMATCH
    assert "conferenceId" in rejection.message


@PROPERTY
@given(callout(), st.one_of(st.none(), st.binary(min_size=1, max_size=40)))
def test_callouts_take_any_key_and_are_never_harmless(record: Record, key: bytes | None) -> None:
    command = decode(record, key)
    assert not isinstance(command, Rejection), command
    assert command.about_call() is None
    request = plan(command)
    assert (request.method, request.path, request.harmless) == (
        "POST",
        "/calling/v1/callouts",
        False,
    )
    assert request.places_call
    assert json.loads(request.body) == record["callout"]


@PROPERTY
@given(callout(), st.sampled_from(["ttsCallout", "conferenceCallout", "customCallout"]))
def test_a_callout_must_carry_the_object_its_method_names(record: Record, method: str) -> None:
    body = record["callout"]
    if body["method"] == method:
        return
    broken = {**record, "callout": {**body, "method": method}}
    rejection = decode(broken, None)
    assert isinstance(rejection, Rejection)
    assert rejection.code is ErrorCode.INVALID_COMMAND
    assert f"callout.{method}: required" in rejection.message


@PROPERTY
@given(conference_commands, st.sampled_from(["", ".", "..", "a/b", "a b", "x" * 65, ".hidden"]))
def test_conference_ids_outside_the_pattern_are_refused(record: Record, bad: str) -> None:
    rejection = decode({**record, "conferenceId": bad}, None)
    assert isinstance(rejection, Rejection)
    assert rejection.message.startswith("conferenceId:")
