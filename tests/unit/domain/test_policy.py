from __future__ import annotations

import pytest

from service.domain.policy import Verdict, judge_response, judge_transport
from service.domain.results import ErrorCode


@pytest.mark.parametrize(
    ("status", "sinch_code", "harmless", "attempt", "verdict", "code"),
    [
        (204, None, False, 1, Verdict.SUCCESS, None),
        (200, None, True, 1, Verdict.SUCCESS, None),
        (404, 40400, True, 1, Verdict.FAIL, ErrorCode.CALL_NOT_FOUND),
        (401, 40101, False, 1, Verdict.RETRY, ErrorCode.UNAUTHORIZED),
        (401, 40101, False, 2, Verdict.FAIL, ErrorCode.UNAUTHORIZED),
        (401, 40102, True, 1, Verdict.FAIL, ErrorCode.UNAUTHORIZED),
        (403, 40300, True, 1, Verdict.FAIL, ErrorCode.FORBIDDEN),
        (429, None, False, 1, Verdict.RETRY, ErrorCode.RATE_LIMITED),
        (503, 50300, False, 1, Verdict.RETRY, ErrorCode.UPSTREAM_UNAVAILABLE),
        (500, 50000, True, 1, Verdict.RETRY, ErrorCode.UPSTREAM_ERROR),
        (500, 50000, False, 1, Verdict.FAIL, ErrorCode.UPSTREAM_ERROR),
        (502, None, False, 1, Verdict.FAIL, ErrorCode.UPSTREAM_ERROR),
        (504, None, True, 1, Verdict.RETRY, ErrorCode.UPSTREAM_ERROR),
        (400, 40001, True, 1, Verdict.FAIL, ErrorCode.UPSTREAM_REJECTED),
        (302, None, True, 1, Verdict.FAIL, ErrorCode.UPSTREAM_ERROR),
    ],
)
def test_response_rules(
    status: int,
    sinch_code: int | None,
    harmless: bool,
    attempt: int,
    verdict: Verdict,
    code: ErrorCode | None,
) -> None:
    decision = judge_response(
        status, sinch_code, harmless=harmless, attempt=attempt, retry_after_s=None
    )
    assert decision.verdict is verdict
    assert decision.code == code


def test_maybe_processed_failure_of_a_harmful_command_is_final_but_retryable() -> None:
    decision = judge_response(500, None, harmless=False, attempt=1, retry_after_s=None)
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
