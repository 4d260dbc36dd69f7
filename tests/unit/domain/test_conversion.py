"""Command → Sinch request, byte for byte (docs/contract.md, "Commands", the request each
one becomes), the boundaries of every rule through `decode_command`, and where secrets may go."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

import pytest

from service.domain import commands as c
from service.domain.decode import Rejection, decode_command
from service.domain.plan import CallRequest, plan, read_call
from service.domain.results import ErrorCode

CALL = "c0ffee-1234_abcd"
E1 = f"/calling/v1/calls/id/{CALL}"
E2 = E1
MAX_BYTES = 65_536
COMMON = {
    "issuedAt": "2026-11-26T23:41:07.123Z",
    "expiresAt": "2026-11-26T23:46:07Z",
    "snapshot": False,
    "metadata": {"tenant": "acme", "n": [1, 2.5, None, True]},
}


def record(type_: str, **fields: Any) -> dict[str, Any]:
    return {"commandId": "cmd-1", "callId": CALL, "type": type_, **fields}


CONFERENCE = "room-1.a~b"
CONF = f"/calling/v1/conferences/id/{CONFERENCE}"


def conference(type_: str, **fields: Any) -> dict[str, Any]:
    return {"commandId": "cmd-1", "conferenceId": CONFERENCE, "type": type_, **fields}


# Sinch's own fixtures (sinch-sdk-java openapi-contracts/src/test/resources/domains/voice/v1/
# callouts/CalloutRequest{Tts,Conference,Custom}Dto.json), sent byte for byte as given.
TTS_CALLOUT = {
    "method": "ttsCallout",
    "ttsCallout": {
        "cli": "+14045001000",
        "destination": {"type": "username", "endpoint": "an user name"},
        "dtmf": "w123#",
        "domain": "pstn",
        "custom": "my custom value",
        "locale": "en-US",
        "text": "text value",
        "prompts": '#ssml[<speak><p>Your PIN code is <say-as interpret-as="digits">1234'
        "</say-as></p><p>Please enter it now</p></speak>]",
        "enableAce": True,
        "enableDice": True,
        "enablePie": True,
    },
}
CONFERENCE_CALLOUT = {
    "method": "conferenceCallout",
    "conferenceCallout": {
        "cli": "+14045001000",
        "destination": {"type": "number", "endpoint": "+14045005000"},
        "locale": "en-US",
        "greeting": "Welcome to my conference",
        "conferenceId": "MyConfId",
        "conferenceDtmfOptions": {"mode": "detect", "maxDigits": 3, "timeoutMills": 456},
        "dtmf": "w123#",
        "maxDuration": 32,
        "enableAce": True,
        "enableDice": True,
        "enablePie": True,
        "mohClass": "music2",
        "custom": "my custom value",
        "domain": "pstn",
    },
}
CUSTOM_CALLOUT = {
    "method": "customCallout",
    "customCallout": {
        "cli": "+14045001000",
        "destination": {"type": "number", "endpoint": "+14045005000"},
        "dtmf": "w123#",
        "custom": "my custom value",
        "maxDuration": 32,
        "ice": '{"action":{"name":"connectPstn","number":"+12233445566","cli":"+12234325234",'
        '"amd":{"enabled":true}}}',
        "ace": '{"instructions":[{"name":"say","text":"Hello, this is a call from Sinch!"}],'
        '"action":{"name":"hangup"}}',
        "pie": "https://your-application-server-host/application",
    },
}


def encode(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode()


def decode(
    data: Any, *, key: bytes | None = CALL.encode(), max_bytes: int = MAX_BYTES
) -> c.Command | Rejection:
    return decode_command(key, encode(data), max_bytes=max_bytes)


def accepted(data: dict[str, Any]) -> c.Command:
    named = data.get("conferenceId") or data.get("callId")
    command = decode(data, key=named.encode() if isinstance(named, str) else None)
    assert not isinstance(command, Rejection), command
    return command


def rejected(data: Any, *, key: bytes | None = CALL.encode()) -> Rejection:
    result = decode(data, key=key)
    assert isinstance(result, Rejection), f"accepted: {result!r}"
    return result


# --- the request each command becomes -----------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    command: dict[str, Any]
    method: Literal["GET", "PATCH", "POST", "DELETE"]
    path: str
    body: bytes
    harmless: bool
    resource: Literal["call", "conference", "callout"] = "call"


START_OPTIONS = {
    "destinationUrl": "s3://recordings/calls/",
    "credentials": "AKIAEXAMPLE:secret:eu-central-1",
    "format": "wav",
    "notificationEvents": False,
    "transcriptionOptions": {"enabled": True, "locale": "en-US"},
}

CASES = [
    Case("hangup", record("hangup"), "PATCH", E1, b'{"action":{"name":"hangup"}}', True),
    Case(
        "say-default-then",
        record("say", text="Hello", locale="en-US"),
        "PATCH",
        E1,
        b'{"instructions":[{"name":"say","text":"Hello","locale":"en-US"}],'
        b'"action":{"name":"continue"}}',
        False,
    ),
    Case(
        "say-then-continue",
        record("say", text="Hello", locale="en-US", then="continue"),
        "PATCH",
        E1,
        b'{"instructions":[{"name":"say","text":"Hello","locale":"en-US"}],'
        b'"action":{"name":"continue"}}',
        False,
    ),
    Case(
        "say-then-hangup",
        record("say", text="Bye", locale="sv-SE", then="hangup"),
        "PATCH",
        E1,
        b'{"instructions":[{"name":"say","text":"Bye","locale":"sv-SE"}],'
        b'"action":{"name":"hangup"}}',
        False,
    ),
    *(
        Case(
            f"say-leg-{leg}",
            record("say", text="Hi", locale="en-US/female", leg=leg),
            "PATCH",
            f"{E1}/leg/{leg}",
            b'{"instructions":[{"name":"say","text":"Hi","locale":"en-US/female"}],'
            b'"action":{"name":"continue"}}',
            False,
        )
        for leg in ("caller", "callee", "both")
    ),
    Case(
        "say-leg-null-is-e1",
        record("say", text="Hi", locale="en-US", leg=None),
        "PATCH",
        E1,
        b'{"instructions":[{"name":"say","text":"Hi","locale":"en-US"}],'
        b'"action":{"name":"continue"}}',
        False,
    ),
    Case(
        "say-unicode-text",
        record("say", text='Grüße, "Åsa" \u2013 👋', locale="de-DE"),
        "PATCH",
        E1,
        '{"instructions":[{"name":"say","text":"Grüße, \\"Åsa\\" \u2013 👋","locale":"de-DE"}],'
        '"action":{"name":"continue"}}'.encode(),
        False,
    ),
    Case(
        "play-files-url-no-locale",
        record("playFiles", ids=["https://media.example.com/a.wav"]),
        "PATCH",
        E1,
        b'{"instructions":[{"name":"playFiles","ids":["https://media.example.com/a.wav"]}],'
        b'"action":{"name":"continue"}}',
        False,
    ),
    Case(
        "play-files-all-fields-e3",
        record(
            "playFiles",
            ids=["#tts[Hi]", "#ssml[<speak>Yo</speak>]", "#href[https://m.example/b.mp3]"],
            locale="en-GB",
            leg="both",
            then="hangup",
        ),
        "PATCH",
        f"{E1}/leg/both",
        b'{"instructions":[{"name":"playFiles","ids":["#tts[Hi]","#ssml[<speak>Yo</speak>]",'
        b'"#href[https://m.example/b.mp3]"],"locale":"en-GB"}],"action":{"name":"hangup"}}',
        False,
    ),
    Case(
        "send-dtmf",
        record("sendDtmf", value="ww1234#w#"),
        "PATCH",
        E1,
        b'{"instructions":[{"name":"sendDtmf","value":"ww1234#w#"}],"action":{"name":"continue"}}',
        False,
    ),
    Case(
        "park-all-fields",
        record(
            "park",
            introPrompt="#tts[Please hold.]",
            holdPrompt="#tts[Still holding.]",
            locale="en-US",
            maxDuration=180,
        ),
        "PATCH",
        E1,
        b'{"action":{"name":"park","locale":"en-US","introPrompt":"#tts[Please hold.]",'
        b'"holdPrompt":"#tts[Still holding.]","maxDuration":180}}',
        False,
    ),
    Case("park-no-fields", record("park"), "PATCH", E1, b'{"action":{"name":"park"}}', False),
    Case(
        "park-ssml-hold-only",
        record("park", holdPrompt="#ssml[<speak>Hold</speak>]", maxDuration=600),
        "PATCH",
        E1,
        b'{"action":{"name":"park","holdPrompt":"#ssml[<speak>Hold</speak>]","maxDuration":600}}',
        False,
    ),
    Case(
        "unpark",
        record("unpark", action={"name": "connectPstn", "number": "+46700000000"}),
        "PATCH",
        E1,
        b'{"action":{"name":"connectPstn","number":"+46700000000"}}',
        False,
    ),
    Case(
        "unpark-hangup",
        record("unpark", action={"name": "hangup"}),
        "PATCH",
        E1,
        b'{"action":{"name":"hangup"}}',
        True,
    ),
    Case(
        "unpark-conference-with-instructions",
        record(
            "unpark",
            instructions=[{"name": "say", "text": "Joining", "locale": "en-US"}],
            action={"name": "connectConf", "conferenceId": "room-1"},
        ),
        "PATCH",
        E1,
        b'{"instructions":[{"name":"say","text":"Joining","locale":"en-US"}],'
        b'"action":{"name":"connectConf","conferenceId":"room-1"}}',
        False,
    ),
    Case(
        "start-recording-all-fields",
        record("startRecording", options=START_OPTIONS),
        "PATCH",
        E1,
        b'{"instructions":[{"name":"startRecording","options":{"destinationUrl":'
        b'"s3://recordings/calls/","credentials":"AKIAEXAMPLE:secret:eu-central-1","format":"wav",'
        b'"notificationEvents":false,"transcriptionOptions":{"enabled":true,"locale":"en-US"}}}],'
        b'"action":{"name":"continue"}}',
        False,
    ),
    Case(
        "start-recording-required-only",
        record("startRecording", options={"destinationUrl": "s3://b/", "credentials": "k"}),
        "PATCH",
        E1,
        b'{"instructions":[{"name":"startRecording","options":{"destinationUrl":"s3://b/",'
        b'"credentials":"k"}}],"action":{"name":"continue"}}',
        False,
    ),
    Case(
        "start-recording-transcription-empty",
        record(
            "startRecording",
            options={"destinationUrl": "s3://b/", "credentials": "k", "transcriptionOptions": {}},
        ),
        "PATCH",
        E1,
        b'{"instructions":[{"name":"startRecording","options":{"destinationUrl":"s3://b/",'
        b'"credentials":"k","transcriptionOptions":{}}}],"action":{"name":"continue"}}',
        False,
    ),
    Case(
        "stop-recording",
        record("stopRecording"),
        "PATCH",
        E1,
        b'{"instructions":[{"name":"stopRecording"}],"action":{"name":"continue"}}',
        True,
    ),
    Case(
        "svaml-e1-passthrough",
        record(
            "svaml",
            svaml={
                "action": {"name": "hangup"},
                "instructions": [
                    {"name": "setCookie", "key": "k", "value": ""},
                    {"locale": "en-US", "text": "Bye", "name": "say"},
                    {"name": "sendDtmf", "value": "1"},
                    {"name": "stopRecording"},
                ],
            },
        ),
        "PATCH",
        E1,
        b'{"instructions":[{"name":"setCookie","key":"k","value":""},'
        b'{"name":"say","text":"Bye","locale":"en-US"},{"name":"sendDtmf","value":"1"},'
        b'{"name":"stopRecording"}],"action":{"name":"hangup"}}',
        False,
    ),
    Case(
        "svaml-e1-park-action",
        record(
            "svaml",
            svaml={"action": {"name": "park", "maxDuration": 60, "introPrompt": "#tts[Hold]"}},
        ),
        "PATCH",
        E1,
        b'{"action":{"name":"park","introPrompt":"#tts[Hold]","maxDuration":60}}',
        False,
    ),
    Case(
        "svaml-e1-nulls-left-out",
        record("svaml", svaml={"instructions": None, "action": {"name": "hangup"}}),
        "PATCH",
        E1,
        b'{"action":{"name":"hangup"}}',
        True,
    ),
    Case(
        "svaml-continue-only",
        record("svaml", svaml={"action": {"name": "continue"}}),
        "PATCH",
        E1,
        b'{"action":{"name":"continue"}}',
        True,
    ),
    Case(
        "svaml-empty-instructions-hangup",
        record("svaml", svaml={"instructions": [], "action": {"name": "hangup"}}),
        "PATCH",
        E1,
        b'{"instructions":[],"action":{"name":"hangup"}}',
        True,
    ),
    Case(
        "svaml-e3-passthrough",
        record(
            "svaml",
            leg="callee",
            svaml={
                "instructions": [
                    {"name": "playFiles", "ids": ["#tts[Hi]"], "locale": "en-US"},
                    {"name": "say", "text": "Time is up.", "locale": "en-US"},
                ],
                "action": {"name": "hangup"},
            },
        ),
        "PATCH",
        f"{E1}/leg/callee",
        b'{"instructions":[{"name":"playFiles","ids":["#tts[Hi]"],"locale":"en-US"},'
        b'{"name":"say","text":"Time is up.","locale":"en-US"}],"action":{"name":"hangup"}}',
        False,
    ),
    Case(
        "svaml-e3-hangup-only",
        record("svaml", leg="caller", svaml={"action": {"name": "hangup"}}),
        "PATCH",
        f"{E1}/leg/caller",
        b'{"action":{"name":"hangup"}}',
        True,
    ),
    Case("get-call-info", record("getCallInfo"), "GET", E2, b"", True),
    *[
        Case(
            f"callout-{case_id}",
            {"commandId": "cmd-1", "type": "callout", "callout": body},
            "POST",
            "/calling/v1/callouts",
            json.dumps(body, separators=(",", ":")).encode(),
            False,
            "callout",
        )
        for case_id, body in [
            ("tts", TTS_CALLOUT),
            ("conference", CONFERENCE_CALLOUT),
            ("custom", CUSTOM_CALLOUT),
        ]
    ],
    Case(
        "get-conference-info",
        conference("getConferenceInfo"),
        "GET",
        CONF,
        b"",
        True,
        "conference",
    ),
    Case(
        "kick-all",
        conference("kickAllParticipants"),
        "DELETE",
        CONF,
        b"",
        True,
        "conference",
    ),
    Case(
        "kick-participant",
        conference("kickParticipant", callId=CALL),
        "DELETE",
        f"{CONF}/{CALL}",
        b"",
        True,
        "conference",
    ),
    *[
        Case(
            kind,
            conference(kind, callId=CALL, **extra),
            "PATCH",
            f"{CONF}/{CALL}",
            sent,
            True,
            "conference",
        )
        for kind, extra, sent in [
            ("muteParticipant", {}, b'{"command":"mute"}'),
            ("unmuteParticipant", {}, b'{"command":"unmute"}'),
            ("holdParticipant", {}, b'{"command":"onhold"}'),
            ("holdParticipant", {"moh": "music2"}, b'{"command":"onhold","moh":"music2"}'),
            ("resumeParticipant", {}, b'{"command":"resume"}'),
        ]
    ],
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_command_becomes_its_request(case: Case) -> None:
    request = plan(accepted(case.command))
    ends_call = case.body is not None and b'"action":{"name":"hangup"}' in case.body
    ends_call = ends_call or (case.resource == "conference" and case.method == "DELETE")
    assert request == CallRequest(
        case.method,
        case.path,
        case.body,
        None,
        case.harmless,
        ends_call=ends_call,
        resource=case.resource,
    )


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_common_fields_change_nothing_but_the_region(case: Case) -> None:
    plain = plan(accepted(case.command))
    rich = plan(accepted({**case.command, **COMMON, "region": "sae1"}))
    assert (rich.method, rich.path, rich.body, rich.harmless) == (
        plain.method,
        plain.path,
        plain.body,
        plain.harmless,
    )
    assert rich.region == "sae1"
    assert plain.region is None


@pytest.mark.parametrize("region", ["use1", "euc1", "sae1", "apse1", "apse2"])
def test_region_goes_with_the_request_and_its_snapshot_read(region: str) -> None:
    command = accepted(record("hangup", region=region))
    assert plan(command).region == region
    assert read_call(command) == CallRequest("GET", E2, b"", region, True)


def test_every_command_type_has_a_conversion_case() -> None:
    assert {case.command["type"] for case in CASES} == set(c.COMMAND_TYPES)


def test_only_the_documented_types_are_harmless() -> None:
    harmless = {case.command["type"] for case in CASES if case.harmless}
    assert harmless == {"hangup", "unpark", "stopRecording", "getCallInfo", "svaml"} | set(
        c.CONFERENCE_TYPES
    )
    svaml_harmless = {case.id for case in CASES if case.harmless and case.id.startswith("svaml")}
    assert svaml_harmless == {
        "svaml-e1-nulls-left-out",
        "svaml-continue-only",
        "svaml-empty-instructions-hangup",
        "svaml-e3-hangup-only",
    }


@pytest.mark.parametrize("case", [k for k in CASES if k.body], ids=lambda case: case.id)
def test_echo_is_the_body_sent(case: Case) -> None:
    command = accepted(case.command)
    request = plan(command)
    echo = request.echo()
    assert echo["method"] == request.method
    assert echo["path"] == request.path
    sent = json.loads(request.body)
    if "startRecording" in request.body.decode():
        for instruction in sent["instructions"]:
            if instruction["name"] == "startRecording":
                instruction["options"]["credentials"] = c.REDACTED
    assert echo["body"] == sent


def test_get_echo_has_no_body() -> None:
    command = accepted(record("getCallInfo"))
    assert plan(command).echo() == {"method": "GET", "path": E2, "body": None}


# --- boundaries, through decode_command ----------------------------------------------------

URL = "https://media.example.com/a.wav"
BOUNDARIES_OK = {
    "text-1": record("say", text="x", locale="en-US"),
    "text-600": record("say", text="x" * 600, locale="en-US"),
    "text-600-astral": record("say", text="👋" * 600, locale="en-US"),
    "max-duration-1": record("park", maxDuration=1),
    "max-duration-600": record("park", maxDuration=600),
    "ids-1": record("playFiles", ids=[URL]),
    "ids-64": record("playFiles", ids=[URL] * 64),
    "tts-with-locale": record("playFiles", ids=[URL, "#tts[Hi]"], locale="en-US"),
    "ssml-with-locale": record("playFiles", ids=["#ssml[<speak/>]"], locale="en-US"),
    "href-without-locale": record("playFiles", ids=[f"#href[{URL}]"]),
    "call-id-128": {"commandId": "a", "callId": "b" * 128, "type": "hangup"},
    "call-id-1": {"commandId": "a", "callId": "b", "type": "hangup"},
    "command-id-128": record("hangup", commandId="a" * 128),
    "command-id-all-chars": record("hangup", commandId="Az09._:-"),
    "dtmf-64": record("sendDtmf", value="0123456789#w" * 5 + "0123"),
    "locale-64": record("say", text="x", locale="l" * 64),
    "metadata-4096": record("hangup", metadata={"k": "x" * 4088}),
    "metadata-4096-utf8": record("hangup", metadata={"k": "é" * 2044}),
    "metadata-empty": record("hangup", metadata={}),
}
BOUNDARIES_REJECTED = {
    "text-0": (record("say", text="", locale="en-US"), "text: "),
    "text-601": (record("say", text="x" * 601, locale="en-US"), "text: "),
    "max-duration-0": (record("park", maxDuration=0), "maxDuration: "),
    "max-duration-601": (record("park", maxDuration=601), "maxDuration: "),
    "max-duration-float": (record("park", maxDuration=60.5), "maxDuration: "),
    "ids-0": (record("playFiles", ids=[]), "ids: "),
    "ids-65": (record("playFiles", ids=[URL] * 65), "ids: "),
    "tts-without-locale": (record("playFiles", ids=[URL, "#tts[Hi]"]), "locale: "),
    "ssml-without-locale": (record("playFiles", ids=["#ssml[<speak/>]"]), "locale: "),
    "say-without-locale": (record("say", text="Hi"), "locale: "),
    "locale-65": (record("say", text="x", locale="l" * 65), "locale: "),
    "locale-empty": (record("say", text="x", locale=""), "locale: "),
    "call-id-129": ({"commandId": "a", "callId": "b" * 129, "type": "hangup"}, "callId: "),
    "call-id-0": ({"commandId": "a", "callId": "", "type": "hangup"}, "callId: "),
    "call-id-dot": ({"commandId": "a", "callId": "b.c", "type": "hangup"}, "callId: "),
    "command-id-129": (record("hangup", commandId="a" * 129), "commandId: "),
    "command-id-slash": (record("hangup", commandId="a/b"), "commandId: "),
    "dtmf-65": (record("sendDtmf", value="1" * 65), "value: "),
    "dtmf-star": (record("sendDtmf", value="1*"), "value: "),
    "metadata-4097": (record("hangup", metadata={"k": "x" * 4089}), "metadata: "),
    "metadata-4097-utf8": (record("hangup", metadata={"k": "é" * 2044 + "x"}), "metadata: "),
}


@pytest.mark.parametrize("data", BOUNDARIES_OK.values(), ids=BOUNDARIES_OK.keys())
def test_boundary_accepted(data: dict[str, Any]) -> None:
    command = decode(data, key=data["callId"].encode())
    assert not isinstance(command, Rejection), command
    assert command.type == data["type"]


@pytest.mark.parametrize(
    ("data", "field"), BOUNDARIES_REJECTED.values(), ids=BOUNDARIES_REJECTED.keys()
)
def test_boundary_rejected(data: dict[str, Any], field: str) -> None:
    rejection = rejected(data, key=None)
    assert rejection.code is ErrorCode.INVALID_COMMAND
    assert rejection.message.startswith(field), rejection.message


def test_metadata_limit_is_on_compact_utf8_bytes() -> None:
    exact = {"k": "x" * 4088}
    assert len(json.dumps(exact, separators=(",", ":")).encode()) == 4096
    assert "got 4097" in rejected(record("hangup", metadata={"k": "x" * 4089})).message


def test_rejection_keeps_readable_ids_for_the_result() -> None:
    rejection = rejected(record("say", text="x" * 601, locale="en-US"))
    assert (rejection.command_id, rejection.call_id, rejection.type) == ("cmd-1", CALL, "say")


# --- record-level rejections ---------------------------------------------------------------


def test_key_mismatch() -> None:
    rejection = rejected(record("hangup"), key=b"another-call")
    assert rejection.code is ErrorCode.KEY_MISMATCH
    assert "callId" in rejection.message
    assert (rejection.command_id, rejection.call_id, rejection.type) == ("cmd-1", CALL, "hangup")


def test_no_key_is_not_a_mismatch() -> None:
    assert not isinstance(decode(record("hangup"), key=None), Rejection)


def test_too_large_is_checked_before_parsing() -> None:
    value = b"{" + b" " * 200 + b"}"
    rejection = decode_command(CALL.encode(), value, max_bytes=len(value) - 1)
    assert rejection == Rejection(
        ErrorCode.TOO_LARGE,
        f"record value is {len(value)} bytes, the limit is {len(value) - 1}",
        call_id=CALL,
    )


def test_value_of_exactly_max_bytes_is_read() -> None:
    value = encode(record("hangup"))
    assert not isinstance(decode_command(CALL.encode(), value, max_bytes=len(value)), Rejection)
    too_large = decode_command(CALL.encode(), value, max_bytes=len(value) - 1)
    assert isinstance(too_large, Rejection)
    assert too_large.code is ErrorCode.TOO_LARGE


@pytest.mark.parametrize(
    "value", [b"not json", b"{", b'{"commandId": "a",}', b"\xff\xfe{}", b""], ids=repr
)
def test_not_json(value: bytes) -> None:
    rejection = decode_command(CALL.encode(), value, max_bytes=MAX_BYTES)
    assert isinstance(rejection, Rejection)
    assert rejection.code is ErrorCode.NOT_JSON
    assert rejection.call_id == CALL
    assert rejection.command_id is None


@pytest.mark.parametrize(
    ("value", "kind"),
    [(b"[]", "an array"), (b'[{"type": "hangup"}]', "an array"), (b"42", "a number")],
)
def test_json_that_is_not_an_object(value: bytes, kind: str) -> None:
    rejection = decode_command(CALL.encode(), value, max_bytes=MAX_BYTES)
    assert isinstance(rejection, Rejection)
    assert rejection.code is ErrorCode.INVALID_COMMAND
    assert rejection.message == f"a command is a JSON object, got {kind}"


def test_unreadable_key_is_not_reported_as_call_id() -> None:
    rejection = decode_command(b"\xff", b"nope", max_bytes=MAX_BYTES)
    assert isinstance(rejection, Rejection)
    assert rejection.call_id is None


# --- secrets -------------------------------------------------------------------------------

SECRET = "AKIAZZSECRET7Q:wJalrXUtnFEMI-K7MDENG-bPxRfiCY:eu-central-1"


def recording(**options: Any) -> dict[str, Any]:
    return record(
        "startRecording",
        options={"destinationUrl": "s3://rec/", "credentials": SECRET, **options},
    )


def raw_recording(**options: Any) -> dict[str, Any]:
    instruction = {
        "name": "startRecording",
        "options": {"destinationUrl": "s3://rec/", "credentials": SECRET, **options},
    }
    return record("svaml", svaml={"instructions": [instruction], "action": {"name": "continue"}})


@pytest.mark.parametrize("data", [recording(), raw_recording()], ids=["startRecording", "svaml"])
def test_credentials_are_sent_but_never_echoed(data: dict[str, Any]) -> None:
    command = accepted(data)
    request = plan(command)
    assert SECRET.encode() in request.body, "Sinch needs the credentials"
    assert SECRET not in json.dumps(request.echo())
    assert c.REDACTED in json.dumps(request.echo())
    assert SECRET not in json.dumps(command.redacted())
    assert c.REDACTED in json.dumps(command.redacted())
    # Redacting copies: the command and the request still carry the secret afterwards.
    assert SECRET.encode() in plan(command).body


@pytest.mark.parametrize(
    "data",
    [
        recording(format=""),
        recording(notificationEvents="yes"),
        recording(transcriptionOptions={"enabled": "on"}),
        recording(extra=SECRET),
        {**recording(), "then": "hangup"},
        record("startRecording", options={"destinationUrl": "", "credentials": SECRET}),
        record("startRecording", options={"destinationUrl": 7, "credentials": SECRET}),
        record("startRecording", options={"destinationUrl": "s3://r/", "credentials": [SECRET]}),
        record(
            "startRecording", options={"destinationUrl": "s3://r/", "credentials": SECRET, "x": 1}
        ),
        raw_recording(format=""),
        {**raw_recording(), "leg": "both"},
        {**raw_recording(), "svaml": {"instructions": [{"name": "answer", "x": SECRET}]}},
        record("say", text=SECRET * 20, locale="en-US"),
        record("say", text=SECRET, locale=SECRET * 2),
        record("hangup", metadata={"secret": SECRET * 100}),
        record("playFiles", ids=["#" + SECRET]),
        record("park", introPrompt="#" + SECRET),
    ],
)
def test_rejection_messages_never_echo_a_secret(data: dict[str, Any]) -> None:
    rejection = rejected(data, key=None)
    assert SECRET not in rejection.message
    assert SECRET not in repr(rejection)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({**recording(), "commandId": SECRET + "/"}, "command_id"),
        ({**recording(), "callId": SECRET}, "call_id"),
    ],
)
def test_invalid_ids_are_echoed_for_correlation_but_never_in_the_message(
    data: dict[str, Any], field: str
) -> None:
    """Issue 10: a rejected result carries commandId and callId as sent (strings, escaped and
    bounded), so the sender can find it; ids are identifiers by contract, not secrets. The
    message, which also goes to the dead-letter headers, still never holds a value."""
    rejection = rejected(data, key=None)
    assert SECRET not in rejection.message
    assert getattr(rejection, field) == data["commandId" if field == "command_id" else "callId"]


# --- known gaps ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (record("playFiles", ids=[URL + "\n"]), "ids[0]"),
        (record("playFiles", ids=["#tts[Hello]\n"], locale="en-US"), "ids[0]"),
        (record("park", introPrompt="#tts[Please hold.]\n"), "introPrompt"),
        (record("park", holdPrompt="#ssml[<speak/>]\n"), "holdPrompt"),
    ],
    ids=["url", "tts", "park-intro", "park-hold"],
)
def test_prompt_with_a_trailing_newline_is_rejected(data: dict[str, Any], field: str) -> None:
    # `^...$` with `re.match` lets a final "\n" through; Sinch (and the simulator) reject it.
    rejection = rejected(data)
    assert rejection.code is ErrorCode.INVALID_COMMAND
    assert rejection.message.startswith(f"{field}: ")
