"""Checks Basic and Signed ("Application key:signature") authorization (reference §3)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import unquote

from simulator.errors import AUTH_HEADER, AUTH_SIGNATURE, AUTH_TIMESTAMP, ApiError


def decode_secret(secret: str) -> bytes:
    """Base64-decode the way Node's Buffer.from(s, "base64") does (url-safe, unpadded ok).

    Sinch secrets are standard base64; leniency only matters for test vectors such as the
    Node SDK's "app-secret" (reference §3.3).
    """
    text = secret.strip().replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text)
    except (binascii.Error, ValueError):
        return b""


def content_md5(body: bytes) -> str:
    """Base64 MD5 of the exact body bytes; "" for no body (GET)."""
    if not body:
        return ""
    return base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()


def string_to_sign(method: str, body: bytes, content_type: str, timestamp: str, path: str) -> str:
    return "\n".join(
        (method.upper(), content_md5(body), content_type, f"x-timestamp:{timestamp}", path)
    )


def signature(
    secret: bytes, method: str, body: bytes, content_type: str, timestamp: str, path: str
) -> str:
    message = string_to_sign(method, body, content_type, timestamp, path).encode()
    return base64.b64encode(hmac.new(secret, message, hashlib.sha256).digest()).decode()


def parse_timestamp(value: str) -> float | None:
    """Epoch seconds of an ISO-8601 x-timestamp; a value without a zone is taken as UTC."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


@dataclass(frozen=True, slots=True)
class AuthResult:
    # "basic", "signed", "other" (an unrecognised scheme) or None (no header at all).
    scheme: str | None
    error: ApiError | None


class Authenticator:
    def __init__(self, application_key: str, application_secret: str) -> None:
        self._key = application_key.encode()
        self._secret_text = application_secret.encode()
        self._secret = decode_secret(application_secret)

    def check(
        self,
        *,
        method: str,
        path: str,
        query_string: str,
        headers: Mapping[str, str],
        body: bytes,
        schemes: Collection[str],
        skew_seconds: float,
        now: float,
    ) -> AuthResult:
        header = headers.get("Authorization")
        if not header:
            return _fail(None, AUTH_HEADER, "Authorization header is missing")
        word, _, credentials = header.strip().partition(" ")
        word = word.lower()
        credentials = credentials.strip()
        if word == "basic":
            scheme = "basic"
        elif word == "application":
            scheme = "signed"
        else:
            return _fail("other", AUTH_HEADER, "Authorization scheme is not Basic or Application")
        if scheme not in schemes:
            return _fail(scheme, AUTH_HEADER, f"Authorization scheme {scheme} is not accepted")
        if scheme == "basic":
            return self._basic(credentials)
        return self._signed(
            credentials, method, path, query_string, headers, body, skew_seconds, now
        )

    def _basic(self, credentials: str) -> AuthResult:
        try:
            decoded = base64.b64decode(credentials, validate=True)
        except (binascii.Error, ValueError):
            return _fail("basic", AUTH_HEADER, "Authorization header is malformed")
        key, sep, secret = decoded.partition(b":")
        # Both comparisons always run, so timing says nothing about which part was wrong.
        key_ok = hmac.compare_digest(key, self._key)
        secret_ok = hmac.compare_digest(secret, self._secret_text)
        if not (sep and key_ok and secret_ok):
            return _fail("basic", AUTH_HEADER, "Invalid Basic credentials")
        return AuthResult("basic", None)

    def _signed(
        self,
        credentials: str,
        method: str,
        path: str,
        query_string: str,
        headers: Mapping[str, str],
        body: bytes,
        skew_seconds: float,
        now: float,
    ) -> AuthResult:
        # The signature is base64 (no ':'), so the last ':' separates it from the key.
        key, sep, provided = credentials.rpartition(":")
        if not sep or not key or not provided:
            return _fail("signed", AUTH_HEADER, "Authorization header is malformed")
        if not hmac.compare_digest(key.encode(), self._key):
            return _fail("signed", AUTH_HEADER, "Unknown application key")
        timestamp = headers.get("x-timestamp")
        if timestamp is None:
            return _fail("signed", AUTH_TIMESTAMP, "x-timestamp header is missing")
        moment = parse_timestamp(timestamp)
        if moment is None:
            return _fail("signed", AUTH_TIMESTAMP, "x-timestamp header is not ISO-8601")
        if abs(now - moment) > skew_seconds:
            return _fail("signed", AUTH_TIMESTAMP, "x-timestamp is too far from the server time")
        content_type = headers.get("Content-Type", "")
        provided_bytes = provided.encode()
        for resource in _resources(path, query_string):
            expected = signature(self._secret, method, body, content_type, timestamp, resource)
            if hmac.compare_digest(expected.encode(), provided_bytes):
                return AuthResult("signed", None)
        return _fail("signed", AUTH_SIGNATURE, "Invalid Signature")


def _resources(path: str, query_string: str) -> list[str]:
    """Resources the SDKs sign: Node the raw path, .NET path+query, Java the decoded path."""
    resources = [path]
    if query_string:
        resources.append(f"{path}?{query_string}")
    if "%" in path:
        resources.append(unquote(path))
    return resources


def _fail(scheme: str | None, code: int, message: str) -> AuthResult:
    return AuthResult(scheme, ApiError(401, code, message))
