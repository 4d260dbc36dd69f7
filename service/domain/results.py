"""What the service publishes: a result per command record, and call snapshots.

Results keep every contract field, `null` included, so consumers can rely on the shape.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import ConfigDict, Field
from pydantic.alias_generators import to_camel

from service.domain.echo import MAX_ECHOED_ID_CHARS
from service.domain.wire import JsonModel, Timestamp

# The one retry rule, word for word in the schema, the CLI's help, the topic pages and the docs.
RETRY_RULE = (
    "`retryable: true` means the same action may succeed if sent again with a new `commandId`; "
    "resending the same `commandId` replays the stored result (`duplicate: true`) and makes no "
    "request."
)


class Outcome(StrEnum):
    """`succeeded`: Sinch accepted the request (2xx). `failed`: a request was made, or may have
    been made, and did not succeed (`error` says why). `rejected`: the record broke the
    contract, no request was made. `expired`: `expiresAt` had passed when the command's turn
    came, no request was made."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REJECTED = "rejected"
    EXPIRED = "expired"


class ErrorCode(StrEnum):
    """Stable, snake_case error codes of results and dead letters."""

    INVALID_COMMAND = "invalid_command"
    NOT_JSON = "not_json"
    KEY_MISMATCH = "key_mismatch"
    TOO_LARGE = "too_large"
    IDEMPOTENCY_CONFLICT = "idempotency_conflict"
    CALL_NOT_FOUND = "call_not_found"
    CONFERENCE_NOT_FOUND = "conference_not_found"
    CALL_ENDED = "call_ended"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    RATE_LIMITED = "rate_limited"
    UPSTREAM_UNAVAILABLE = "upstream_unavailable"
    UPSTREAM_ERROR = "upstream_error"
    UPSTREAM_REJECTED = "upstream_rejected"
    TIMEOUT = "timeout"
    OUTCOME_UNKNOWN = "outcome_unknown"
    EXPIRED = "expired"
    INTERNAL_ERROR = "internal_error"


class ErrorInfo(JsonModel):
    """Why a command did not succeed."""

    code: ErrorCode = Field(examples=["call_not_found"])
    """Stable, snake_case error code (docs/contract.md, "Error codes")."""
    message: str = Field(examples=["Sinch answered 404: Call not found (40400)"])
    """What happened, for people: names the field and rule, never an input value."""
    retryable: bool = Field(
        default=False,
        description=f"Whether the same action may succeed if sent again. {RETRY_RULE} `false`: "
        "the same command fails the same way; fix the cause named by `code`.",
    )
    sinch_error_code: int | None = Field(default=None, examples=[40400])
    """Sinch's own `errorCode` from its error answer, when it had one; else null."""
    sinch_reference: str | None = None
    """Sinch's `reference` from its error answer (quote it to Sinch support); else null."""


class RequestEcho(JsonModel):
    """The request sent to Sinch, as sent (recording credentials replaced by `***`)."""

    method: Literal["GET", "PATCH", "POST", "DELETE"]
    """HTTP method: PATCH for an action, GET for getCallInfo or getConferenceInfo, POST for a
    callout, DELETE for a kick."""
    path: str = Field(examples=["/calling/v1/calls/id/4398599d1ba84ef3bde0a82dfb61abed"])
    """Path of the Calling API request, e.g. `/calling/v1/calls/id/{callId}` or its
    `/leg/{leg}` variant, `/calling/v1/callouts`, `/calling/v1/conferences/id/{conferenceId}`."""
    body: Any = None
    """The SVAML body sent (JSON), recording `credentials` replaced by `***`; null for GET."""


class Source(JsonModel):
    """Where the command record was read."""

    topic: str
    """The topic the command record was read from."""
    partition: int
    """Its partition."""
    offset: int
    """Its offset in that partition."""


_ECHO_RULE = (
    "On a `rejected` result, as sent when it was a string (so the sender can find the answer), "
    "even when it broke the contract's pattern: control and invisible characters escaped "
    "repr-like (`\\n`, `\\x1b`, `\\u202e`, a backslash doubled), cut at "
    f"{MAX_ECHOED_ID_CHARS} characters ending in `…`."
)


class Result(JsonModel):
    command_id: str | None = Field(
        max_length=MAX_ECHOED_ID_CHARS,
        description="The command's commandId; null when the record had none that is a string. "
        + _ECHO_RULE,
    )
    call_id: str | None = Field(
        max_length=MAX_ECHOED_ID_CHARS,
        description="The command's callId (a conference command's participant); for a "
        "`callout`, the callId of the call it placed (null until Sinch answered with one); else "
        "the record key when it is a well-formed call id; else null. " + _ECHO_RULE,
    )
    conference_id: str | None = Field(
        default=None,
        description="The conference a conference command names, or a conferenceCallout joins; "
        "else null.",
    )
    type: str | None = Field(examples=["hangup"])
    """The command's `type` as sent; null when it could not be read."""
    outcome: Outcome
    """`succeeded`, `failed` (a request was made or may have been made; `error` says why),
    `rejected` (the record broke the contract; no request) or `expired` (`expiresAt` passed
    before its turn; no request)."""
    duplicate: bool = Field(
        default=False,
        description="True when this result replays the stored result of an earlier execution "
        f"of the same `commandId`: nothing was sent to Sinch now. {RETRY_RULE}",
    )
    attempts: int = 0
    """HTTP attempts of the command's own request (0 when none was made); the snapshot read
    after it is not counted."""
    http_status: int | None = Field(default=None, examples=[204])
    """HTTP status of the last attempt; null when no attempt got an answer."""
    error: ErrorInfo | None = None
    """Why the command did not succeed; null on `succeeded`."""
    # On success, something to know: "call_already_ended" (a retried hangup met "call not
    # found" after an earlier attempt that may have hung the call up), "already_removed" (the
    # same for a kick).
    note: str | None = Field(default=None, examples=["call_already_ended"])
    """On success, something to know: `call_already_ended` when a retried hangup met "call
    not found" after an earlier attempt that may have hung the call up; `already_removed` when
    a retried kick met "not found" the same way; else null."""
    request: RequestEcho | None = None
    """The request sent to Sinch; null when no request was made."""
    received_at: Timestamp
    """When the service started on this record (UTC)."""
    completed_at: Timestamp
    """When the service finished this record (UTC)."""
    duration_ms: float
    """`completedAt - receivedAt`, in milliseconds."""
    source: Source
    """Where the command record was read (topic, partition, offset)."""
    metadata: dict[str, Any] | None = None
    """The command's `metadata`, copied unchanged; null when it had none."""


