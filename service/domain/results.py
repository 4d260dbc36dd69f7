"""What the service publishes: a result per command record, and call snapshots.

Results keep every contract field, `null` included, so consumers can rely on the shape.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal, cast

from pydantic import ConfigDict
from pydantic.alias_generators import to_camel

from service.domain.wire import JsonModel, Timestamp, format_timestamp


class Outcome(StrEnum):
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
    code: ErrorCode
    message: str
    retryable: bool = False
    sinch_error_code: int | None = None
    sinch_reference: str | None = None


class RequestEcho(JsonModel):
    method: Literal["GET", "PATCH"]
    path: str
    body: Any = None


class Source(JsonModel):
    topic: str
    partition: int
    offset: int


class Result(JsonModel):
    command_id: str | None
    call_id: str | None
    type: str | None
    outcome: Outcome
    duplicate: bool = False
    attempts: int = 0
    http_status: int | None = None
    error: ErrorInfo | None = None
    # On success, something to know: "call_already_ended" (a retried hangup met "call not
    # found" after an earlier attempt that may have hung the call up).
    note: str | None = None
    request: RequestEcho | None = None
    received_at: Timestamp
    completed_at: Timestamp
    duration_ms: float
    source: Source
    metadata: dict[str, Any] | None = None


class Party(JsonModel):
    type: str | None = None
    endpoint: str | None = None


class Money(JsonModel):
    currency_id: str | None = None
    amount: float | None = None
    # Sinch's older shape sends money as text ("string <currency>"): kept as sent.
    text: str | None = None


class CallState(JsonModel):
    """The call as Sinch reports it, normalized; unknown values kept as text, never an error."""

    from_: Party | None = None
    to: Party | None = None
    domain: str | None = None
    duration: int | None = None
    status: str | None = None
    result: str | None = None
    reason: str | None = None
    timestamp: str | None = None
    custom: str | None = None
    user_rate: Money | None = None
    debit: Money | None = None

    model_config = ConfigDict(
        alias_generator=lambda name: "from" if name == "from_" else to_camel(name),
        populate_by_name=True,
        frozen=True,
    )


class Snapshot(JsonModel):
    call_id: str
    observed_at: Timestamp
    command_id: str | None
    call: CallState


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _party(value: Any) -> Party | None:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        # Sinch's older shape: `from`/`to` as the endpoint itself.
        return Party(endpoint=_text(value))
    if not isinstance(value, dict):
        return None
    kind = _text(value.get("type"))
    return Party(type=kind.lower() if kind else None, endpoint=_text(value.get("endpoint")))


def _money(value: Any) -> Money | None:
    if isinstance(value, str):
        try:
            amount: float | None = float(value)
        except ValueError:
            amount = None
        if amount is not None and not math.isfinite(amount):
            amount = None
        return Money(amount=amount, text=value)
    if not isinstance(value, dict):
        return None
    amount = value.get("amount")
    numeric = isinstance(amount, int | float) and not isinstance(amount, bool)
    return Money(
        currency_id=_text(value.get("currencyId")),
        amount=float(cast(float, amount)) if numeric else None,
    )


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _upper(value: Any) -> str | None:
    text = _text(value)
    return text.upper() if text else None


def _sinch_timestamp(value: Any) -> str | None:
    """Sinch often omits the zone (`2023-04-21T14:45:51`): read it as UTC."""
    text = _text(value)
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return format_timestamp(moment)


def _custom(value: Any) -> str | None:
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return _text(value)


def normalize_call(payload: Any) -> CallState:
    """Sinch's GET response, in whatever shape it came, as a `CallState`."""
    if not isinstance(payload, dict):
        return CallState()
    domain = _text(payload.get("domain"))
    return CallState(
        from_=_party(payload.get("from")),
        to=_party(payload.get("to")),
        domain=domain.lower() if domain else None,
        duration=_int(payload.get("duration")),
        status=_upper(payload.get("status")),
        result=_upper(payload.get("result")),
        reason=_upper(payload.get("reason")),
        timestamp=_sinch_timestamp(payload.get("timestamp")),
        custom=_custom(payload.get("custom")),
        user_rate=_money(payload.get("userRate")),
        debit=_money(payload.get("debit")),
    )
