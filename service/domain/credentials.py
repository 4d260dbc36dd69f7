"""The Sinch application secret as an HMAC key: pure, so settings can check it at start
without importing the HTTP client (and the Kafka side never reaches the Sinch side)."""

from __future__ import annotations

import base64
import binascii
import re

_WHITESPACE = re.compile(r"\s+")


def decode_secret(secret: str, *, lenient: bool = False) -> bytes:
    """The HMAC key: the base64-decoded application secret.

    Strict by default (real secrets are standard base64, and a mangled one should fail the
    start). ``lenient`` behaves like Node's ``Buffer.from(s, "base64")``: whitespace dropped,
    the URL-safe alphabet accepted, padding optional. The error never quotes the secret.
    """
    if lenient:
        secret = _WHITESPACE.sub("", secret).replace("-", "+").replace("_", "/").rstrip("=")
        secret += "=" * (-len(secret) % 4)
    try:
        key = binascii.a2b_base64(secret, strict_mode=True)
    except (binascii.Error, ValueError):
        key = None
    # Strict means canonical: even strict_mode lets excess padding through ("QUJD="). Node
    # ignores non-zero trailing bits, as vector 2 ("app-secret") needs, so lenient does too.
    if key is None or (not lenient and base64.b64encode(key).decode("ascii") != secret):
        # No chaining and no detail: the cause may echo part of the secret.
        raise ValueError("application secret is not valid base64") from None
    if not key:
        raise ValueError("application secret is empty")
    return key
