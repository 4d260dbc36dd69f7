"""Retry and outcome policy: what each Sinch answer means for the command (pure).

The contract's rules ("Bounded retries"):
- retry only transient failures (how long to wait, and when to stop, is `service.retry`'s:
  capped exponential backoff with full jitter, `Retry-After` honoured, never past `expiresAt`
  nor past the attempt budget);
- a request Sinch may already have processed (read timeout, 500, 502, 504, a dropped
  connection after sending) is retried only for harmless commands; the others only when Sinch
  cannot have acted on it (connection never opened, 429, 503);
- a 404 "Call not found" (40400) ends the command at once (`call_not_found`), except for a
  hangup whose earlier attempt may have reached Sinch: the call is gone because it worked;
- any other 404 is a wrong path, host or proxy (`upstream_error`), never "call not found";
- on a conference path the same 404 means the conference or participant is unknown
  (`conference_not_found`), and a kick that meets it after a maybe-sent attempt has worked;
- a callout is never repeated once an attempt may have reached Sinch: a second one would place
  a second call, so it ends `outcome_unknown`, not retryable.

Sinch's codes and where they are documented: docs/sinch-fidelity.md, "Errors".
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from service.domain.results import ErrorCode

# 401 40101 is a stale x-timestamp: a fresh signature fixes it, Sinch did not act on it.
STALE_TIMESTAMP = 40101
CALL_NOT_FOUND = 40400
# Credentials, whatever the HTTP status: 40004 "Application key is invalid" (a 400), 40108
# invalid credentials, 40301 invalid authorization scheme.
CREDENTIAL_CODES = frozenset({40004, 40108, 40301})
ALREADY_ENDED = "call_already_ended"
NOT_PROCESSED_STATUSES = frozenset({408, 429, 503})
MAYBE_PROCESSED_STATUSES = frozenset({500, 502, 504})


class Verdict(Enum):
    SUCCESS = "success"
    RETRY = "retry"
    FAIL = "fail"


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    code: ErrorCode | None = None
    message: str = ""
    retryable: bool = False
    retry_after_s: float | None = None
    # On success: something the caller should know (ALREADY_ENDED).
    note: str | None = None


SUCCESS = Decision(Verdict.SUCCESS)
REMOVED_BY_EARLIER_ATTEMPT = Decision(
    Verdict.SUCCESS,
    message="Sinch no longer knows the conference or participant: an earlier attempt that may "
    "have reached Sinch removed it",
    note="already_removed",
)
ENDED_BY_EARLIER_ATTEMPT = Decision(
    Verdict.SUCCESS,
    message="Sinch no longer knows the call: an earlier attempt that may have reached Sinch "
    "hung it up",
    note=ALREADY_ENDED,
)


@dataclass(frozen=True, slots=True)
class History:
    """What earlier attempts of the same request tell about this answer."""

    maybe_sent: bool = False  # an earlier attempt may have reached Sinch
    resigned: bool = False  # a stale timestamp was already re-signed once


def is_call_not_found(status: int, sinch_code: int | None, message: str | None) -> bool:
    """Sinch's "Call not found" (404, 40400), told apart from any other 404 (a wrong path or a
    proxy), which Sinch also answers with 40400 but names as a missing resource."""
    if status != 404 or sinch_code != CALL_NOT_FOUND:
        return False
    return message is None or "resource" not in message.lower()


def _transient(code: ErrorCode, message: str, retry_after_s: float | None = None) -> Decision:
    return Decision(Verdict.RETRY, code, message, retryable=True, retry_after_s=retry_after_s)


def _final(code: ErrorCode, message: str, *, retryable: bool = False) -> Decision:
    return Decision(Verdict.FAIL, code, message, retryable=retryable)


def judge_response(
    status: int,
    sinch_code: int | None,
    *,
    harmless: bool,
    retry_after_s: float | None,
    message: str | None = None,
    ends_call: bool = False,
    history: History = History(),
    resource: str = "call",
) -> Decision:
    """What an HTTP answer means: success, a retry, or the command's final failure.

    `ends_call`: the request removes what it names (a hangup, a kick), so a "not found" after
    an attempt that may have reached Sinch means it worked. `resource`: what the path names
    (`call`, `conference`, `callout`).
    """
    if 200 <= status < 300:
        return SUCCESS
    if is_call_not_found(status, sinch_code, message):
        if resource == "conference":
            if ends_call and history.maybe_sent:
                return REMOVED_BY_EARLIER_ATTEMPT
            return _final(
                ErrorCode.CONFERENCE_NOT_FOUND,
                "Sinch does not know the conference or participant (ended, left, or wrong id "
                "or region)",
            )
        if ends_call and history.maybe_sent:
            return ENDED_BY_EARLIER_ATTEMPT
        return _final(
            ErrorCode.CALL_NOT_FOUND, "Sinch does not know the call (ended, or wrong id or region)"
        )
    if status == 404:
        return _final(
            ErrorCode.UPSTREAM_ERROR,
            "Sinch answered 404 without 'call not found' (a wrong path, host or proxy)",
        )
    if sinch_code in CREDENTIAL_CODES:
        return _final(ErrorCode.UNAUTHORIZED, f"Sinch rejected the credentials ({sinch_code})")
    if status == 401:
        if sinch_code == STALE_TIMESTAMP and not history.resigned:
            return _transient(
                ErrorCode.UNAUTHORIZED, "Sinch found the request timestamp stale; re-signed"
            )
        return _final(ErrorCode.UNAUTHORIZED, "Sinch rejected the application key or signature")
    if status == 403:
        return _final(ErrorCode.FORBIDDEN, "Sinch refused the request for this application")
    if status == 429:
        return _transient(ErrorCode.RATE_LIMITED, "Sinch is rate limiting requests", retry_after_s)
    if status in NOT_PROCESSED_STATUSES:
        return _transient(ErrorCode.UPSTREAM_UNAVAILABLE, f"Sinch answered {status}", retry_after_s)
    if status >= 500:
        message = f"Sinch answered {status}"
        if harmless:
            return _transient(ErrorCode.UPSTREAM_ERROR, message, retry_after_s)
        if resource == "callout":
            return _call_maybe_placed(message)
        return _final(
            ErrorCode.UPSTREAM_ERROR,
            f"{message}; Sinch may have acted on the request, so it is not repeated",
            retryable=True,
        )
    if 300 <= status < 400:
        return _final(
            ErrorCode.UPSTREAM_ERROR, f"Sinch answered a redirect ({status}); not followed"
        )
    return _final(ErrorCode.UPSTREAM_REJECTED, f"Sinch rejected the request ({status})")


def _call_maybe_placed(what: str) -> Decision:
    return _final(
        ErrorCode.OUTCOME_UNKNOWN,
        f"{what}; Sinch may have placed the call, so the callout is not repeated (a new "
        "commandId would place a second call: check the events topic or Sinch first)",
    )


def judge_transport(
    *,
    request_sent: bool,
    timeout: bool,
    harmless: bool,
    detail: str,
    places_call: bool = False,
) -> Decision:
    """What a failure without an HTTP answer means."""
    code = ErrorCode.TIMEOUT if timeout else ErrorCode.UPSTREAM_UNAVAILABLE
    if not request_sent:
        return _transient(code, f"Sinch could not be reached ({detail})")
    if harmless:
        return _transient(code, f"no answer from Sinch ({detail})")
    if places_call:
        return _call_maybe_placed(f"no answer from Sinch ({detail})")
    return _final(
        code,
        f"no answer from Sinch ({detail}); it may have acted on the request, so it is not repeated",
        retryable=True,
    )
