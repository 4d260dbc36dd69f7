from __future__ import annotations

import pytest

from service.domain.policy import (
    ALREADY_ENDED,
    History,
    Verdict,
    judge_response,
    judge_transport,
)
from service.domain.results import ErrorCode


# `resigned`: a stale timestamp was already re-signed once for this request (any attempt).
@pytest.mark.parametrize(
    ("status", "sinch_code", "harmless", "resigned", "verdict", "code"),
    [
        (204, None, False, False, Verdict.SUCCESS, None),
        (200, None, True, False, Verdict.SUCCESS, None),
        (404, 40400, True, False, Verdict.FAIL, ErrorCode.CALL_NOT_FOUND),
        (401, 40101, False, False, Verdict.RETRY, ErrorCode.UNAUTHORIZED),
        (401, 40101, False, True, Verdict.FAIL, ErrorCode.UNAUTHORIZED),
        # Credential codes, whatever the status (Sinch's 40004 is a 400).
        (400, 40004, True, False, Verdict.FAIL, ErrorCode.UNAUTHORIZED),
        (401, 40108, True, False, Verdict.FAIL, ErrorCode.UNAUTHORIZED),
        (403, 40301, True, False, Verdict.FAIL, ErrorCode.UNAUTHORIZED),
        # A 404 that is not "call not found": a wrong path, host or proxy.
        (404, None, True, False, Verdict.FAIL, ErrorCode.UPSTREAM_ERROR),
        (404, 40401, True, False, Verdict.FAIL, ErrorCode.UPSTREAM_ERROR),
        (401, 40102, True, False, Verdict.FAIL, ErrorCode.UNAUTHORIZED),
        (403, 40300, True, False, Verdict.FAIL, ErrorCode.FORBIDDEN),
        (429, None, False, False, Verdict.RETRY, ErrorCode.RATE_LIMITED),
        (503, 50300, False, False, Verdict.RETRY, ErrorCode.UPSTREAM_UNAVAILABLE),
        (500, 50000, True, False, Verdict.RETRY, ErrorCode.UPSTREAM_ERROR),
        (500, 50000, False, False, Verdict.FAIL, ErrorCode.UPSTREAM_ERROR),
        (502, None, False, False, Verdict.FAIL, ErrorCode.UPSTREAM_ERROR),
        (504, None, True, False, Verdict.RETRY, ErrorCode.UPSTREAM_ERROR),
        (400, 40001, True, False, Verdict.FAIL, ErrorCode.UPSTREAM_REJECTED),
        (302, None, True, False, Verdict.FAIL, ErrorCode.UPSTREAM_ERROR),
    ],
)
def test_response_rules(
    status: int,
    sinch_code: int | None,
    harmless: bool,
    resigned: bool,
    verdict: Verdict,
    code: ErrorCode | None,
) -> None:
    decision = judge_response(
        status,
        sinch_code,
        harmless=harmless,
        retry_after_s=None,
        history=History(resigned=resigned),
    )
    assert decision.verdict is verdict
    assert decision.code == code


def test_a_resource_not_found_404_is_not_call_not_found() -> None:
    decision = judge_response(
        404, 40400, harmless=True, retry_after_s=None, message="Resource not found"
    )
    assert decision.code is ErrorCode.UPSTREAM_ERROR
    assert "wrong path" in decision.message


@pytest.mark.parametrize(
    ("ends_call", "maybe_sent", "verdict", "note"),
    [
        (True, True, Verdict.SUCCESS, ALREADY_ENDED),
        (True, False, Verdict.FAIL, None),
        (False, True, Verdict.FAIL, None),
    ],
)
def test_call_not_found_after_a_maybe_sent_hangup_means_it_worked(
    ends_call: bool, maybe_sent: bool, verdict: Verdict, note: str | None
) -> None:
    decision = judge_response(
        404,
        40400,
        harmless=True,
        retry_after_s=None,
        message="Call not found",
        ends_call=ends_call,
        history=History(maybe_sent=maybe_sent),
    )
    assert decision.verdict is verdict
    assert decision.note == note
    if verdict is Verdict.FAIL:
        assert decision.code is ErrorCode.CALL_NOT_FOUND


def test_maybe_processed_failure_of_a_harmful_command_is_final_but_retryable() -> None:
    decision = judge_response(500, None, harmless=False, retry_after_s=None)
    assert decision.retryable is True
    assert "may have acted" in decision.message


@pytest.mark.parametrize(
    ("sent", "timeout", "harmless", "verdict", "code"),
    [
        (False, False, False, Verdict.RETRY, ErrorCode.UPSTREAM_UNAVAILABLE),
        (False, True, False, Verdict.RETRY, ErrorCode.TIMEOUT),
        (True, True, False, Verdict.FAIL, ErrorCode.TIMEOUT),
        (True, True, True, Verdict.RETRY, ErrorCode.TIMEOUT),
        (True, False, False, Verdict.FAIL, ErrorCode.UPSTREAM_UNAVAILABLE),
    ],
)
def test_transport_rules(
    sent: bool, timeout: bool, harmless: bool, verdict: Verdict, code: ErrorCode
) -> None:
    decision = judge_transport(request_sent=sent, timeout=timeout, harmless=harmless, detail="x")
    assert decision.verdict is verdict
    assert decision.code is code