class Party(JsonModel):
    """One end of a call."""

    type: str | None = Field(default=None, examples=["number"])
    """The endpoint's kind as Sinch names it, lower-cased: `number`, `username`, `sip`, ..."""
    endpoint: str | None = Field(default=None, examples=["+46700000001"])
    """The endpoint (a number in E.164, a user name, a SIP address), always as text."""


class Money(JsonModel):
    """An amount as Sinch reports it."""

    currency_id: str | None = Field(default=None, examples=["EUR"])
    """Currency code; null when Sinch sent none (or sent the amount as text)."""
    amount: float | None = Field(default=None, examples=[0.0085])
    """The amount; null when it could not be read as a finite number."""
    # Sinch's older shape sends money as text ("string <currency>"): kept as sent.
    text: str | None = None
    """Sinch's older shape, money as text, kept as sent; null for the object shape."""


class CallState(JsonModel):
    """The call as Sinch reports it, normalized; unknown values kept as text, never an error."""

    from_: Party | None = None
    """The calling party (`type` lower-cased, `endpoint` as text); null if Sinch left it out."""
    to: Party | None = None
    """The called party; null if Sinch left it out."""
    domain: str | None = Field(default=None, examples=["pstn"])
    """The call's domain, lower-cased (`pstn`, `mxp`, `sip`, ...)."""
    duration: int | None = Field(default=None, examples=[42])
    """Duration of the call in whole seconds; null when unknown or unreadable."""
    status: str | None = Field(default=None, examples=["ONGOING"])
    """The call's status, upper-cased (`ONGOING`, `FINAL`, ...; unknown values kept)."""
    result: str | None = Field(default=None, examples=["ANSWERED"])
    """How the call ended or stands, upper-cased (`ANSWERED`, `BUSY`, `NOANSWER`, `FAILED`,
    `N/A`, ...)."""
    reason: str | None = Field(default=None, examples=["MANAGERHANGUP"])
    """Why it ended, upper-cased (`CALLERHANGUP`, `CALLEEHANGUP`, `MANAGERHANGUP`, ...)."""
    timestamp: str | None = Field(default=None, examples=["2026-11-26T23:41:07.000Z"])
    """Sinch's timestamp of the call, in UTC with `Z` when it can be read (a value without a
    zone is read as UTC), else Sinch's text."""
    custom: str | None = None
    """The call's custom data as text (JSON text when Sinch sent an object)."""
    user_rate: Money | None = None
    """The rate charged per minute, as Sinch reports it."""
    debit: Money | None = None
    """The amount charged for the call, as Sinch reports it."""

    model_config = ConfigDict(
        alias_generator=lambda name: "from" if name == "from_" else to_camel(name),
        populate_by_name=True,
        frozen=True,
    )


class Snapshot(JsonModel):
    call_id: str = Field(examples=["4398599d1ba84ef3bde0a82dfb61abed"])
    """The Sinch call id (also the record key)."""
    observed_at: Timestamp
    """When call-control read the call's state (UTC)."""
    command_id: str | None
    """The command this snapshot followed; null when none did (e.g. Sinch's disconnect
    callback, DiCE)."""
    call: CallState
    """The call as Sinch reports it, normalized."""


class Participant(JsonModel):
    """One conference participant as Sinch reports it (OAS `ConferenceParticipant`)."""

    cli: str | None = Field(
        default=None, description="The participant's number, or the CLI.", examples=["+46708000000"]
    )
    id: str | None = Field(
        default=None,
        description="The callId of the participant's call leg.",
        examples=["4398599d1ba84ef3bde0a82dfb61abed"],
    )
    duration: int | None = Field(default=None, description="Seconds in the conference.")
    muted: bool | None = Field(default=None, description="Muted by a muteParticipant.")
    onhold: bool | None = Field(default=None, description="On hold by a holdParticipant.")


class ConferenceSnapshot(JsonModel):
    """The latest participants of a conference, on the conferences topic (key conferenceId)."""

    conference_id: str = Field(
        description="The conference; also the record key.", examples=["sales-standup"]
    )
    observed_at: Timestamp = Field(description="When the service read it (or removed it all).")
    command_id: str | None = Field(description="The command after which it was read.")
    participants: list[Participant] = Field(
        description="Every participant; empty once Sinch no longer knows the conference."
    )
