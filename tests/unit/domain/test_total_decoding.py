"""Decoding is total: any bytes become a command or a rejection, never an exception.

Hostile records (deep nesting, huge numbers, invalid UTF-8, lone surrogates, NULs, duplicate
keys, timestamps without a UTC form) are generated and mixed into otherwise valid commands. What
comes out must also be writable: a command serializes (its fingerprint is its JSON), a rejection's
result serializes, and what a rejection echoes is one printable line of bounded size.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from service.domain.commands import Command
from service.domain.decode import MAX_MESSAGE_BYTES, Rejection, decode_command
from service.domain.echo import MAX_ECHOED_ID_CHARS, cut_utf8, escaped
from service.domain.results import ErrorCode, Source

MAX_BYTES = 65_536
CALL = "call-1"
NOW = datetime(2026, 11, 26, 23, 41, 7, tzinfo=UTC)
SOURCE = Source(topic="t", partition=0, offset=0)
PROPERTY = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def envelope(**extra: Any) -> dict[str, Any]:
    return {"commandId": "c-1", "callId": CALL, "type": "hangup", **extra}


def assert_answer(decoded: Command | Rejection) -> None:
    """Whatever came out can be written back: nothing downstream raises on it."""
    if isinstance(decoded, Rejection):
        result = decoded.result(
            received_at=NOW, completed_at=NOW, duration_ms=0.0, source=SOURCE
        ).to_bytes()
        json.loads(result)
        assert len(decoded.message.encode()) <= MAX_MESSAGE_BYTES
        assert decoded.message.isprintable(), decoded.message
        for echoed in (decoded.command_id, decoded.call_id):
            if echoed is not None:
                assert echoed.isprintable() and len(echoed) <= MAX_ECHOED_ID_CHARS
    else:
        decoded.model_dump_json(by_alias=True).encode()
        decoded.redacted()


def decode(value: bytes, key: bytes | None = CALL.encode()) -> Command | Rejection:
    return decode_command(key, value, max_bytes=MAX_BYTES)


# --- arbitrary bytes ---------------------------------------------------------------------


@PROPERTY
@given(st.one_of(st.none(), st.binary(max_size=200)), st.binary(max_size=2_000))
@example(CALL.encode(), b"[" * 5_000)
@example(CALL.encode(), b"{" * 60_000)
@example(b"\xff\xfe", b"\xff\xfe{}")
@example(None, b'{"a":"\\ud800"}')
def test_any_bytes_give_a_command_or_a_rejection(key: bytes | None, value: bytes) -> None:
    assert_answer(decode_command(key, value, max_bytes=MAX_BYTES))


# --- hostile JSON inside an otherwise valid command --------------------------------------

json_text = st.text(
    alphabet=st.characters(codec=None, exclude_categories=()), max_size=30
)  # includes lone surrogates, NUL, CR, LF, ESC, U+202E


def _raw(text: str) -> str:
    """A JSON string literal that may hold a lone surrogate as an escape (`"\\ud800"`)."""
    return json.dumps(text, ensure_ascii=True)


hostile_values = st.one_of(
    st.integers(1, 3_000).map(lambda n: "[" * n + "]" * n),  # nesting, unbalanced below
    st.integers(1, 3_000).map(lambda n: '{"a":' * n + "1" + "}" * n),
    st.integers(1, 3_000).map(lambda n: "[" * n),
    st.integers(1, 6_000).map(lambda n: "9" * n),  # huge integers
    st.integers(1, 6_000).map(lambda n: "-1" + "0" * n),
    st.sampled_from(["1e400", "-1e400", "1e-400", "1.5e308", "NaN", "Infinity", "-0"]),
    json_text.map(_raw),  # lone surrogates, NULs, control characters
    st.just('"\\u0000"'),
    st.just('"\\ud800"'),
    st.just('"\\udc00\\ud800"'),
)


@PROPERTY
@given(
    hostile_values,
    st.sampled_from(["metadata", "maxDuration", "text", "ids", "commandId", "callId", "snapshot"]),
    st.sampled_from(["hangup", "park", "say", "playFiles"]),
)
def test_hostile_values_in_any_field(value: str, field: str, kind: str) -> None:
    document = json.dumps({"commandId": "c-1", "callId": CALL, "type": kind, "locale": "en-US"})
    wrapped = f'{{"k":{value}}}' if field == "metadata" else value
    raw = document[:-1] + f',"{field}":{wrapped}}}'
    assert_answer(decode(raw.encode("utf-8", "surrogatepass")))


@PROPERTY
@given(json_text, json_text)
def test_hostile_field_names_are_escaped_and_cut(first: str, second: str) -> None:
    raw = json.dumps(envelope()).encode()[:-1] + b"," + _raw(first).encode() + b":1"
    raw += b"," + _raw(second * 500).encode() + b":2}"
    decoded = decode(raw)
    assert_answer(decoded)


@PROPERTY
@given(
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)),
    st.integers(-23 * 60 - 59, 23 * 60 + 59),
    st.sampled_from(["issuedAt", "expiresAt"]),
)
@example(datetime(1, 1, 1), 60, "issuedAt")
@example(datetime(9999, 12, 31, 23, 59, 59), -60, "expiresAt")
def test_any_timestamp_is_read_or_rejected_naming_its_field(
    moment: datetime, offset_minutes: int, field: str
) -> None:
    sign = "+" if offset_minutes >= 0 else "-"
    hours, minutes = divmod(abs(offset_minutes), 60)
    stamp = f"{moment.isoformat(timespec='seconds')}{sign}{hours:02}:{minutes:02}"
    decoded = decode(json.dumps(envelope(**{field: stamp})).encode())
    assert_answer(decoded)
    if isinstance(decoded, Rejection):
        assert decoded.code is ErrorCode.INVALID_COMMAND
        assert decoded.message == (
            f"{field}: out of range: must lie between 0001-01-01 and 9999-12-31 in UTC"
        )


# --- the documented answers ---------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [b"[" * 5_000, b"[" * 1_000 + b"]" * 1_000, b'{"a":' * 3_000 + b"1" + b"}" * 3_000],
    ids=["unbalanced-5000", "balanced-1000", "objects-3000"],
)
def test_deep_nesting_is_not_json(value: bytes) -> None:
    rejection = decode(value)
    assert isinstance(rejection, Rejection)
    assert rejection.code is ErrorCode.NOT_JSON
    assert "recursion limit exceeded" in rejection.message
    assert rejection.call_id == CALL


def test_deep_metadata_inside_a_command_is_rejected() -> None:
    value = json.dumps(envelope()).encode()[:-1] + b',"metadata":{"a":' + b"[" * 3_000
    value += b"]" * 3_000 + b"}}"
    rejection = decode(value)
    assert isinstance(rejection, Rejection) and rejection.code is ErrorCode.NOT_JSON


def test_nesting_within_the_parser_limit_is_read() -> None:
    value = json.dumps(envelope()).encode()[:-1] + b',"metadata":{"a":' + b"[" * 150
    value += b"]" * 150 + b"}}"
    assert not isinstance(decode(value), Rejection)


def test_duplicate_keys_are_rejected_naming_the_key() -> None:
    value = b'{"commandId":"c-1","callId":"call-1","type":"hangup","commandId":"c-2"}'
    rejection = decode(value)
    assert isinstance(rejection, Rejection)
    assert rejection.code is ErrorCode.INVALID_COMMAND
    assert rejection.message == "commandId: a key may appear only once in an object"
    assert rejection.call_id == CALL


def test_duplicate_keys_in_metadata_are_rejected_too() -> None:
    value = json.dumps(envelope()).encode()[:-1] + b',"metadata":{"x":{"k":1,"k":2}}}'
    rejection = decode(value)
    assert isinstance(rejection, Rejection)
    assert rejection.message == "k: a key may appear only once in an object"


@pytest.mark.parametrize("number", [b"1e400", b"-1e400"])
def test_numbers_beyond_a_double_are_rejected(number: bytes) -> None:
    value = json.dumps(envelope()).encode()[:-1] + b',"metadata":{"x":' + number + b"}}"
    rejection = decode(value)
    assert isinstance(rejection, Rejection)
    assert rejection.message == "a number is out of range (beyond ±1.7e308)"


def test_huge_integers_are_an_answer_not_a_crash() -> None:
    value = json.dumps(envelope()).encode()[:-1] + b',"metadata":{"x":' + b"9" * 5_000 + b"}}"
    rejection = decode(value)
    assert isinstance(rejection, Rejection) and rejection.code is ErrorCode.NOT_JSON
    assert "number out of range" in rejection.message
    within = json.dumps(envelope(metadata={"x": 10**1_000})).encode()
    assert not isinstance(decode(within), Rejection)


@pytest.mark.parametrize("escape", [b"\\ud800", b"\\udfff", b"\\udc00\\ud800"])
def test_lone_surrogates_are_not_json(escape: bytes) -> None:
    value = json.dumps(envelope()).encode()[:-1] + b',"metadata":{"x":"' + escape + b'"}}'
    rejection = decode(value)
    assert isinstance(rejection, Rejection) and rejection.code is ErrorCode.NOT_JSON


def test_nul_in_a_value_is_kept() -> None:
    decoded = decode(json.dumps(envelope(metadata={"x": "a\u0000b"})).encode())
    assert not isinstance(decoded, Rejection)
    assert decoded.metadata == {"x": "a\u0000b"}


# --- echoes -----------------------------------------------------------------------------


def test_unknown_field_names_are_escaped_and_cut() -> None:
    name = "a\r\nerror.code: forged\x1b[31m\u202e" + "x" * 60_000
    value = json.dumps(envelope(**{name: 1})).encode()
    rejection = decode(value)
    assert isinstance(rejection, Rejection)
    assert rejection.message.startswith("a\\r\\nerror.code: forged\\x1b[31m\\u202e")
    assert rejection.message.endswith("…: unknown field")
    assert len(rejection.message) < 100


def test_many_errors_stay_within_a_header_value() -> None:
    fields = {("f" * 60 + str(n)): n for n in range(200)}
    rejection = decode(json.dumps(envelope(**fields)).encode(), key=None)
    assert isinstance(rejection, Rejection)
    assert len(rejection.message.encode()) <= MAX_MESSAGE_BYTES


def test_invalid_ids_are_echoed_as_sent_escaped_and_bounded() -> None:
    sent = {"commandId": "bad id\r\n\x1b", "callId": "call one\\", "type": "hangup"}
    rejection = decode(json.dumps(sent).encode(), key=b"call-key")
    assert isinstance(rejection, Rejection)
    assert rejection.code is ErrorCode.INVALID_COMMAND
    assert rejection.command_id == "bad id\\r\\n\\x1b"
    assert rejection.call_id == "call one\\\\"
    assert rejection.type == "hangup"
    long_id = decode(json.dumps({"commandId": "c" * 5_000, "callId": CALL}).encode())
    assert isinstance(long_id, Rejection) and long_id.command_id is not None
    assert len(long_id.command_id) == MAX_ECHOED_ID_CHARS and long_id.command_id.endswith("…")


def test_ids_that_are_not_strings_are_not_echoed_and_the_key_stands_in() -> None:
    rejection = decode(json.dumps({"commandId": 7, "callId": ["x"], "type": "hangup"}).encode())
    assert isinstance(rejection, Rejection)
    assert rejection.command_id is None
    assert rejection.call_id == CALL


@PROPERTY
@given(st.text(max_size=300), st.integers(2, 200))
def test_escaped_is_printable_bounded_and_encodable(text: str, limit: int) -> None:
    out = escaped(text, limit)
    assert out.isprintable() and len(out) <= limit
    out.encode()
    if text.isprintable() and "\\" not in text and len(text) <= limit:
        assert out == text


@PROPERTY
@given(st.text(max_size=600), st.integers(8, 1_200))
def test_cut_utf8_bounds_bytes(text: str, limit: int) -> None:
    out = cut_utf8(text, limit)
    assert len(out.encode("utf-8", "surrogatepass")) <= limit
