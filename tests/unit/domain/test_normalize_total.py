"""Sinch's call answers, however odd, become a `CallState` that can be written: never an
exception (the command already happened at Sinch), and fields kept where they are sane."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.domain.results import CallState, Money, Party, Snapshot
from service.domain.sinch_answers import known_state, normalize_call

PROPERTY = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
NOW = datetime(2026, 11, 26, tzinfo=UTC)
# Lone surrogates included: Python's json reads "\ud800" into one.
any_text = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=40)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(-(10**400), 10**400),
    st.just(10**400),
    st.just(-(10**4_000)),
    st.floats(),  # inf and nan included
    any_text,
    st.sampled_from(["²", "٣", "१२", " 42 ", "-5", "4.0", "1e3", "9" * 5_000]),
    st.sampled_from(
        ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "0001-01-01T00:30:00+14:00"]
    ),
)
any_json = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(any_text, inner, max_size=4)
    ),
    max_leaves=20,
)
FIELDS = ["from", "to", "domain", "duration", "status", "result", "reason", "timestamp", "custom"]
call_like = st.fixed_dictionaries(
    {},
    optional={
        **dict.fromkeys(FIELDS, any_json),
        "userRate": st.one_of(any_json, st.fixed_dictionaries({"amount": any_json})),
        "debit": st.fixed_dictionaries({"currencyId": any_json, "amount": any_json}),
        "from": st.one_of(
            any_json, st.fixed_dictionaries({"type": any_json, "endpoint": any_json})
        ),
    },
)


def assert_writable(call: CallState) -> None:
    snapshot = Snapshot(call_id="call-1", observed_at=NOW, command_id="c-1", call=call)
    json.loads(snapshot.to_bytes())


@PROPERTY
@given(st.one_of(any_json, call_like))
def test_any_json_gives_a_writable_state(payload: Any) -> None:
    assert_writable(normalize_call(payload))


def test_deeply_nested_custom_is_dropped_not_fatal() -> None:
    deep: Any = 1
    for _ in range(5_000):
        deep = [deep]
    assert_writable(normalize_call({"custom": deep, "status": "ongoing"}))


@pytest.mark.parametrize(
    ("duration", "expected"),
    [
        (42, 42),
        ("42", 42),
        (" 7 ", 7),
        (42.0, 42),
        ("²", None),
        ("٣", None),
        ("१२", None),
        ("9" * 5_000, None),
        (10**400, None),
        (-5, None),
        (True, None),
        (1.5, None),
    ],
)
def test_duration_kept_when_sane(duration: Any, expected: int | None) -> None:
    assert normalize_call({"duration": duration}).duration == expected


@pytest.mark.parametrize(
    ("amount", "expected"),
    [(0.25, 0.25), (3, 3.0), (10**400, None), (float("inf"), None), (float("nan"), None)],
)
def test_amount_kept_when_sane(amount: Any, expected: float | None) -> None:
    money = normalize_call({"debit": {"currencyId": "USD", "amount": amount}}).debit
    assert money == Money(currency_id="USD", amount=expected)


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("2023-04-21T14:45:51", "2023-04-21T14:45:51.000Z"),
        ("2023-04-21T16:45:51+02:00", "2023-04-21T14:45:51.000Z"),
        ("0001-01-01T00:00:00+01:00", "0001-01-01T00:00:00+01:00"),  # no UTC form: as sent
        ("9999-12-31T23:59:59-01:00", "9999-12-31T23:59:59-01:00"),
        ("0001-01-01T05:00:00+01:00", "0001-01-01T04:00:00.000Z"),
        ("yesterday", "yesterday"),
    ],
)
def test_timestamps_in_utc_when_they_have_a_utc_form(stamp: str, expected: str) -> None:
    assert normalize_call({"timestamp": stamp}).timestamp == expected


def test_lone_surrogates_are_replaced_and_sane_fields_kept() -> None:
    payload = json.loads(
        '{"from":{"type":"number","endpoint":"+4670\\ud800"},"status":"ONGOING",'
        '"custom":{"k":"\\udc00"},"domain":"PSTN","userRate":{"currencyId":"EUR","amount":1}}'
    )
    call = normalize_call(payload)
    assert_writable(call)
    assert call.from_ == Party(type="number", endpoint="+4670\ufffd")
    assert call.status == "ONGOING" and call.domain == "pstn"
    assert call.custom == '{"k":"\\udc00"}'  # JSON text: the escape stays an escape
    assert call.user_rate == Money(currency_id="EUR", amount=1.0)


def test_an_all_null_read_is_not_a_state_to_publish() -> None:
    assert known_state(None) is None
    assert known_state(normalize_call(None)) is None
    assert known_state(normalize_call("<html>cut")) is None
    assert known_state(normalize_call({"unexpected": 1})) is None
    partial = normalize_call({"status": "ongoing"})
    assert known_state(partial) is partial
