"""Signing: the reference test vectors, the headers, and secrets kept out of sight."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.sinch import (
    Authenticator,
    BasicAuth,
    SignedAuth,
    content_md5,
    decode_secret,
    sign,
    string_to_sign,
    utc_timestamp,
)

# Vector 1: Sinch "Signed request" documentation.
V1_SECRET = "JViE5vDor0Sw3WllZka15Q=="
V1_BODY = b'{"message":"Hello world"}'
V1_TIMESTAMP = "2014-06-04T13:41:58Z"

# Vector 2: sinch-sdk-node tests/utils/authorization.helper.test.ts.
V2_BODY = b'{"id":"018d2104-aaa-bbbb-1234","price":{"amount":0.0308},"rate":{"amount":0.0}}'


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        ("/calling/v1/callouts", "aS9fG2smJx6MIhPJDSNiaDQ1D3+e493HuL+VVA9pqyM="),
        ("/v1/sms/+46700000000", "qDXMwzfaxCRS849c/2R0hg0nphgdHciTo7OdM6MsdnM="),
    ],
)
def test_vector_1(resource: str, expected: str) -> None:
    md5 = content_md5(V1_BODY)
    assert md5 == "jANzQ+rgAHyf1MWQFSwvYw=="
    signed = string_to_sign("POST", md5, "application/json", V1_TIMESTAMP, resource)
    assert signed == (
        f"POST\njANzQ+rgAHyf1MWQFSwvYw==\napplication/json\nx-timestamp:{V1_TIMESTAMP}\n{resource}"
    )
    assert sign(decode_secret(V1_SECRET), signed) == expected


def test_vector_2_needs_lenient_decoding() -> None:
    md5 = content_md5(V2_BODY)
    assert md5 == "zvgV0+i8tMaEPl5sArRgSg=="
    signed = string_to_sign(
        "POST",
        md5,
        "application/json; charset=utf-8",
        "2024-01-19T09:19:28.9372196Z",
        "/webhook",
    )
    key = decode_secret("app-secret", lenient=True)
    header = f"Application app-key:{sign(key, signed)}"
    assert header == "Application app-key:p7hUz20oz16Fhfogs4Z0X+VA/Nhuu505I1alXYqwlKw="


def test_string_to_sign_upper_cases_the_method_and_keeps_the_empty_md5_line() -> None:
    assert string_to_sign("get", "", "application/json", "T", "/p") == (
        "GET\n\napplication/json\nx-timestamp:T\n/p"
    )


def test_content_md5_of_empty_body_is_empty() -> None:
    assert content_md5(b"") == ""
    assert content_md5(b"{}") == base64.b64encode(hashlib.md5(b"{}").digest()).decode()  # noqa: S324


@pytest.mark.parametrize("garbage", ["app-secret", "not base64!!", "QUJD=", "QUJDRA", " QUJD"])
def test_strict_decoding_rejects_garbage_without_quoting_it(garbage: str) -> None:
    with pytest.raises(ValueError, match="not valid base64") as caught:
        decode_secret(garbage)
    assert garbage.strip() not in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


@pytest.mark.parametrize("empty", ["", "===="])
def test_empty_secret_is_rejected(empty: str) -> None:
    with pytest.raises(ValueError, match=r"empty|not valid"):
        decode_secret(empty, lenient=True)


@given(st.binary(min_size=1, max_size=64))
def test_strict_decoding_round_trips_standard_base64(key: bytes) -> None:
    assert decode_secret(base64.b64encode(key).decode()) == key


@given(st.binary(min_size=1, max_size=64))
def test_lenient_decoding_accepts_url_safe_unpadded_and_wrapped(key: bytes) -> None:
    text = base64.urlsafe_b64encode(key).decode().rstrip("=")
    wrapped = " " + "\n".join(text[i : i + 7] for i in range(0, len(text), 7)) + "\t"
    assert decode_secret(wrapped, lenient=True) == key


def test_utc_timestamp_has_milliseconds_and_z() -> None:
    now = datetime(2024, 6, 6, 17, 36, 0, 123_987, tzinfo=UTC)
    assert utc_timestamp(now) == "2024-06-06T17:36:00.123Z"


def test_utc_timestamp_converts_other_zones_to_utc() -> None:
    cest = timezone(timedelta(hours=2))
    assert utc_timestamp(datetime(2024, 6, 6, 19, 36, 0, tzinfo=cest)) == (
        "2024-06-06T17:36:00.000Z"
    )


def test_utc_timestamp_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        utc_timestamp(datetime(2024, 6, 6, 17, 36))


def test_utc_timestamp_defaults_to_now() -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    stamp = utc_timestamp()
    parsed = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert before <= parsed <= datetime.now(UTC)


def test_signed_auth_on_the_system_clock_stamps_now_in_utc_timestamps_form() -> None:
    auth = SignedAuth("my-key", V1_SECRET)
    for _ in range(3):
        before = datetime.now(UTC).replace(microsecond=0)
        stamp = auth.headers("GET", "/calling/v1/calls/id/a", b"")["x-timestamp"]
        after = datetime.now(UTC)
        parsed = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        assert before <= parsed <= after
        # The same text utc_timestamp gives for that instant (milliseconds, "Z").
        assert stamp == utc_timestamp(parsed)


def test_signed_auth_headers_match_an_independent_computation() -> None:
    fixed = datetime(2024, 6, 6, 17, 36, 0, 123_000, tzinfo=UTC)
    auth: Authenticator = SignedAuth("my-key", V1_SECRET, clock=lambda: fixed)
    body = b'{"action":{"name":"hangup"}}'
    path = "/calling/v1/calls/id/abc"

    headers = auth.headers("PATCH", path, body)

    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()  # noqa: S324
    message = f"PATCH\n{md5}\napplication/json\nx-timestamp:2024-06-06T17:36:00.123Z\n{path}"
    digest = hmac.new(base64.b64decode(V1_SECRET), message.encode(), hashlib.sha256).digest()
    assert headers == {
        "Authorization": f"Application my-key:{base64.b64encode(digest).decode()}",
        "x-timestamp": "2024-06-06T17:36:00.123Z",
    }


def test_signed_auth_reads_the_clock_on_every_call() -> None:
    times = iter([datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 1, 0, 0, 1, tzinfo=UTC)])
    auth = SignedAuth("k", V1_SECRET, clock=lambda: next(times))
    first = auth.headers("GET", "/calling/v1/calls/id/a", b"")
    second = auth.headers("GET", "/calling/v1/calls/id/a", b"")
    assert first["x-timestamp"] != second["x-timestamp"]
    assert first["Authorization"] != second["Authorization"]


def test_signed_auth_rejects_a_bad_secret_without_quoting_it() -> None:
    secret = "s3cr3t-not-base64!"
    with pytest.raises(ValueError, match="not valid base64") as caught:
        SignedAuth("k", secret)
    assert secret not in str(caught.value)
    assert secret not in repr(caught.value)


@pytest.mark.parametrize("key", ["", "a:b", "has space", "ключ"])
def test_signed_auth_rejects_keys_that_cannot_go_in_the_header(key: str) -> None:
    with pytest.raises(ValueError, match="application key"):
        SignedAuth(key, V1_SECRET)


def test_basic_auth_uses_the_secret_as_text() -> None:
    auth: Authenticator = BasicAuth("my-key", V1_SECRET)
    header = auth.headers("GET", "/calling/v1/calls/id/a", b"")["Authorization"]
    scheme, _, encoded = header.partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(encoded) == f"my-key:{V1_SECRET}".encode()


@pytest.mark.parametrize(("key", "secret"), [("", "s"), ("a:b", "s"), ("k", "")])
def test_basic_auth_rejects_unusable_credentials(key: str, secret: str) -> None:
    with pytest.raises(ValueError, match="application"):
        BasicAuth(key, secret)


@pytest.mark.parametrize("make", [SignedAuth, BasicAuth])
def test_repr_and_str_never_show_the_secret(make: type[SignedAuth] | type[BasicAuth]) -> None:
    auth = make("my-key", V1_SECRET)
    for text in (repr(auth), str(auth), f"{auth!r} {auth}"):
        assert V1_SECRET not in text
        assert V1_SECRET.rstrip("=") not in text
        assert repr(base64.b64decode(V1_SECRET)) not in text
        assert "my-key" in text
        assert "redacted" in text
