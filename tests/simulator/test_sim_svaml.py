"""SVAML validation per endpoint (reference §2.1, §2.2, §2.4): over HTTP and on the rules."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.errors import ApiError
from simulator.svaml_rules import validate_svaml
from tests.simulator.simtest_support import Api, basic_headers, call_path, signed_headers


def say(text: str = "Hello", **extra: Any) -> dict[str, Any]:
    return {"name": "say", "text": text, "locale": "en-US", **extra}


async def assert_rejected(
    response: httpx.Response, code: int, message: str | None = None, *, prefix: str | None = None
) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["errorCode"] == code, body
    if message is not None:
        assert body["message"] == message
    if prefix is not None:
        assert body["message"].startswith(prefix), body["message"]


# --- the boundaries, over HTTP ---


async def test_say_600_characters_ok_601_rejected(api: Api, call_id: str) -> None:
    ok = await api.patch(call_id, {"instructions": [say("x" * 600)]})
    assert ok.status_code == 204
    too_long = await api.patch(call_id, {"instructions": [say("x" * 601)]})
    await assert_rejected(too_long, 40001, "instructions[0].text: at most 600 characters (got 601)")


async def test_say_counts_characters_not_bytes(api: Api, call_id: str) -> None:
    assert (await api.patch(call_id, {"instructions": [say("é" * 600)]})).status_code == 204


async def test_say_needs_text_and_locale(api: Api, call_id: str) -> None:
    no_locale = await api.patch(call_id, {"instructions": [{"name": "say", "text": "Hi"}]})
    await assert_rejected(no_locale, 40001, "instructions[0].locale: required")
    empty = await api.patch(call_id, {"instructions": [say("")]})
    await assert_rejected(empty, 40001, "instructions[0].text: must not be empty")


async def test_max_duration_14400_ok_14401_rejected(api: Api, call_id: str) -> None:
    ok = await api.patch(call_id, {"action": {"name": "park", "maxDuration": 14400}})
    assert ok.status_code == 204
    over = await api.patch(call_id, {"action": {"name": "park", "maxDuration": 14401}})
    await assert_rejected(over, 40001, "action.maxDuration: at most 14400 (got 14401)")
    zero = await api.patch(call_id, {"action": {"name": "park", "maxDuration": 0}})
    await assert_rejected(zero, 40001, "action.maxDuration: at least 1 (got 0)")


async def test_play_files_tts_needs_locale(api: Api, call_id: str) -> None:
    tts = {"name": "playFiles", "ids": ["https://example.com/a.mp3", "#tts[Goodbye]"]}
    rejected = await api.patch(call_id, {"instructions": [tts]})
    await assert_rejected(
        rejected,
        40001,
        "instructions[0].locale: required when ids contain #tts[...] or #ssml[...]",
    )
    with_locale = await api.patch(call_id, {"instructions": [{**tts, "locale": "en-US"}]})
    assert with_locale.status_code == 204
    url_only = {"name": "playFiles", "ids": ["https://example.com/a.mp3"]}
    assert (await api.patch(call_id, {"instructions": [url_only]})).status_code == 204


async def test_null_field_rejected(api: Api, call_id: str) -> None:
    response = await api.patch(call_id, {"instructions": [say(locale=None)]})
    await assert_rejected(response, 40001, prefix="instructions[0].locale: must not be null")


async def test_unknown_field_rejected(api: Api, call_id: str) -> None:
    response = await api.patch(call_id, {"instructions": [say(voice="Joanna")]})
    await assert_rejected(response, 40001, prefix="instructions[0].voice: unknown field")


async def test_snake_case_field_rejected_with_hint(api: Api, call_id: str) -> None:
    response = await api.patch(call_id, {"action": {"name": "park", "max_duration": 60}})
    await assert_rejected(
        response, 40001, "action.max_duration: unknown field (fields are camelCase: maxDuration)"
    )


async def test_e1_answer_rejected(api: Api, call_id: str) -> None:
    response = await api.patch(call_id, {"instructions": [{"name": "answer"}]})
    await assert_rejected(response, 40003, prefix="instructions[0].name: instruction 'answer'")


async def test_e1_connect_pstn_action_rejected(api: Api, call_id: str) -> None:
    response = await api.patch(call_id, {"action": {"name": "connectPstn", "number": "+4670"}})
    await assert_rejected(response, 40003, prefix="action.name: action 'connectPstn' is not")
    assert "(allowed: continue, hangup, park)" in response.json()["message"]


async def test_e3_send_dtmf_rejected_naming_the_instruction(api: Api, call_id: str) -> None:
    body = {"instructions": [say(), {"name": "sendDtmf", "value": "1"}]}
    response = await api.patch(call_id, body, leg="callee")
    await assert_rejected(response, 40003, prefix="instructions[1].name: instruction 'sendDtmf'")
    assert "(allowed: playFiles, say)" in response.json()["message"]


async def test_e3_park_rejected(api: Api, call_id: str) -> None:
    response = await api.patch(call_id, {"action": {"name": "park"}}, leg="caller")
    await assert_rejected(response, 40003, prefix="action.name: action 'park'")


async def test_malformed_json_is_40003(client: httpx.AsyncClient, call_id: str) -> None:
    path = call_path(call_id)
    body = b'{"action": {"name": "hangup"'
    response = await client.patch(path, content=body, headers=signed_headers("PATCH", path, body))
    await assert_rejected(response, 40003, prefix="body: malformed JSON")


@pytest.mark.parametrize(
    ("body", "prefix"),
    [
        (b"[]", "body: must be a JSON object (got array)"),
        (b'{"action":[{"name":"hangup"},{"name":"continue"}]}', "action: only one action"),
        (b'{"actions":{"name":"hangup"}}', "actions: unknown field"),
        (b'{"instructions":{"name":"say"}}', "instructions: must be an array"),
        (b'{"action":{"name":"dance"}}', "action.name: unknown action 'dance'"),
        (b'{"action":{"name":"park","maxDuration":NaN}}', "body: malformed JSON"),
        (b'{"action":{"name":"\xff"}}', "body: malformed JSON"),
    ],
)
async def test_not_an_svaml_object_is_40003(
    client: httpx.AsyncClient, call_id: str, body: bytes, prefix: str
) -> None:
    path = call_path(call_id)
    response = await client.patch(path, content=body, headers=signed_headers("PATCH", path, body))
    await assert_rejected(response, 40003, prefix=prefix)


async def test_patch_needs_json_content_type(client: httpx.AsyncClient, call_id: str) -> None:
    body = b'{"action":{"name":"hangup"}}'
    headers = {**basic_headers(), "Content-Type": "text/plain"}
    response = await client.patch(call_path(call_id), content=body, headers=headers)
    await assert_rejected(response, 40003, prefix="Content-Type: must be application/json")


async def test_empty_object_is_a_valid_noop(api: Api, call_id: str) -> None:
    # The Node SDK sends '{}' when no body is given.
    assert (await api.patch(call_id, {})).status_code == 204


async def test_ice_actions_on_e1_behind_the_setting(
    api: Api, client: httpx.AsyncClient, call_id: str
) -> None:
    await client.patch("/_admin/config", json={"allowIceActionsOnUpdate": True})
    conf = {"name": "connectConf", "conferenceId": "c" * 64}
    assert (await api.patch(call_id, {"action": conf})).status_code == 204
    too_long = await api.patch(call_id, {"action": {**conf, "conferenceId": "c" * 65}})
    await assert_rejected(too_long, 40001, "action.conferenceId: at most 64 characters (got 65)")
    # E3 stays limited to continue/hangup whatever the setting.
    leg = await api.patch(call_id, {"action": conf}, leg="both")
    await assert_rejected(leg, 40003)


# --- the rules themselves ---


def rejection(body: Any, endpoint: str = "E1", *, ice: bool = False) -> tuple[int, str]:
    with pytest.raises(ApiError) as caught:
        validate_svaml(body, endpoint, allow_ice_actions=ice)  # type: ignore[arg-type]
    return caught.value.code, caught.value.message


def accepted(body: Any, endpoint: str = "E1", *, ice: bool = False) -> None:
    validate_svaml(body, endpoint, allow_ice_actions=ice)  # type: ignore[arg-type]


def test_reference_examples_accepted() -> None:
    accepted({"instructions": [say()], "action": {"name": "hangup"}})
    accepted(
        {"instructions": [{"name": "sendDtmf", "value": "1234#"}], "action": {"name": "hangup"}}
    )
    accepted(
        {
            "instructions": [
                {"name": "playFiles", "ids": ["https://samples-files.com/sample.mp3"]}
            ],
            "action": {"name": "continue"},
        },
        "E3",
    )
    accepted(
        {
            "action": {
                "name": "park",
                "locale": "en-US",
                "introPrompt": "#tts[Please hold.]",
                "holdPrompt": "#tts[Still holding.]",
                "maxDuration": 180,
            }
        }
    )
    accepted(
        {
            "instructions": [
                {
                    "name": "startRecording",
                    "options": {
                        "destinationUrl": "s3://bucket/",
                        "credentials": "AKIA:secret:eu-central-1",
                        "format": "mp3",
                        "notificationEvents": True,
                        "transcriptionOptions": {"enabled": True, "locale": "en-US"},
                    },
                },
                {"name": "stopRecording"},
                {"name": "setCookie", "key": "k", "value": ""},
            ]
        }
    )


def test_play_files_ids_bounds_and_forms() -> None:
    ids = ["https://example.com/x.wav"]
    accepted({"instructions": [{"name": "playFiles", "ids": ids * 64}]})
    assert rejection({"instructions": [{"name": "playFiles", "ids": ids * 65}]}) == (
        40001,
        "instructions[0].ids: at most 64 items (got 65)",
    )
    assert rejection({"instructions": [{"name": "playFiles", "ids": []}]}) == (
        40001,
        "instructions[0].ids: at least 1 item(s) (got 0)",
    )
    for good in ("#href[https://example.com/a.mp3]", "#ssml[<speak>Hi</speak>]", "http://x/y"):
        accepted({"instructions": [{"name": "playFiles", "ids": [good], "locale": "en-US"}]})
    for bad in ("ftp://x/y", "#tts[]", "#href[not a url]", "hello", "#tts[open"):
        code, message = rejection(
            {"instructions": [{"name": "playFiles", "ids": [bad], "locale": "en-US"}]}
        )
        assert code == 40001
        assert message.startswith("instructions[0].ids[0]: must be an http(s) URL"), bad


def test_park_prompts_must_be_tts() -> None:
    code, message = rejection({"action": {"name": "park", "introPrompt": "https://x/y.mp3"}})
    assert (code, message) == (40001, "action.introPrompt: must be #tts[...] or #ssml[...]")


def test_types_are_strict() -> None:
    assert rejection({"action": {"name": "park", "maxDuration": "60"}}) == (
        40001,
        "action.maxDuration: must be an integer (got string)",
    )
    assert rejection({"action": {"name": "park", "maxDuration": True}}) == (
        40001,
        "action.maxDuration: must be an integer (got boolean)",
    )
    assert rejection({"action": {"name": "park", "maxDuration": 60.5}}) == (
        40001,
        "action.maxDuration: must be an integer (got 60.5)",
    )
    assert rejection({"instructions": [{"name": "sendDtmf", "value": 1234}]}) == (
        40001,
        "instructions[0].value: must be a string (got number)",
    )
    assert rejection({"instructions": [{"text": "hi"}]}) == (
        40001,
        "instructions[0].name: required",
    )
    assert rejection({"instructions": ["say"]})[0] == 40003
    assert rejection({"instructions": None}) == (
        40001,
        "instructions: must not be null (leave the field out instead)",
    )
    assert rejection({"action": None})[0] == 40001


def test_start_recording_requires_destination_and_credentials() -> None:
    base = {"name": "startRecording", "options": {"destinationUrl": "s3://b/"}}
    assert rejection({"instructions": [base]}) == (
        40001,
        "instructions[0].options.credentials: required",
    )
    bad_flag = {
        "name": "startRecording",
        "options": {"destinationUrl": "s3://b/", "credentials": "c", "notificationEvents": "yes"},
    }
    assert rejection({"instructions": [bad_flag]})[1] == (
        "instructions[0].options.notificationEvents: must be a boolean (got string)"
    )


def test_ice_action_fields() -> None:
    pstn = {
        "name": "connectPstn",
        "number": "+123456789",
        "maxDuration": 123,
        "dialTimeout": 456,
        "cli": "private",
        "suppressCallbacks": True,
        "dtmf": "#w123",
        "indications": "se",
        "amd": {"enabled": True, "async": True},
    }
    accepted({"action": pstn}, ice=True)
    assert rejection({"action": {**pstn, "number": "0701234567"}}, ice=True)[1] == (
        "action.number: must be an E.164 number, e.g. +46700000000"
    )
    sip = {
        "name": "connectSip",
        "destination": {"type": "Sip", "endpoint": "alice@example.com"},
        "transport": "TLS",
        "callHeaders": [{"key": "X-A", "value": "1"}],
    }
    accepted({"action": sip}, ice=True)
    assert rejection({"action": {**sip, "transport": "sctp"}}, ice=True)[1] == (
        "action.transport: must be one of udp, tcp, tls (got 'sctp')"
    )
    assert rejection({"action": {"name": "connectSip"}}, ice=True)[1] == (
        "action.destination: required"
    )
    stream = {
        "name": "connectStream",
        "destination": {"type": "Websocket", "endpoint": "wss://example.com/s"},
        "streamingOptions": {"version": 1, "sampleRate": 16000},
    }
    accepted({"action": stream}, ice=True)
    mxp = {"name": "connectMxp", "destination": {"type": "username", "endpoint": "bob"}}
    accepted({"action": mxp}, ice=True)
    dtmf_conf = {"mode": "detect", "maxDigits": 2, "timeoutMills": 3000}
    accepted(
        {
            "action": {
                "name": "connectConf",
                "conferenceId": "room",
                "conferenceDtmfOptions": dtmf_conf,
                "moh": "music1",
            }
        },
        ice=True,
    )


def test_run_menu_needs_exactly_one_main_menu() -> None:
    menu = {
        "id": "main",
        "mainPrompt": "#tts[Press 1; or 2];https://example.com/x.mp3",
        "options": [{"dtmf": "1", "action": "return(one)"}, {"dtmf": "2", "action": "menu(sub)"}],
    }
    sub = {"id": "sub", "mainPrompt": "#tts[Sub]", "options": [{"dtmf": "#", "action": "return"}]}
    run_menu = {"name": "runMenu", "locale": "en-US", "menus": [menu, sub]}
    accepted({"action": run_menu}, ice=True)
    assert rejection({"action": {**run_menu, "menus": [sub]}}, ice=True)[1] == (
        "action.menus: one menu must have id 'main'"
    )
    assert rejection({"action": {**run_menu, "menus": [menu, menu, sub]}}, ice=True)[1] == (
        "action.menus[1].id: duplicate menu id 'main'"
    )
    assert rejection({"action": {**run_menu, "menus": [menu]}}, ice=True)[1] == (
        "action.menus[0].options[1].action: refers to unknown menu 'sub'"
    )
    numeric_dtmf = {**menu, "options": [{"dtmf": 1, "action": "return"}]}
    assert rejection({"action": {**run_menu, "menus": [numeric_dtmf]}}, ice=True)[1] == (
        "action.menus[0].options[0].dtmf: must be a string (got number)"
    )
    voice = {"name": "runMenu", "enableVoice": True, "menus": [{"id": "main"}]}
    assert rejection({"action": voice}, ice=True)[1] == (
        "action.locale: required when enableVoice is true"
    )


# --- properties ---

DTMF = re.compile(r"[0-9#w]{1,64}")


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=0, max_size=700))
def test_say_text_accepted_exactly_when_1_to_600_characters(text: str) -> None:
    body = {"instructions": [say(text)]}
    if 1 <= len(text) <= 600:
        accepted(body)
    else:
        assert rejection(body)[0] == 40001


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789#w*aW ", min_size=0, max_size=70))
def test_dtmf_accepted_exactly_when_it_matches(value: str) -> None:
    body = {"instructions": [{"name": "sendDtmf", "value": value}]}
    if DTMF.fullmatch(value):
        accepted(body)
    else:
        assert rejection(body) == (40001, "instructions[0].value: must match ^[0-9#w]{1,64}$")


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=-(10**6), max_value=10**6))
def test_max_duration_accepted_exactly_within_1_to_14400(value: int) -> None:
    body = {"action": {"name": "park", "maxDuration": value}}
    if 1 <= value <= 14400:
        accepted(body)
    else:
        assert rejection(body)[0] == 40001
