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


CONTINUE = {"name": "continue"}


def with_action(*instructions: dict[str, Any]) -> dict[str, Any]:
    """Instructions never go alone: Sinch needs an action beside them."""
    return {"instructions": list(instructions), "action": CONTINUE}


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
    ok = await api.patch(call_id, with_action(say("x" * 600)))
    assert ok.status_code == 204
    too_long = await api.patch(call_id, with_action(say("x" * 601)))
    await assert_rejected(too_long, 40001, "instructions[0].text: at most 600 characters (got 601)")


async def test_say_counts_characters_not_bytes(api: Api, call_id: str) -> None:
    assert (await api.patch(call_id, with_action(say("é" * 600)))).status_code == 204


async def test_instructions_without_an_action_are_rejected(api: Api, call_id: str) -> None:
    # Sinch: "Instructions must always accompany an action and will not work standalone."
    alone = await api.patch(call_id, {"instructions": [say()]})
    await assert_rejected(alone, 40001, "action: required when instructions are sent")


async def test_say_locale_is_optional_but_text_not_empty(api: Api, call_id: str) -> None:
    # Sinch's OpenAPI requires neither field (locale defaults to en-US); an empty text is no say.
    no_locale = await api.patch(call_id, with_action({"name": "say", "text": "Hi"}))
    assert no_locale.status_code == 204
    empty = await api.patch(call_id, with_action(say("")))
    await assert_rejected(empty, 40001, "instructions[0].text: must not be empty")


async def test_park_max_duration_600_ok_601_rejected(api: Api, call_id: str) -> None:
    ok = await api.patch(call_id, {"action": {"name": "park", "maxDuration": 600}})
    assert ok.status_code == 204
    over = await api.patch(call_id, {"action": {"name": "park", "maxDuration": 601}})
    await assert_rejected(over, 40001, "action.maxDuration: at most 600 (got 601)")
    zero = await api.patch(call_id, {"action": {"name": "park", "maxDuration": 0}})
    await assert_rejected(zero, 40001, "action.maxDuration: at least 1 (got 0)")


async def test_play_files_tts_needs_locale(api: Api, call_id: str) -> None:
    tts = {"name": "playFiles", "ids": ["https://example.com/a.mp3", "#tts[Goodbye]"]}
    rejected = await api.patch(call_id, with_action(tts))
    await assert_rejected(
        rejected,
        40001,
        "instructions[0].locale: required when ids contain #tts[...] or #ssml[...]",
    )
    with_locale = await api.patch(call_id, with_action({**tts, "locale": "en-US"}))
    assert with_locale.status_code == 204
    url_only = {"name": "playFiles", "ids": ["https://example.com/a.mp3"]}
    assert (await api.patch(call_id, with_action(url_only))).status_code == 204


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


async def test_e1_connect_pstn_only_unparks_a_parked_call(
    api: Api, client: httpx.AsyncClient, call_id: str
) -> None:
    connect = {"action": {"name": "connectPstn", "number": "+4670"}}
    response = await api.patch(call_id, connect)
    await assert_rejected(response, 40003, "action.name: 'connectPstn' only unparks a parked call")
    assert (await api.patch(call_id, {"action": {"name": "park"}})).status_code == 204
    # `continue` is not an ICE answer: the call stays parked.
    assert (await api.patch(call_id, {"action": CONTINUE})).status_code == 204
    assert (await client.get(f"/_admin/calls/{call_id}")).json()["parked"] is True
    assert (await api.patch(call_id, connect)).status_code == 204
    assert (await client.get(f"/_admin/calls/{call_id}")).json()["parked"] is False


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


async def test_unpark_into_a_conference(api: Api, call_id: str) -> None:
    assert (await api.patch(call_id, {"action": {"name": "park"}})).status_code == 204
    conf = {"name": "connectConf", "conferenceId": "c" * 64}
    too_long = await api.patch(call_id, {"action": {**conf, "conferenceId": "c" * 65}})
    await assert_rejected(too_long, 40001, "action.conferenceId: at most 64 characters (got 65)")
    assert (await api.patch(call_id, {"action": conf})).status_code == 204
    # E3 stays limited to continue/hangup.
    leg = await api.patch(call_id, {"action": conf}, leg="both")
    await assert_rejected(leg, 40003)


# --- the rules themselves ---


def rejection(body: Any, endpoint: str = "E1", *, ice: bool = False) -> tuple[int, str]:
    # `ice`: kept for readability of the cases; E1 takes the unparking ICE actions.
    with pytest.raises(ApiError) as caught:
        validate_svaml(body, endpoint)  # type: ignore[arg-type]
    return caught.value.code, caught.value.message


def accepted(body: Any, endpoint: str = "E1", *, ice: bool = False) -> None:
    validate_svaml(body, endpoint)  # type: ignore[arg-type]


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
            ],
            "action": CONTINUE,
        }
    )


def test_play_files_ids_bounds_and_forms() -> None:
    ids = ["https://example.com/x.wav"]
    # Sinch documents no item limit.
    accepted(with_action({"name": "playFiles", "ids": ids * 65}))
    assert rejection(with_action({"name": "playFiles", "ids": []})) == (
        40001,
        "instructions[0].ids: at least 1 item(s) (got 0)",
    )
    # Pre-recorded prompts by name: Sinch's own examples ("welcome", "[Welcome]").
    for good in (
        "#href[https://example.com/a.mp3]",
        "#ssml[<speak>Hi</speak>]",
        "http://x/y",
        "welcome",
        "[Welcome]",
        "#tts[a];#href[https://example.com/b.mp3]",
    ):
        accepted(with_action({"name": "playFiles", "ids": [good], "locale": "en-US"}))
    for bad in ("#tts[]", "#href[not a url]", "#tts[open", "#sound[x]", "a\nb", "#tts[a];", ""):
        code, message = rejection(
            with_action({"name": "playFiles", "ids": [bad], "locale": "en-US"})
        )
        assert code == 40001
        assert message.startswith("instructions[0].ids[0]: "), bad


