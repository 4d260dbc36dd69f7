"""Checking that a callback comes from Sinch: the application-signed scheme, in reverse.

Sinch signs callbacks exactly as clients sign requests to it (Sinch, "Callback Request
Signing"): ``authorization: application {key}:{Base64(HMAC-SHA256(secret, StringToSign))}``
over method, Content-MD5, Content-Type, ``x-timestamp`` and the callback URL's path. The
string to sign and the HMAC come from `service.sinch.auth`, the one implementation of the
scheme. The scheme word is compared case-insensitively (the docs write it in lower case, the
SDKs in title case). Errors name what failed, never a value that was received.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from datetime import UTC, datetime

from service.sinch.auth import content_md5, sign, string_to_sign


class Unauthorized(Exception):
    """The callback is not signed by our application (401); the message is safe to return."""


def parse_timestamp(value: str) -> datetime | None:
    """ISO-8601 as the SDKs write it (`Z`, `+00:00`, up to 7 fractional digits); UTC if bare."""
    text = value.strip().replace("z", "Z")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    head, dot, rest = text.partition(".")
    if dot:  # Python takes at most 6 fractional digits; .NET writes 7.
        digits = len(rest) - len(rest.lstrip("0123456789"))
        rest = rest[: min(digits, 6)] + rest[digits:]
        text = f"{head}.{rest}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class CallbackVerifier:
    """Verifies one application's callbacks; holds the decoded secret, never shows it."""

    __slots__ = ("_key", "_max_skew_s", "_secret_key")

    def __init__(self, application_key: str, secret_key: bytes, *, max_skew_s: float) -> None:
        self._key = application_key.encode()
        self._secret_key = secret_key
        self._max_skew_s = max_skew_s

    def verify(
        self,
        *,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: bytes,
        now: datetime,
    ) -> None:
        header = headers.get("Authorization")
        if not header:
            raise Unauthorized("authorization header is missing")
        scheme, _, credentials = header.strip().partition(" ")
        if scheme.lower() != "application":
            raise Unauthorized("authorization scheme must be 'application' (signed callbacks)")
        # The signature is base64 (no ':'), so the last ':' ends the key.
        key, sep, provided = credentials.strip().rpartition(":")
        if not sep or not key or not provided:
            raise Unauthorized("authorization header is malformed")
        timestamp = headers.get("x-timestamp")
        if not timestamp:
            raise Unauthorized("x-timestamp header is missing")
        moment = parse_timestamp(timestamp)
        if moment is None:
            raise Unauthorized("x-timestamp header is not an ISO-8601 time")
        if abs((now - moment).total_seconds()) > self._max_skew_s:
            raise Unauthorized(f"x-timestamp is more than {self._max_skew_s:g} s from our clock")
        content_type = headers.get("Content-Type", "")
        signed = string_to_sign(method, content_md5(body), content_type, timestamp, path)
        expected = sign(self._secret_key, signed)
        # Both comparisons always run: timing tells nothing about which part was wrong.
        key_ok = hmac.compare_digest(key.encode(), self._key)
        signature_ok = hmac.compare_digest(provided.encode(), expected.encode())
        if not (key_ok and signature_ok):
            raise Unauthorized("signature does not match (wrong key, secret, path or body)")

    def __repr__(self) -> str:
        return f"CallbackVerifier(application_key={self._key.decode()!r}, secret=<redacted>)"
