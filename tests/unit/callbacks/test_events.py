"""Callbacks normalised into events, and what they teach the command flow."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from service.domain.calls import CallRoute, route_command
from service.domain.commands import COMMAND
from service.domain.events import (
    NotACallback,
    build_event,
    callback_identity,
    parse_callback,
    region_of,
)
from service.domain.results import ErrorCode, ErrorInfo

NOW = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "not JSON"),
        (b"[1]", "JSON object"),
        (b'{"callid":"a"}', "event: missing"),
        (b'{"event":"ice"}', "callid"),
        (b'{"event":"ice","callid":""}', "callid"),
        (b'{"event":"ice","callid":7}', "callid"),
    ],
)
def test_not_a_callback(body: bytes, message: str) -> None:
    with pytest.raises(NotACallback, match=message):
        parse_callback(body)


def test_sdk_fixture_call_ids_are_accepted() -> None:
    assert parse_callback(b'{"event":"dice","callid":"a call id"}')["callid"] == "a call id"


@pytest.mark.parametrize(
    ("url", "region"),
    [
        ("https://calling-euc1.api.sinch.com/calling/v1/calls/id/x", "euc1"),
        ("https://calling-use1.api.sinch.com/calling/v1/calls/id/x", "use1"),
        ("https://calling.api.sinch.com/calling/v1/calls/id/x", None),
        ("https://calling-mars1.api.sinch.com/calling/v1/calls/id/x", None),
        ("https://calling-euc1.api.sinch.com.evil.example/x", None),
        (None, None),
    ],
)
def test_region_from_call_resource_url(url: str | None, region: str | None) -> None:
    assert region_of(url) == region


def test_dice_normalised_with_sinch_fixture_shapes() -> None:
    callback = {
        "event": "DiCE",
        "callid": "c1",
        "timestamp": "2024-01-19T12:49:53",
        "reason": "managerHangup",
        "result": "answered",
        "debit": {"currencyId": "EUR", "amount": 0.1758},
        "to": {"type": "Number", "endpoint": 123456789},
        "from": "private",
        "duration": "7",
    }
    event = build_event(callback, received_at=NOW, answer=None)
    assert event.event_type == "dice"
    assert event.timestamp == "2024-01-19T12:49:53.000Z"
    assert (event.reason, event.result, event.duration) == ("MANAGERHANGUP", "ANSWERED", 7)
    assert event.to is not None and event.to.endpoint == "123456789"
    assert event.from_ is not None and event.from_.endpoint == "private"
    state = event.final_call_state()
    assert state.status == "FINAL" and state.debit is not None and state.debit.amount == 0.1758
    assert event.callback == callback


def test_pie_input_and_notify_recording() -> None:
    pie = build_event(
        {
            "event": "pie",
            "callid": "c",
            "menuResult": {
                "type": "sequence",
                "value": "12",
                "menuId": "main",
                "inputMethod": "dtmf",
            },
        },
        received_at=NOW,
        answer={"action": {"name": "continue"}},
    )
    assert pie.menu_result is not None and pie.menu_result.value == "12"
    notify = build_event(
        {
            "event": "notify",
            "callid": "c",
            "type": "recording_available",
            "destination": "https://r.example/x.mp3",
        },
        received_at=NOW,
        answer=None,
    )
    assert notify.recording_url == "https://r.example/x.mp3"
    assert notify.notification_type == "recording_available"
    odd = build_event({"event": "future", "callid": "c"}, received_at=NOW, answer=None)
    assert odd.event_type == "unknown"


def test_identity_is_stable_and_distinguishes() -> None:
    a = {"event": "pie", "callid": "c", "timestamp": "t", "menuResult": {"value": "1"}}
    b = {"menuResult": {"value": "1"}, "timestamp": "t", "callid": "c", "event": "pie"}
    c = {**a, "menuResult": {"value": "2"}}
    assert callback_identity(a) == callback_identity(b) != callback_identity(c)


def command(**extra: object) -> object:
    return COMMAND.validate_python(
        {"commandId": "c-1", "callId": "call1", "type": "hangup", **extra}
    )


def test_route_fills_region_only_when_missing() -> None:
    routed = route_command(CallRoute(region="euc1"), command())  # type: ignore[arg-type]
    assert not isinstance(routed, ErrorInfo) and routed.region == "euc1"
    kept = route_command(CallRoute(region="euc1"), command(region="use1"))  # type: ignore[arg-type]
    assert not isinstance(kept, ErrorInfo) and kept.region == "use1"
    unknown = route_command(CallRoute(region="mars"), command())  # type: ignore[arg-type]
    assert not isinstance(unknown, ErrorInfo) and unknown.region is None
    assert route_command(None, command()) == command()  # type: ignore[arg-type]


def test_route_after_dice_is_call_ended() -> None:
    ended = route_command(CallRoute(region="euc1").ending("CALLERHANGUP"), command())  # type: ignore[arg-type]
    assert isinstance(ended, ErrorInfo) and ended.code is ErrorCode.CALL_ENDED
    assert "CALLERHANGUP" in ended.message
    assert CallRoute.from_bytes(CallRoute(region="x").ending(None).to_bytes()).ended
