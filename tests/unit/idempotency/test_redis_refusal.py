"""A Redis that says no is named by its URL setting, never by the URL (it holds the password)."""

from __future__ import annotations

import ssl

import redis

from service.idempotency.redis_store import refusal


def test_a_wrong_password_is_refused() -> None:
    refused = refusal(redis.AuthenticationError("invalid username-password pair"))
    assert refused is not None
    assert refused.setting == "CALLCTL_IDEMPOTENCY__REDIS_URL"
    assert "refused the password" in refused.reason


def test_an_untrusted_certificate_is_refused() -> None:
    cause = ssl.SSLCertVerificationError(1, "certificate verify failed")
    cause.verify_message = "unable to get local issuer certificate"
    try:
        try:
            raise cause
        except ssl.SSLError as error:
            raise redis.ConnectionError("Error 1 connecting") from error
    except redis.ConnectionError as wrapped:
        refused = refusal(wrapped)
    assert refused is not None
    assert "is not trusted (unable to get local issuer certificate)" in refused.reason


def test_an_unreachable_redis_is_not_a_refusal() -> None:
    assert refusal(redis.ConnectionError("Error 111 connecting")) is None
