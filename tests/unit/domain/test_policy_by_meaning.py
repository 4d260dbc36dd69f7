"""Retries by meaning for callouts and conference commands (docs/contract.md, "Guarantees"):
a callout is never repeated once it may have reached Sinch; participant commands are harmless
to repeat; a kick meeting "not found" after a maybe-sent attempt has done its job."""

from __future__ import annotations

import pytest

from service.domain import commands as c
from service.domain.plan import plan
from service.domain.policy import History, Verdict, judge_response, judge_transport
from service.domain.results import ErrorCode

MAYBE_SENT = History(maybe_sent=True)


def command(data: dict[str, object]) -> c.Command:
    return c.COMMAND.validate_python(data, by_alias=True, by_name=False)


CALLOUT = command(
    {
        "commandId": "c-1",
        "type": "callout",
        "callout": {
            "method": "ttsCallout",
            "ttsCallout": {
                "destination": {"type": "number", "endpoint": "+46700000010"},
                "text": "Hi",
                "locale": "en-US",
            },
        },
    }
)


def participant(kind: str) -> c.Command:
    return command({"commandId": "c-2", "type": kind, "conferenceId": "r-1", "callId": "a"})


@pytest.mark.parametrize("status", [500, 502, 504])
def test_a_callout_that_may_have_reached_sinch_is_not_repeated(status: int) -> None:
    request = plan(CALLOUT)
    decision = judge_response(
        status, None, harmless=request.harmless, retry_after_s=None, resource=request.resource
    )
    assert decision.verdict is Verdict.FAIL
    assert decision.code is ErrorCode.OUTCOME_UNKNOWN
    assert decision.retryable is False  # a new commandId would place a second call


@pytest.mark.parametrize("timeout", [True, False])
def test_a_callout_without_an_answer_after_sending_is_outcome_unknown(timeout: bool) -> None:
    request = plan(CALLOUT)
    decision = judge_transport(
        request_sent=True,
        timeout=timeout,
        harmless=request.harmless,
        detail="ReadTimeout",
        places_call=request.places_call,
    )
    assert (decision.verdict, decision.code, decision.retryable) == (
        Verdict.FAIL,
        ErrorCode.OUTCOME_UNKNOWN,
        False,
    )


@pytest.mark.parametrize("status", [429, 503])
def test_a_callout_sinch_cannot_have_acted_on_is_retried(status: int) -> None:
    request = plan(CALLOUT)
    decision = judge_response(
        status, None, harmless=request.harmless, retry_after_s=None, resource=request.resource
    )
    assert decision.verdict is Verdict.RETRY
    unsent = judge_transport(
        request_sent=False, timeout=False, harmless=False, detail="ConnectError", places_call=True
    )
    assert unsent.verdict is Verdict.RETRY


@pytest.mark.parametrize(
    "kind", ["muteParticipant", "unmuteParticipant", "holdParticipant", "resumeParticipant"]
)
def test_participant_commands_are_repeated_after_a_maybe_sent_attempt(kind: str) -> None:
    request = plan(participant(kind))
    assert request.harmless
    decision = judge_response(
        502, None, harmless=request.harmless, retry_after_s=None, resource=request.resource
    )
    assert decision.verdict is Verdict.RETRY
    assert (
        judge_transport(request_sent=True, timeout=True, harmless=True, detail="x").verdict
        is Verdict.RETRY
    )


@pytest.mark.parametrize(
    "data",
    [
        {"commandId": "k", "type": "kickParticipant", "conferenceId": "r-1", "callId": "a"},
        {"commandId": "k", "type": "kickAllParticipants", "conferenceId": "r-1"},
    ],
)
def test_a_kick_meeting_not_found_after_a_maybe_sent_attempt_has_done_its_job(
    data: dict[str, object],
) -> None:
    request = plan(command(data))
    assert request.ends_call and request.harmless
    after = judge_response(
        404,
        40400,
        harmless=True,
        retry_after_s=None,
        message="Participant not found",
        ends_call=request.ends_call,
        history=MAYBE_SENT,
        resource=request.resource,
    )
    assert after.verdict is Verdict.SUCCESS and after.note == "already_removed"
    first = judge_response(
        404,
        40400,
        harmless=True,
        retry_after_s=None,
        message="Participant not found",
        ends_call=request.ends_call,
        resource=request.resource,
    )
    assert (first.verdict, first.code) == (Verdict.FAIL, ErrorCode.CONFERENCE_NOT_FOUND)


def test_mute_meeting_not_found_is_conference_not_found_even_after_a_maybe_sent_attempt() -> None:
    request = plan(participant("muteParticipant"))
    decision = judge_response(
        404,
        40400,
        harmless=True,
        retry_after_s=None,
        message="Conference not found",
        ends_call=request.ends_call,
        history=MAYBE_SENT,
        resource=request.resource,
    )
    assert (decision.verdict, decision.code) == (Verdict.FAIL, ErrorCode.CONFERENCE_NOT_FOUND)


def test_a_conference_path_answering_resource_not_found_is_a_wrong_path() -> None:
    decision = judge_response(
        404,
        40400,
        harmless=True,
        retry_after_s=None,
        message="Resource not found",
        resource="conference",
    )
    assert decision.code is ErrorCode.UPSTREAM_ERROR


def test_recording_credentials_in_inline_svaml_are_sent_but_never_echoed() -> None:
    ace = (
        '{"instructions":[{"name":"startRecording","options":{"destinationUrl":"s3://b/k",'
        '"credentials":"AKIA:very-secret"}}],"action":{"name":"continue"}}'
    )
    custom = command(
        {
            "commandId": "c-3",
            "type": "callout",
            "callout": {
                "method": "customCallout",
                "customCallout": {
                    "destination": {"type": "number", "endpoint": "+46700000010"},
                    "ace": ace,
                },
            },
        }
    )
    request = plan(custom)
    assert b"very-secret" in request.body  # Sinch needs it
    assert "very-secret" not in str(request.echo())
    assert "very-secret" not in str(custom.redacted())
    assert '"credentials":"***"' in request.echo()["body"]["customCallout"]["ace"]
