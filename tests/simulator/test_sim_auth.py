"""Authentication: Basic and Signed, with the 401 codes of reference §1.5 / §3."""

from __future__ import annotations

import base64
import uuid

import httpx
import pytest

from simulator import auth
from simulator.app import RunningServer
from tests.simulator.simtest_support import (
    JSON_TYPE,
    KEY,
    SECRET,
    StartSim,
    basic_headers,
    call_path,
    encode,
    signed_headers,
    timestamp,
)

HANGUP = encode({"action": {"name": "hangup"}})


def assert_sinch_error(response: httpx.Response, status: int, code: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == JSON_TYPE
    body = response.json()
    assert set(body) == {"status", "errorCode", "message", "reference"}
    assert body["errorCode"] == code
    assert body["status"].startswith(f"{status} ")
    uuid.UUID(body["reference"])


async def test_signed_request_accepted(client: httpx.AsyncClient, call_id: str) -> None:
    path = call_path(call_id)
    response = await client.patch(
        path, content=HANGUP, headers=signed_headers("PATCH", path, HANGUP)
    )
    assert response.status_code == 204
    assert response.content == b""


async def test_signed_with_charset_content_type(client: httpx.AsyncClient, call_id: str) -> None:
    # The Python SDK signs and sends "application/json; charset=UTF-8": the header as sent counts.
    path = call_path(call_id)
    ctype = "application/json; charset=UTF-8"
    headers = signed_headers("PATCH", path, HANGUP, content_type=ctype)
    response = await client.patch(path, content=HANGUP, headers=headers)
    assert response.status_code == 204


async def test_signed_get_with_empty_body(client: httpx.AsyncClient, call_id: str) -> None:
    path = call_path(call_id)
    response = await client.get(path, headers=signed_headers("GET", path))
    assert response.status_code == 200
    assert response.json()["callId"] == call_id


async def test_signed_accepts_timezone_offset_and_seven_digit_fractions(
    client: httpx.AsyncClient, call_id: str
) -> None:
    path = call_path(call_id)
    dotnet_style = timestamp()[:-1] + "0000Z"  # 7 fractional digits, like .NET's "O"
    for ts in (dotnet_style, timestamp().replace("Z", "+00:00")):
        response = await client.get(path, headers=signed_headers("GET", path, ts=ts))
        assert response.status_code == 200, (ts, response.text)


async def test_bad_signature_is_40102(client: httpx.AsyncClient, call_id: str) -> None:
    path = call_path(call_id)
    headers = signed_headers("PATCH", path, HANGUP, secret=base64.b64encode(b"other").decode())
    response = await client.patch(path, content=HANGUP, headers=headers)
    assert_sinch_error(response, 401, 40102)


async def test_body_changed_after_signing_is_40102(client: httpx.AsyncClient, call_id: str) -> None:
    path = call_path(call_id)
    headers = signed_headers("PATCH", path, HANGUP)
    tampered = encode({"action": {"name": "continue"}})
    response = await client.patch(path, content=tampered, headers=headers)
    assert_sinch_error(response, 401, 40102)


async def test_path_is_part_of_the_signature(client: httpx.AsyncClient, call_id: str) -> None:
    headers = signed_headers("PATCH", call_path("someone-else"), HANGUP)
    response = await client.patch(call_path(call_id), content=HANGUP, headers=headers)
    assert_sinch_error(response, 401, 40102)


@pytest.mark.parametrize("offset", [-601.0, 601.0])
async def test_stale_timestamp_is_40101(
    client: httpx.AsyncClient, call_id: str, offset: float
) -> None:
    path = call_path(call_id)
    headers = signed_headers("PATCH", path, HANGUP, ts=timestamp(offset))
    response = await client.patch(path, content=HANGUP, headers=headers)
    assert_sinch_error(response, 401, 40101)


async def test_timestamp_within_skew_is_accepted(client: httpx.AsyncClient, call_id: str) -> None:
    path = call_path(call_id)
    headers = signed_headers("PATCH", path, HANGUP, ts=timestamp(-590.0))
    response = await client.patch(path, content=HANGUP, headers=headers)
    assert response.status_code == 204


@pytest.mark.parametrize("ts", [None, "yesterday"])
async def test_missing_or_unparseable_timestamp_is_40101(
    client: httpx.AsyncClient, call_id: str, ts: str | None
) -> None:
    path = call_path(call_id)
    headers = signed_headers("PATCH", path, HANGUP)
    if ts is None:
        del headers["x-timestamp"]
    else:
        headers["x-timestamp"] = ts
    response = await client.patch(path, content=HANGUP, headers=headers)
    assert_sinch_error(response, 401, 40101)


async def test_missing_authorization_is_40100(client: httpx.AsyncClient, call_id: str) -> None:
    response = await client.patch(
        call_path(call_id), content=HANGUP, headers={"Content-Type": JSON_TYPE}
    )
    assert_sinch_error(response, 401, 40100)


@pytest.mark.parametrize(
    "authorization",
    ["Bearer abc", "Application nokeyorsignature", "Basic !!!notbase64", "Basic"],
)
async def test_malformed_authorization_is_40100(
    client: httpx.AsyncClient, call_id: str, authorization: str
) -> None:
    headers = {"Content-Type": JSON_TYPE, "Authorization": authorization}
    response = await client.patch(call_path(call_id), content=HANGUP, headers=headers)
    assert_sinch_error(response, 401, 40100)


async def test_unknown_key_is_40100(client: httpx.AsyncClient, call_id: str) -> None:
    path = call_path(call_id)
    headers = signed_headers("PATCH", path, HANGUP, key="not-our-key")
    response = await client.patch(path, content=HANGUP, headers=headers)
    assert_sinch_error(response, 401, 40100)


async def test_basic_accepted(client: httpx.AsyncClient, call_id: str) -> None:
    response = await client.patch(call_path(call_id), content=HANGUP, headers=basic_headers())
    assert response.status_code == 204


@pytest.mark.parametrize(
    ("key", "secret"), [(KEY, "wrong-secret"), ("wrong-key", SECRET), (KEY, "")]
)
async def test_basic_bad_credentials_is_40100(
    client: httpx.AsyncClient, call_id: str, key: str, secret: str
) -> None:
    response = await client.patch(
        call_path(call_id), content=HANGUP, headers=basic_headers(key, secret)
    )
    assert_sinch_error(response, 401, 40100)


async def test_failed_auth_changes_nothing(
    client: httpx.AsyncClient, sim: RunningServer, call_id: str
) -> None:
    await client.post("/_admin/calls", json={"callId": call_id})
    response = await client.patch(
        call_path(call_id), content=HANGUP, headers=basic_headers(KEY, "wrong")
    )
    assert response.status_code == 401
    call = sim.simulator.calls.get(call_id)
    assert call is not None
    assert call.status == "ONGOING"


async def test_schemes_setting_limits_what_is_accepted(start_sim: StartSim, call_id: str) -> None:
    server = await start_sim(auth_schemes="signed", create_calls=call_id)
    async with httpx.AsyncClient(base_url=server.url) as http:
        basic = await http.patch(call_path(call_id), content=HANGUP, headers=basic_headers())
        assert_sinch_error(basic, 401, 40100)
        path = call_path(call_id)
        signed = await http.patch(
            path, content=HANGUP, headers=signed_headers("PATCH", path, HANGUP)
        )
        assert signed.status_code == 204


async def test_schemes_can_change_live(client: httpx.AsyncClient, call_id: str) -> None:
    changed = await client.patch("/_admin/config", json={"authSchemes": ["basic"]})
    assert changed.status_code == 200
    assert changed.json()["authSchemes"] == ["basic"]
    path = call_path(call_id)
    signed = await client.patch(path, content=HANGUP, headers=signed_headers("PATCH", path, HANGUP))
    assert_sinch_error(signed, 401, 40100)


async def test_request_log_keeps_scheme_but_never_credentials(
    client: httpx.AsyncClient, call_id: str
) -> None:
    path = call_path(call_id)
    signed = signed_headers("PATCH", path, HANGUP)
    await client.patch(path, content=HANGUP, headers=signed)
    basic = basic_headers(KEY, "wrong")
    await client.patch(path, content=HANGUP, headers=basic)
    log = await client.get("/_admin/requests", params={"callId": call_id})
    entries = log.json()["requests"]
    assert [(e["authScheme"], e["authOk"], e["status"]) for e in entries] == [
        ("signed", True, 204),
        ("basic", False, 401),
    ]
    text = log.text
    assert signed["Authorization"].split(":")[-1] not in text
    assert basic["Authorization"].split(" ")[1] not in text
    assert SECRET not in text


# --- the signing primitives against the reference's test vectors (§3.3) ---


def test_reference_vector_1() -> None:
    secret = auth.decode_secret("JViE5vDor0Sw3WllZka15Q==")
    body = b'{"message":"Hello world"}'
    assert auth.content_md5(body) == "jANzQ+rgAHyf1MWQFSwvYw=="
    args = ("POST", body, "application/json", "2014-06-04T13:41:58Z")
    sms = auth.signature(secret, *args, "/v1/sms/+46700000000")
    assert sms == "qDXMwzfaxCRS849c/2R0hg0nphgdHciTo7OdM6MsdnM="
    callouts = auth.signature(secret, *args, "/calling/v1/callouts")
    assert callouts == "aS9fG2smJx6MIhPJDSNiaDQ1D3+e493HuL+VVA9pqyM="


def test_reference_vector_2_node_lenient_secret() -> None:
    body = b'{"id":"018d2104-aaa-bbbb-1234","price":{"amount":0.0308},"rate":{"amount":0.0}}'
    assert auth.content_md5(body) == "zvgV0+i8tMaEPl5sArRgSg=="
    sig = auth.signature(
        auth.decode_secret("app-secret"),
        "POST",
        body,
        "application/json; charset=utf-8",
        "2024-01-19T09:19:28.9372196Z",
        "/webhook",
    )
    assert sig == "p7hUz20oz16Fhfogs4Z0X+VA/Nhuu505I1alXYqwlKw="


def test_authenticator_accepts_vector_2_request() -> None:
    checker = auth.Authenticator("app-key", "app-secret")
    body = b'{"id":"018d2104-aaa-bbbb-1234","price":{"amount":0.0308},"rate":{"amount":0.0}}'
    headers = {
        "Authorization": "Application app-key:p7hUz20oz16Fhfogs4Z0X+VA/Nhuu505I1alXYqwlKw=",
        "x-timestamp": "2024-01-19T09:19:28.9372196Z",
        "Content-Type": "application/json; charset=utf-8",
    }

    def check_at(now: str) -> auth.AuthResult:
        return checker.check(
            method="POST",
            path="/webhook",
            query_string="",
            headers=headers,
            body=body,
            schemes={"signed"},
            skew_seconds=600.0,
            now=auth.parse_timestamp(now) or 0.0,
        )

    ok = check_at("2024-01-19T09:20:00Z")
    assert ok.error is None
    assert ok.scheme == "signed"
    stale = check_at("2024-01-19T10:00:00Z")
    assert stale.error is not None
    assert stale.error.code == 40101
