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
from service.domain.results import CallState, Money, Party
from service.domain.sinch_answers import (
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
    # A field's docstring is its description in the published JSON Schema.
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, frozen=True, use_attribute_docstrings=True
    )


class MenuResult(_Out):
    """PIE's `menuResult`: what the caller did in a `runMenu`."""

    type: str | None = None
    """What ended the menu: `return`, `sequence`, `timeout`, `hangup`, `invalidinput`, ..."""
    value: str | None = None
    """The value returned (a `return(<value>)` option's value, or the digits entered)."""
    menu_id: str | None = None
    """The menu the caller was in."""
    input_method: str | None = None
    """How the caller answered: `dtmf` or `voice`."""


class CallEvent(_Out):
    """One record on the events topic: a callback, normalised, with the answer it was given."""

    event_id: str
    """Identifies the callback (SHA-256 of its canonical JSON): a callback Sinch delivers twice
    is published once."""
    event_type: EventType
    """`ice` (incoming call), `ace` (answered), `pie` (menu input), `dice` (disconnected),
    `notify`, or `unknown` for a callback type this version does not know."""
    call_id: str
    """The Sinch call id (Sinch's `callid`; also the record key)."""
    timestamp: str | None
    """Sinch's time of the event, in UTC with `Z` when it can be read, else Sinch's text."""
    received_at: Timestamp
    """When the service received the callback (UTC)."""
    region: str | None = None
    """The call's region, from the regional host of `callResourceUrl` (ICE); null for the
    global host."""
    call_resource_url: str | None = None
    """The URL Sinch gave for the call (ICE); commands for the call may pass it on."""
    from_: Party | None = None
    """The caller (ICE's `cli`, or Sinch's `from`)."""
    to: Party | None = None
    """The called party."""
    domain: str | None = None
    """The call's domain, lower-cased (`pstn`, `mxp`, `sip`, ...)."""
    result: str | None = None
    """DiCE: how the call ended, upper-cased (`ANSWERED`, `BUSY`, `NOANSWER`, ...)."""
    reason: str | None = None
    """DiCE: why it ended, upper-cased (`CALLERHANGUP`, `MANAGERHANGUP`, ...)."""
    duration: int | None = None
    """DiCE: the call's duration in whole seconds."""
    debit: Money | None = None
    """DiCE: the amount charged for the call."""
    user_rate: Money | None = None
    """The rate charged per minute."""
    menu_result: MenuResult | None = None
    """PIE: what the caller did in a `runMenu`."""
    amd: dict[str, Any] | None = None
    """Answering machine detection's result (ACE, or a Notify), as Sinch sent it."""
    notification_type: str | None = None
    """Notify: the notification's `type` (e.g. `recording_finished`)."""
    recording_url: str | None = None
    """Notify: where a recording was stored (Sinch's `destination`)."""
    conference_id: str | None = None
    """The conference the callback is about, when it is about one."""
    custom: str | None = None
    """The call's custom data as text (JSON text when Sinch sent an object)."""
    answer: dict[str, Any] | None = None
    """The SVAML the service answered the callback with (ICE, ACE, PIE); null for DiCE and
    Notify."""
    callback: dict[str, Any]
    """The callback exactly as received, so nothing Sinch sent is lost."""

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
    callback: dict[str, Any],
    *,
    received_at: datetime,
    answer: dict[str, Any] | None,
    identity: str | None = None,
) -> CallEvent:
    """`identity`: the callback's `callback_identity`, when the caller has it already."""
    kind = event_type(callback)
    resource_url = _text(callback.get("callResourceUrl"))
    domain = _text(callback.get("domain"))
    amd = callback.get("amd")
    return CallEvent(
        event_id=identity or callback_identity(callback),
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
