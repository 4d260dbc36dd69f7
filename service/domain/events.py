"""Call events: what the service publishes for each Sinch callback (ICE, ACE, PIE, DiCE, Notify).

Pure: no HTTP, no Kafka. A callback is read leniently (Sinch's own models make every field
optional and its enums open), normalised into a few typed fields, and kept as received beside
them, so nothing Sinch sent is lost. Field names follow Sinch's callback models: `callid` in
lower case, `cli` for the caller on ICE, `from` as a plain string on DiCE (docs/callbacks.md
lists the sources).
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from service.domain.calls import REGIONS
from service.domain.results import (
    CallState,
    Money,
    Party,
    _custom,
    _int,
    _money,
    _party,
    _sinch_timestamp,
    _text,
    _upper,
)
from service.domain.wire import Timestamp

EventType = Literal["ice", "ace", "pie", "dice", "notify", "unknown"]
KNOWN_EVENTS: frozenset[str] = frozenset({"ice", "ace", "pie", "dice", "notify"})
# Events whose answer is SVAML; the others (DiCE, Notify, unknown) get an empty 200.
ANSWERED_EVENTS: frozenset[str] = frozenset({"ice", "ace", "pie"})

# Lenient: Sinch's ids match CALL_ID_PATTERN, but its SDK fixtures use free text ("a call id");
# the id only has to make a Kafka key and a store key.
_CALL_ID = re.compile(r"[^\x00-\x1f\x7f]{1,256}")
# `calling-euc1.api.sinch.com` -> euc1; `calling.api.sinch.com` is the global host.
_REGIONAL_HOST = re.compile(r"calling-([a-z0-9]+)\.api\.sinch\.com")


class NotACallback(ValueError):
    """The body is not a Sinch callback; the message names what is wrong."""


class _Out(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)


class MenuResult(_Out):
    """PIE's `menuResult`: what the caller did in a `runMenu`."""

    type: str | None = None
    value: str | None = None
    menu_id: str | None = None
    input_method: str | None = None


class CallEvent(_Out):
    """One record on the events topic: a callback, normalised, with the answer it was given."""

    event_id: str
    event_type: EventType
    call_id: str
    timestamp: str | None
    received_at: Timestamp
    region: str | None = None
    call_resource_url: str | None = None
    from_: Party | None = None
    to: Party | None = None
    domain: str | None = None
    result: str | None = None
    reason: str | None = None
    duration: int | None = None
    debit: Money | None = None
    user_rate: Money | None = None
    menu_result: MenuResult | None = None
    amd: dict[str, Any] | None = None
    notification_type: str | None = None
    recording_url: str | None = None
    conference_id: str | None = None
    custom: str | None = None
    answer: dict[str, Any] | None = None
    callback: dict[str, Any]

    model_config = ConfigDict(
        alias_generator=lambda name: "from" if name == "from_" else to_camel(name),
        populate_by_name=True,
        frozen=True,
    )

    def to_bytes(self) -> bytes:
        return self.model_dump_json(by_alias=True).encode()

    def final_call_state(self) -> CallState:
        """DiCE's own figures as the call's last snapshot (no GET: the call is gone)."""
        return CallState(
            from_=self.from_,
            to=self.to,
            domain=self.domain,
            duration=self.duration,
            status="FINAL",
            result=self.result,
            reason=self.reason,
            timestamp=self.timestamp,
            custom=self.custom,
            user_rate=self.user_rate,
            debit=self.debit,
        )


def parse_callback(body: bytes) -> dict[str, Any]:
    """The callback's JSON object, or NotACallback naming the problem."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise NotACallback(f"body: not JSON ({type(error).__name__})") from None
    if not isinstance(data, dict):
        raise NotACallback("body: must be a JSON object")
    event = data.get("event")
    if not isinstance(event, str) or not event:
        raise NotACallback("event: missing (a Sinch callback names its event: ice, ace, ...)")
    call_id = data.get("callid", data.get("callId"))
    if not isinstance(call_id, str) or not _CALL_ID.fullmatch(call_id):
        raise NotACallback("callid: missing, or not 1-256 printable characters")
    return data


def callback_identity(callback: dict[str, Any]) -> str:
    """Stable id of one callback: the same callback delivered twice has the same id."""
    canonical = json.dumps(callback, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def event_type(callback: dict[str, Any]) -> EventType:
    name = str(callback.get("event", "")).lower()
    return name if name in KNOWN_EVENTS else "unknown"  # type: ignore[return-value]


def call_id_of(callback: dict[str, Any]) -> str:
    return str(callback.get("callid", callback.get("callId")))


def region_of(call_resource_url: str | None) -> str | None:
    """The region of a Sinch calling host in `callResourceUrl` (None: global or not Sinch)."""
    if not call_resource_url:
        return None
    host = urlsplit(call_resource_url).hostname or ""
    match = _REGIONAL_HOST.fullmatch(host)
    return match.group(1) if match and match.group(1) in REGIONS else None


def called_number(callback: dict[str, Any]) -> str | None:
    to = callback.get("to")
    return _text(to.get("endpoint")) if isinstance(to, dict) else None


def _caller(callback: dict[str, Any]) -> Party | None:
    cli = _text(callback.get("cli"))
    if cli:
        return Party(type="number", endpoint=cli)
    sender = callback.get("from")
    if isinstance(sender, dict):
        return _party(sender)
    text = _text(sender)
    return Party(endpoint=text) if text else None


def _menu_result(value: Any) -> MenuResult | None:
    if not isinstance(value, dict):
        return None
    return MenuResult(
        type=_text(value.get("type")),
        value=_text(value.get("value")),
        menu_id=_text(value.get("menuId")),
        input_method=_text(value.get("inputMethod")),
    )


def build_event(
    callback: dict[str, Any], *, received_at: datetime, answer: dict[str, Any] | None
) -> CallEvent:
    kind = event_type(callback)
    resource_url = _text(callback.get("callResourceUrl"))
    domain = _text(callback.get("domain"))
    amd = callback.get("amd")
    return CallEvent(
        event_id=callback_identity(callback),
        event_type=kind,
        call_id=call_id_of(callback),
        timestamp=_sinch_timestamp(callback.get("timestamp")),
        received_at=received_at,
        region=region_of(resource_url),
        call_resource_url=resource_url,
        from_=_caller(callback),
        to=_party(callback.get("to")),
        domain=domain.lower() if domain else None,
        result=_upper(callback.get("result")),
        reason=_upper(callback.get("reason")),
        duration=_int(callback.get("duration")),
        debit=_money(callback.get("debit")),
        user_rate=_money(callback.get("userRate")),
        menu_result=_menu_result(callback.get("menuResult")),
        amd=amd if isinstance(amd, dict) else None,
        notification_type=_text(callback.get("type")) if kind == "notify" else None,
        recording_url=_text(callback.get("destination")) if kind == "notify" else None,
        conference_id=_text(callback.get("conferenceId")),
        custom=_custom(callback.get("custom")),
        answer=answer,
        callback=callback,
    )
