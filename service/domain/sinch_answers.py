"""Sinch's answers read into the contract's models: call state, participants, a callout's new
call id. Total: any JSON (odd numbers, timestamps with no UTC form, lone surrogates) gives a
value or null, never an exception, since Sinch has acted by the time its answer is read."""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from typing import Any

from service.domain.echo import MAX_ECHOED_ID_CHARS
from service.domain.results import CallState, Money, Participant, Party
from service.domain.wire import format_timestamp

# Numbers that JSON readers everywhere (doubles) take without loss.
_MAX_SAFE_INT = 2**53 - 1
_ASCII_DIGITS = re.compile(r"[0-9]{1,15}")
_SURROGATES = re.compile(r"[\ud800-\udfff]")


def _clean(text: str) -> str:
    """Lone surrogates (JSON's `\\ud800`) cannot be written as UTF-8: replaced, not fatal."""
    return _SURROGATES.sub("\ufffd", text)


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return _clean(value)
    if isinstance(value, int) and abs(value) > _MAX_SAFE_INT:
        return None  # str() of a few thousand digits raises; no field of Sinch's is that
    return _clean(str(value))


def _party(value: Any) -> Party | None:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        # Sinch's older shape: `from`/`to` as the endpoint itself.
        return Party(endpoint=_text(value))
    if not isinstance(value, dict):
        return None
    kind = _text(value.get("type"))
    return Party(type=kind.lower() if kind else None, endpoint=_text(value.get("endpoint")))


def _amount(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, int) and abs(value) > _MAX_SAFE_INT:
        return None  # 10**400 has no float
    amount = float(value)
    return amount if math.isfinite(amount) else None


def _money(value: Any) -> Money | None:
    if isinstance(value, str):
        try:
            amount: float | None = float(value)
        except ValueError:
            amount = None
        if amount is not None and not math.isfinite(amount):
            amount = None
        return Money(amount=amount, text=_clean(value))
    if not isinstance(value, dict):
        return None
    return Money(currency_id=_text(value.get("currencyId")), amount=_amount(value.get("amount")))


def _int(value: Any) -> int | None:
    """A duration in seconds: a non-negative whole number of sane size, or nothing.
    Only ASCII digits: `"²"` and `"٣"` are digits to Python, not to Sinch."""
    number: int | None = None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and _ASCII_DIGITS.fullmatch(value.strip()):
        number = int(value.strip())
    return number if number is not None and 0 <= number <= _MAX_SAFE_INT else None


def _upper(value: Any) -> str | None:
    text = _text(value)
    return text.upper() if text else None


def _sinch_timestamp(value: Any) -> str | None:
    """Sinch often omits the zone (`2023-04-21T14:45:51`): read it as UTC. A value that is no
    timestamp, or one that has no UTC form (year 1 at +01:00), is kept as the text it was."""
    text = _text(value)
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return format_timestamp(moment)
    except (ValueError, OverflowError):
        return text


def _custom(value: Any) -> str | None:
    if isinstance(value, dict | list):
        try:
            return _clean(json.dumps(value, separators=(",", ":")))
        except (ValueError, TypeError, RecursionError):  # huge ints, odd keys, deep nesting
            return None
    return _text(value)


def normalize_call(payload: Any) -> CallState:
    """Sinch's GET response, in whatever shape it came, as a `CallState`; never raises, and a
    field that cannot be read sanely is null rather than an error."""
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


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {"true", "false"}:
        return value.lower() == "true"
    return None


def normalize_participants(payload: Any) -> list[Participant] | None:
    """Sinch's conference GET body as participants; None when it is not that shape at all (so
    a spoiled read never replaces a good snapshot). Never raises."""
    if not isinstance(payload, dict):
        return None
    items = payload.get("participants", [])
    if not isinstance(items, list):
        return None
    return [
        Participant(
            cli=_text(item.get("cli")),
            id=_text(item.get("id")),
            duration=_int(item.get("duration")),
            muted=_flag(item.get("muted")),
            onhold=_flag(item.get("onhold")),
        )
        for item in items
        if isinstance(item, dict)
    ]


def callout_call_id(payload: Any) -> str | None:
    """The `callId` of Sinch's callout answer (OAS `CalloutResponse`), when it is a text."""
    value = payload.get("callId") if isinstance(payload, dict) else None
    if isinstance(value, str | int) and not isinstance(value, bool):
        text = _text(value)
        return text[:MAX_ECHOED_ID_CHARS] if text else None
    return None


def known_state(call: CallState | None) -> CallState | None:
    """The state worth publishing: None when the read told nothing (every field null, e.g. a
    2xx whose body was cut or not JSON). The snapshots topic is compacted, so publishing an
    empty state would replace the last good one for good."""
    if call is None or call == _EMPTY_CALL:
        return None
    return call


_EMPTY_CALL = CallState()
