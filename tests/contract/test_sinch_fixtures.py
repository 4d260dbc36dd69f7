"""Sinch's own documented examples, in both directions (docs/sinch-fidelity.md).

Requests: every documented SVAML example for these endpoints passes the service's validation
(where the endpoint allows it) and the simulator's. Responses and errors: every documented
example normalises without losing a field.

The examples are re-typed from their sources (named on each), never generated from the models:
- JAVA-FIX: sinch/sinch-sdk-java@d747cc30, openapi-contracts/src/test/resources/domains/voice/v1/
- DOC-TAG: https://developers.sinch.com/docs/voice/api-reference/voice/tag/Calls/
- DOC-ACT: https://developers.sinch.com/docs/voice/api-reference/svaml/actions
- DOC-ERR: https://developers.sinch.com/docs/voice/api-reference/errors/
- LEGACY: sinch/docs@a7e241c5, docs/voice/voice-rest-api/voice-rest-api-callback-api.md
- NODE-E2E: sinch/sinch-sdk-node@affb35e5, the voice e2e steps (calls.steps.ts)
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import TypeAdapter

from service.domain import svaml
from service.domain.decode import Rejection, decode_command
from service.domain.sinch_answers import normalize_call
from service.sinch.errors import parse_error_body
from simulator.svaml_rules import ACTIONS, INSTRUCTIONS, validate_svaml

CALL = "4398599d1ba84ef3bde0a82dfb61abed"  # DOC-UPD's example call id

# --- requests: whole bodies, with the endpoint Sinch documents them for ------------------------

BODIES: dict[str, tuple[str, dict[str, Any]]] = {
    # JAVA-FIX calls/request/CallUpdateRequestDto.json (also the NODE/JAVA e2e update case)
    "java-call-update-request": (
        "E1",
        {
            "instructions": [
                {
                    "name": "say",
                    "text": "Sorry, the conference has been cancelled. The call will end now.",
                    "locale": "en-US",
                }
            ],
            "action": {"name": "hangup"},
        },
    ),
    # DOC-TAG: the update call request sample
    "doc-update-send-dtmf": (
        "E1",
        {"instructions": [{"name": "sendDtmf", "value": "1234#"}], "action": {"name": "hangup"}},
    ),
    # NODE-E2E and the JAVA e2e: manageWithCallLeg, callee
    "e2e-manage-with-call-leg": (
        "E3",
        {
            "instructions": [
                {
                    "name": "playFiles",
                    "ids": ["https://samples-files.com/samples/Audio/mp3/sample-file-4.mp3"],
                }
            ],
            "action": {"name": "continue"},
        },
    ),
    # LEGACY PlayFiles: a pre-recorded prompt by name
    "legacy-play-files-welcome": (
        "E1",
        {
            "instructions": [{"name": "playFiles", "ids": ["welcome"], "locale": "en-US"}],
            "action": {"name": "continue"},
        },
    ),
    # JAVA-FIX svaml/SvamlControlDto.json: say without a locale, recording, into a conference
    # (on E1 only as the answer that unparks a parked call)
    "java-svaml-control": (
        "E1",
        {
            "instructions": [
                {"name": "say", "text": "Hello from instruction"},
                {
                    "name": "startRecording",
                    "options": {
                        "destinationUrl": "s3://my-bucket/",
                        "credentials": "AKIAIOSFODNN7EXAMPLE:wJalrXUtnFEMI/K7MDENG/"
                        "bPxRfiCYEXAMPLEKEY:eu-central-1",
                        "notificationEvents": True,
                        "transcriptionOptions": {"enabled": True},
                    },
                },
            ],
            "action": {"name": "connectConf", "conferenceId": "My Conference Id"},
        },
    ),
}

# JAVA-FIX svaml/action/*.json and DOC-ACT examples: each action on its own.
ACTION_EXAMPLES: dict[str, dict[str, Any]] = {
    "SvamlActionHangupDto": {"name": "hangup"},
    "SvamlActionContinueDto": {"name": "continue"},
    "SvamlActionParkDto": {
        "name": "park",
        "locale": "en",
        "introPrompt": "intro prompt",
        "holdPrompt": "hold prompt",
        "maxDuration": 456,
    },
    "SvamlActionConnectPstnDto": {
        "name": "connectPstn",
        "number": "+123456789",
        "locale": "fr",
        "maxDuration": 123,
        "dialTimeout": 456,
        "cli": "cli value",
        "suppressCallbacks": True,
        "dtmf": "#w123",
        "indications": "unknown value",
        "amd": {"enabled": True, "async": True},
    },
    "doc-act-connect-pstn": {
        "name": "connectPstn",
        "number": "+461234567890",
        "locale": "en-US",
        "maxDuration": 3000,
        "dialTimeout": 10,
        "cli": "+460987654321",
        "suppressCallbacks": False,
        "indications": "se",
        "amd": {"enabled": True},
    },
    "SvamlActionConnectMxpDto": {
        "name": "connectMxp",
        "destination": {"type": "username", "endpoint": "a user string"},
        "callheaders": [{"key": "left string", "value": "right string"}],
    },
    "SvamlActionConnectSipDto": {
        "name": "connectSip",
        "destination": {"type": "sip", "endpoint": "a sip string"},
        "maxDuration": 456,
        "cli": "a cli value",
        "transport": "TLS",
        "suppressCallbacks": True,
        "callHeaders": [{"key": "left string", "value": "right string"}],
        "moh": "music2",
    },
    "SvamlActionConnectConferenceDto": {
        "name": "connectConf",
        "conferenceId": "My Conference Id",
        "conferenceDtmfOptions": {"mode": "forward", "maxDigits": 45, "timeoutMills": 456},
        "moh": "music3",
    },
    "SvamlActionRunMenuDto": {
        "name": "runMenu",
        "barge": True,
        "locale": "fr",
        "mainMenu": " the main menu",
        "enableVoice": False,
        "menus": [
            {
                "id": "the id",
                "mainPrompt": "main prompt",
                "repeatPrompt": "repeat prompt",
                "repeats": 5,
                "maxDigits": 18,
                "timeoutMills": 500,
                "maxTimeoutMills": 123456,
                "options": [{"dtmf": "#w", "action": "menu(foo)"}],
            }
        ],
    },
    "SvamlActionConnectStreamDto": {
        "name": "connectStream",
        "destination": {"type": "Websocket", "endpoint": "wss://yourcompany.com/websocket-server"},
        "maxDuration": 456,
        "callHeaders": [{"key": "left string", "value": "right string"}],
        "streamingOptions": {"version": 2, "sampleRate": 16000},
    },
}

# JAVA-FIX svaml/instruction/*.json
INSTRUCTION_EXAMPLES: dict[str, dict[str, Any]] = {
    "SvamlInstructionAnswerDto": {"name": "answer"},
    "SvamlInstructionPlayFilesDto": {"name": "playFiles", "ids": ["[Welcome]"], "locale": "en"},
    "SvamlInstructionSayDto": {"name": "say", "text": "[Welcome]", "locale": "en"},
    "SvamlInstructionSendDtmfDto": {"name": "sendDtmf", "value": "ww123#"},
    "SvamlInstructionSetCookieDto": {"name": "setCookie", "key": "a key", "value": "a value"},
    "SvamlInstructionStartRecordingDto": {
        "name": "startRecording",
        "options": {
            "destinationUrl": "destination value",
            "credentials": "credential value",
            "format": "mp3",
            "notificationEvents": True,
            "transcriptionOptions": {"enabled": True, "locale": "en-US"},
        },
    },
    "SvamlInstructionStopRecordingDto": {"name": "stopRecording"},
}

# Where each may go as a PATCH body (E1): unparking actions, and every instruction but answer.
E1_ACTIONS = {"hangup", "continue", "park", "connectPstn", "connectMxp", "connectSip"}
E1_ACTIONS |= {"connectConf", "runMenu"}


def service_accepts(body: dict[str, Any], endpoint: str) -> None:
    record = {"commandId": "fixture-1", "callId": CALL, "type": "svaml", "svaml": body}
    if endpoint == "E3":
        record["leg"] = "callee"
    decoded = decode_command(None, json.dumps(record).encode(), max_bytes=65_536)
    assert not isinstance(decoded, Rejection), decoded.message


@pytest.mark.parametrize(("endpoint", "body"), BODIES.values(), ids=BODIES.keys())
def test_documented_bodies_pass_the_service_and_the_simulator(
    endpoint: str, body: dict[str, Any]
) -> None:
    service_accepts(body, endpoint)
    validate_svaml(body, endpoint)  # type: ignore[arg-type]


@pytest.mark.parametrize("action", ACTION_EXAMPLES.values(), ids=ACTION_EXAMPLES.keys())
def test_documented_actions_pass_both(action: dict[str, Any]) -> None:
    TypeAdapter(svaml.Action).validate_python(action, by_alias=True)
    ACTIONS[action["name"]].check(action, "action")
    if action["name"] in E1_ACTIONS:
        service_accepts({"action": action}, "E1")
        validate_svaml({"action": action}, "E1")


@pytest.mark.parametrize(
    "instruction", INSTRUCTION_EXAMPLES.values(), ids=INSTRUCTION_EXAMPLES.keys()
)
def test_documented_instructions_pass_both(instruction: dict[str, Any]) -> None:
    TypeAdapter(svaml.Instruction).validate_python(instruction, by_alias=True)
    INSTRUCTIONS[instruction["name"]].check(instruction, "instructions[0]")
    if instruction["name"] != "answer":
        body = {"instructions": [instruction], "action": {"name": "continue"}}
        service_accepts(body, "E1")
        validate_svaml(body, "E1")


def test_unpark_command_takes_each_documented_ice_action() -> None:
    for name, action in ACTION_EXAMPLES.items():
        if action["name"] in svaml.UNPARK_ACTIONS | {"hangup"}:
            record = {"commandId": "u-1", "callId": CALL, "type": "unpark", "action": action}
            decoded = decode_command(None, json.dumps(record).encode(), max_bytes=65_536)
            assert not isinstance(decoded, Rejection), (name, decoded.message)


# --- responses ----------------------------------------------------------------------------------

RESPONSES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    # JAVA-FIX calls/GetCallInformationResponseDto.json
    "java-get-call-information": (
        {
            "from": {"type": "Username", "endpoint": "user name endpoint validation"},
            "to": {"type": "Number", "endpoint": "+33123456789"},
            "domain": "pstn",
            "callId": "a call UUID",
            "duration": 138,
            "status": "FINAL",
            "result": "ANSWERED",
            "reason": "CALLEEHANGUP",
            "timestamp": "2024-01-08T09:48:12",
            "custom": "{}",
            "userRate": {"currencyId": "EUR", "amount": 0.1758},
            "debit": {"currencyId": "EUR", "amount": 0.5274},
        },
        {
            "from": {"type": "username", "endpoint": "user name endpoint validation"},
            "to": {"type": "number", "endpoint": "+33123456789"},
            "domain": "pstn",
            "duration": 138,
            "status": "FINAL",
            "result": "ANSWERED",
            "reason": "CALLEEHANGUP",
            "timestamp": "2024-01-08T09:48:12.000Z",
            "custom": "{}",
            "userRate": {"currencyId": "EUR", "amount": 0.1758, "text": None},
            "debit": {"currencyId": "EUR", "amount": 0.5274, "text": None},
        },
    ),
    # DOC-TAG: the get call information sample (a numeric endpoint)
    "doc-get-call-information": (
        {
            "from": {"type": "number", "endpoint": 12125550123},
            "to": {"type": "number", "endpoint": 12125550123},
            "domain": "pstn",
            "callId": "801a3ba3-1dbd-4daf-b0b3-46e1e1fb9f52",
            "duration": 60,
            "status": "ONGOING",
            "result": "ANSWERED",
            "reason": "N/A",
            "timestamp": "2023-04-21T14:45:51",
            "custom": "string",
            "userRate": {"currencyId": "string", "amount": 0.1},
            "debit": {"currencyId": "string", "amount": 0.1},
        },
        {
            "from": {"type": "number", "endpoint": "12125550123"},
            "to": {"type": "number", "endpoint": "12125550123"},
            "domain": "pstn",
            "duration": 60,
            "status": "ONGOING",
            "result": "ANSWERED",
            "reason": "N/A",
            "timestamp": "2023-04-21T14:45:51.000Z",
            "custom": "string",
            "userRate": {"currencyId": "string", "amount": 0.1, "text": None},
            "debit": {"currencyId": "string", "amount": 0.1, "text": None},
        },
    ),
    # Sinch's older spec render: from/to and money as strings, custom an object
    "older-get-shape": (
        {
            "from": "+46700000001",
            "to": "alice",
            "domain": "mxp",
            "callid": "822aa4b7-05b4-4d83-87c7-1f835ee0b6f6_257",
            "duration": 12,
            "status": "FINAL",
            "result": "ANSWERED",
            "reason": "MANAGERHANGUP",
            "timestamp": "2014-09-24T10:59:41Z",
            "custom": {"team": "support"},
            "userRate": "0.0312",
            "debit": "EUR 0.0062",
        },
        {
            "from": {"type": None, "endpoint": "+46700000001"},
            "to": {"type": None, "endpoint": "alice"},
            "domain": "mxp",
            "duration": 12,
            "status": "FINAL",
            "result": "ANSWERED",
            "reason": "MANAGERHANGUP",
            "timestamp": "2014-09-24T10:59:41.000Z",
            "custom": '{"team":"support"}',
            "userRate": {"currencyId": None, "amount": 0.0312, "text": "0.0312"},
            "debit": {"currencyId": None, "amount": None, "text": "EUR 0.0062"},
        },
    ),
}


@pytest.mark.parametrize(("sent", "expected"), RESPONSES.values(), ids=RESPONSES.keys())
def test_documented_responses_normalise_without_losing_a_field(
    sent: dict[str, Any], expected: dict[str, Any]
) -> None:
    state = normalize_call(sent).model_dump(mode="json", by_alias=True)
    assert state == expected


ERRORS: dict[str, tuple[int, bytes, tuple[int | None, str | None, str | None, str | None]]] = {
    # DOC-ERR: the documented body, errorCode as a string
    "doc-err": (
        404,
        b'{"status":"404 Not Found","errorCode":"40400","message":"Call not found",'
        b'"reference":"a2028355-5164-41b6-aae9-2b8a546e0784"}',
        (40400, "Call not found", "a2028355-5164-41b6-aae9-2b8a546e0784", "404 Not Found"),
    ),
    # NODE-E2E: errorCode as a number, no status
    "node-e2e": (
        404,
        b'{"errorCode":40400,"message":"Call not found",'
        b'"reference":"38188074-1ea2-4dd2-8d43-0bcdb2fc2a1b"}',
        (40400, "Call not found", "38188074-1ea2-4dd2-8d43-0bcdb2fc2a1b", None),
    ),
    # DOC-ERR: 40004, a credentials problem answered as a 400
    "doc-err-40004": (
        400,
        b'{"status":"400 BadRequest","errorCode":40004,"message":"Application key is invalid"}',
        (40004, "Application key is invalid", None, "400 BadRequest"),
    ),
}


@pytest.mark.parametrize(("status", "body", "expected"), ERRORS.values(), ids=ERRORS.keys())
def test_documented_errors_keep_every_field(
    status: int, body: bytes, expected: tuple[int | None, str | None, str | None, str | None]
) -> None:
    parsed = parse_error_body(status, body)
    assert (parsed.error_code, parsed.message, parsed.reference, parsed.status_text) == expected
