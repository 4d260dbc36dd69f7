"""Authentication for the Sinch Calling API: signed ("Application") and Basic.

The signing functions are pure; ``SignedAuth`` only adds a clock. Signed request algorithm
(Sinch "Signed request" docs)::

    Content-MD5   = Base64(MD5(body))                    "" when the body is empty
    StringToSign  = VERB \\n Content-MD5 \\n Content-Type \\n "x-timestamp:" ts \\n path
    Signature     = Base64(HMAC-SHA256(Base64Decode(secret), UTF8(StringToSign)))
    Authorization: Application {key}:{Signature}

Secrets never appear in a ``repr``, a ``str`` or an error message.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from service.domain.credentials import decode_secret

__all__ = [
    "CONTENT_TYPE",
    "Authenticator",
    "BasicAuth",
    "SignedAuth",
    "content_md5",
    "decode_secret",
    "sign",
    "string_to_sign",
    "utc_timestamp",
]

# Sent and signed on every request, GET included, as the Node SDK does: the signed value must
# be exactly the sent one, so the client takes it from here too.
CONTENT_TYPE = "application/json"

_WHITESPACE = re.compile(r"\s+")
# Goes verbatim into a header value and the signed string: visible ASCII, no separator.
_APPLICATION_KEY = re.compile(r"[\x21-\x39\x3b-\x7e]{1,256}")


def content_md5(body: bytes) -> str:
    """Base64 MD5 of the exact body bytes; "" for an empty body."""
    if not body:
        return ""
    # MD5 is what the protocol specifies, as a checksum inside an HMAC-signed string.
    return base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode("ascii")


def string_to_sign(
    method: str, content_md5: str, content_type: str, timestamp: str, path: str
) -> str:
    return "\n".join((method.upper(), content_md5, content_type, f"x-timestamp:{timestamp}", path))


def sign(secret_key: bytes, string_to_sign: str) -> str:
    """Base64 HMAC-SHA256 of the string to sign, keyed with the decoded secret."""
    digest = hmac.new(secret_key, string_to_sign.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def utc_timestamp(now: datetime | None = None) -> str:
    """ISO-8601 UTC with milliseconds and ``Z``, like JavaScript's ``toISOString()``.

    A naive ``now`` is refused rather than guessed: a wrong zone means a 401 (40101).
    """
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("utc_timestamp needs a timezone-aware datetime")
    now = now.astimezone(UTC)
    return f"{now:%Y-%m-%dT%H:%M:%S}.{now.microsecond // 1000:03d}Z"


class Authenticator(Protocol):
    """Produces the authentication headers of one attempt.

    Called again for every attempt, so a retried request carries a fresh timestamp.
    ``path`` and ``body`` must be exactly what is sent; Content-Type is ``CONTENT_TYPE``.
    """

    def headers(self, method: str, path: str, body: bytes) -> dict[str, str]: ...


class _SystemTimestamps:
    """``utc_timestamp()`` of the system clock, formatting the date and time of day once per
    second: ``strftime`` was a third of the signing cost, on every request (bench/)."""

    __slots__ = ("_prefix", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self) -> str:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        return f"{self._prefix}.{int((now - second) * 1000):03d}Z"


class SignedAuth:
    """Signed requests: ``Authorization: Application key:signature`` plus ``x-timestamp``."""

    __slots__ = ("_key", "_secret_key", "_timestamp")

    def __init__(
        self,
        application_key: str,
        application_secret: str,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if not _APPLICATION_KEY.fullmatch(application_key):
            raise ValueError("application key must be 1-256 visible ASCII characters without ':'")
        self._key = application_key
        # Decoded once, strictly: a bad secret fails the start, not the first message.
        self._secret_key = decode_secret(application_secret)
        # The system clock takes the fast formatter; a given clock (tests) the general one.
        self._timestamp: Callable[[], str] = (
            _SystemTimestamps() if clock is None else lambda: utc_timestamp(clock())
        )

    def headers(self, method: str, path: str, body: bytes) -> dict[str, str]:
        timestamp = self._timestamp()
        signed = string_to_sign(method, content_md5(body), CONTENT_TYPE, timestamp, path)
        signature = sign(self._secret_key, signed)
        return {"Authorization": f"Application {self._key}:{signature}", "x-timestamp": timestamp}

    def __repr__(self) -> str:
        return f"SignedAuth(application_key={self._key!r}, application_secret=<redacted>)"


class BasicAuth:
    """``Authorization: Basic base64(key:secret)``, the secret used as text (not decoded).

    Sinch recommends signed requests in production; Basic is for prototyping and simulators.
    """

    __slots__ = ("_header", "_key")

    def __init__(self, application_key: str, application_secret: str) -> None:
        if not application_key or ":" in application_key:
            raise ValueError("application key must be non-empty and must not contain ':'")
        if not application_secret:
            raise ValueError("application secret is empty")
        self._key = application_key
        credentials = f"{application_key}:{application_secret}".encode()
        self._header = "Basic " + base64.b64encode(credentials).decode("ascii")

    def headers(self, method: str, path: str, body: bytes) -> dict[str, str]:
        return {"Authorization": self._header}

    def __repr__(self) -> str:
        return f"BasicAuth(application_key={self._key!r}, application_secret=<redacted>)"