def test_park_prompts_take_every_form_each_part_checked() -> None:
    for good in ("https://x/y.mp3", "#href[https://x/y.mp3]", "welcome", "#tts[a];#ssml[<b/>]"):
        accepted({"action": {"name": "park", "introPrompt": good, "holdPrompt": good}})
    code, message = rejection(
        {"action": {"name": "park", "introPrompt": "#tts[a];#href[not a url]"}}
    )
    assert code == 40001
    assert message.startswith("action.introPrompt: each ';'-separated prompt"), message
    long_tts = {"name": "park", "holdPrompt": "#tts[" + "x" * 601 + "]"}
    assert "over 600 characters" in rejection({"action": long_tts})[1]


def test_set_cookie_total_is_1024_bytes() -> None:
    cookie = {"name": "setCookie", "key": "k", "value": "v" * 1023}
    accepted(with_action(cookie))
    assert rejection(with_action(cookie, {"name": "setCookie", "key": "x"}))[1] == (
        "instructions: setCookie keys and values together at most 1024 bytes (got 1025)"
    )


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
    assert rejection(with_action({"name": "sendDtmf", "value": 1234})) == (
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


def test_start_recording_options_are_optional_as_sinch_defines_them() -> None:
    # Sinch's OpenAPI requires none of them (recording to Sinch's own storage).
    accepted(with_action({"name": "startRecording", "options": {"destinationUrl": "s3://b/"}}))
    accepted(with_action({"name": "startRecording", "options": {"notificationEvents": True}}))
    accepted(with_action({"name": "startRecording"}))
    empty_url = {"name": "startRecording", "options": {"destinationUrl": ""}}
    assert rejection(with_action(empty_url))[1] == (
        "instructions[0].options.destinationUrl: must not be empty"
    )
    bad_flag = {
        "name": "startRecording",
        "options": {"destinationUrl": "s3://b/", "credentials": "c", "notificationEvents": "yes"},
    }
    assert rejection(with_action(bad_flag))[1] == (
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
        "action.number: must be an E.164 number with its +, e.g. +46700000000"
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
    mxp = {"name": "connectMxp", "destination": {"type": "username", "endpoint": "bob"}}
    accepted({"action": mxp}, ice=True)
    headers = [{"key": "X-A", "value": "1"}]
    # Both spellings: `callheaders` (Sinch's OpenAPI) and `callHeaders` (its newer SDKs).
    accepted({"action": {**mxp, "callheaders": headers}})
    accepted({"action": {**mxp, "callHeaders": headers}})
    assert rejection({"action": {**mxp, "callHeaders": headers, "callheaders": headers}})[1] == (
        "action.callheaders: give callHeaders or callheaders, not both"
    )
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


def test_run_menu_rules() -> None:
    menu = {
        "id": "main",
        "mainPrompt": "#tts[Press 1; or 2];https://example.com/x.mp3",
        "options": [{"dtmf": "1", "action": "return(one)"}, {"dtmf": "2", "action": "menu(sub)"}],
    }
    sub = {"id": "sub", "mainPrompt": "#tts[Sub]", "options": [{"dtmf": "#", "action": "return"}]}
    run_menu = {"name": "runMenu", "locale": "en-US", "menus": [menu, sub]}
    accepted({"action": run_menu}, ice=True)
    # Sinch's own fixture has no menu called "main" (mainMenu names it): not required.
    accepted({"action": {**run_menu, "menus": [sub]}})
    # A number in Sinch's examples, a string in its OpenAPI: both taken.
    numeric_dtmf = {**menu, "options": [{"dtmf": 1, "action": "return (x)"}]}
    accepted({"action": {**run_menu, "menus": [numeric_dtmf]}})
    bad_action = {**menu, "options": [{"dtmf": "1", "action": "goto(x)"}]}
    assert rejection({"action": {**run_menu, "menus": [bad_action]}})[1] == (
        "action.menus[0].options[0].action: must be menu(<id>) or return(<value>)"
    )
    voice = {"name": "runMenu", "enableVoice": True, "menus": [{"id": "main"}]}
    assert rejection({"action": voice}, ice=True)[1] == (
        "action.locale: required when enableVoice is true"
    )


# --- properties ---

DTMF = re.compile(r"[0-9#w]+")


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=0, max_size=700))
def test_say_text_accepted_exactly_when_1_to_600_characters(text: str) -> None:
    body = with_action(say(text))
    if 1 <= len(text) <= 600:
        accepted(body)
    else:
        assert rejection(body)[0] == 40001


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789#w*aW ", min_size=0, max_size=70))
def test_dtmf_accepted_exactly_when_it_matches(value: str) -> None:
    body = with_action({"name": "sendDtmf", "value": value})
    if DTMF.fullmatch(value):
        accepted(body)
    else:
        assert rejection(body) == (40001, "instructions[0].value: must be digits, # and w")


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=-(10**6), max_value=10**6))
def test_park_max_duration_accepted_exactly_within_1_to_600(value: int) -> None:
    body = {"action": {"name": "park", "maxDuration": value}}
    if 1 <= value <= 600:
        accepted(body)
    else:
        assert rejection(body)[0] == 40001
