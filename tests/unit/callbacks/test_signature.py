"""Callback signatures: Sinch's documented example, and every way a callback can be refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from service.callbacks.signature import CallbackVerifier, Unauthorized, parse_timestamp
from service.sinch.auth import decode_secret

# Sinch, "Callback Request Signing" (docs/callbacks.md cites it).
KEY = "669E367E-6BBA-48AB-AF15-266871C28135"
SECRET = "BeIukql3pTKJ8RGL5zo0DA=="
PATH = "/sinch/callback/ace"
STAMP = "2014-09-24T10:59:41Z"
BODY = (
    b'{"event":"ace","callid":"822aa4b7-05b4-4d83-87c7-1f835ee0b6f6_257",'
    b'"timestamp":"2014-09-24T10:59:41Z","version":1}'
)
SIGNATURE = "Tg6fMyo8mj9pYfWQ9ssbx3Tc1BNC87IEygAfLbJqZb4="
AT = datetime(2014, 9, 24, 10, 59, 45, tzinfo=UTC)


def headers(**override: str) -> dict[str, str]:
    base = {
        "Authorization": f"application {KEY}:{SIGNATURE}",
        "x-timestamp": STAMP,
        "Content-Type": "application/json",
    }
    base.update(override)
    return {k: v for k, v in base.items() if v}


def verify(
    hdrs: dict[str, str], *, body: bytes = BODY, path: str = PATH, now: datetime = AT
) -> None:
    verifier = CallbackVerifier(KEY, decode_secret(SECRET), max_skew_s=300)
    verifier.verify(method="POST", path=path, headers=hdrs, body=body, now=now)


def test_sinch_documented_example_verifies() -> None:
    verify(headers())
    verify(headers(Authorization=f"Application {KEY}:{SIGNATURE}"))  # either case


@pytest.mark.parametrize(
    ("hdrs", "body", "path", "message"),
    [
        (headers(Authorization=""), BODY, PATH, "missing"),
        (headers(Authorization=f"Basic {KEY}:{SIGNATURE}"), BODY, PATH, "scheme"),
        (headers(Authorization="application nocolon"), BODY, PATH, "malformed"),
        (headers(Authorization=f"application other-key:{SIGNATURE}"), BODY, PATH, "signature"),
        (headers(Authorization=f"application {KEY}:{'A' * 44}"), BODY, PATH, "signature"),
        (headers(), BODY + b" ", PATH, "signature"),
        (headers(), BODY, "/sinch/callback/ice", "signature"),
        (headers(**{"Content-Type": "text/plain"}), BODY, PATH, "signature"),
        (headers(**{"x-timestamp": ""}), BODY, PATH, "x-timestamp"),
        (headers(**{"x-timestamp": "yesterday"}), BODY, PATH, "ISO-8601"),
    ],
)
def test_refused(hdrs: dict[str, str], body: bytes, path: str, message: str) -> None:
    with pytest.raises(Unauthorized, match=message):
        verify(hdrs, body=body, path=path)


@pytest.mark.parametrize("offset_s", [-310, 310, 86_400])
def test_stale_or_future_timestamp_refused(offset_s: int) -> None:
    with pytest.raises(Unauthorized, match="300 s"):
        verify(headers(), now=AT + timedelta(seconds=offset_s))


def test_error_never_quotes_the_secret_or_the_signature() -> None:
    with pytest.raises(Unauthorized) as caught:
        verify(headers(), body=b"{}")
    assert SECRET not in str(caught.value) and SIGNATURE not in str(caught.value)
    verifier = CallbackVerifier(KEY, decode_secret(SECRET), max_skew_s=1)
    assert SECRET not in repr(verifier)


@pytest.mark.parametrize(
    "text",
    [
        "2024-01-19T09:19:28.9372196Z",
        "2024-01-19T09:19:28.937Z",
        "2024-01-19T09:19:28.937+00:00",
        "2024-01-19T09:19:28",
    ],
)
def test_timestamps_the_sdks_write(text: str) -> None:
    moment = parse_timestamp(text)
    assert moment is not None
    assert abs(moment - datetime(2024, 1, 19, 9, 19, 28, tzinfo=UTC)) < timedelta(seconds=1)
