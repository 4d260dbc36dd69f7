"""The error taxonomy: error bodies read tolerantly, httpx failures classified."""

from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.sinch import (
    SinchError,
    SinchErrorBody,
    SinchInvalidRequestError,
    SinchTransportError,
    parse_error_body,
)
from service.sinch.errors import transport_error_from

REFERENCE = "a2028355-5164-41b6-aae9-2b8a546e0784"


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        pytest.param(
            404,
            json.dumps(
                {
                    "status": "404 Not Found",
                    "errorCode": 40400,
                    "message": "Call not found",
                    "reference": REFERENCE,
                }
            ).encode(),
            SinchErrorBody(404, 40400, "40400", "Call not found", REFERENCE, "404 Not Found"),
            id="documented-shape-int-code",
        ),
        pytest.param(
            404,
            b'{"errorCode":"40400","message":"Call not found"}',
            SinchErrorBody(404, 40400, "40400", "Call not found"),
            id="numeric-string-code",
        ),
        pytest.param(
            400,
            b'{"errorCode":"E_BAD","message":"nope"}',
            SinchErrorBody(400, None, "E_BAD", "nope"),
            id="non-numeric-string-code",
        ),
        pytest.param(
            401,
            b'{"errorCode":true,"message":7,"reference":["x"],"status":{}}',
            SinchErrorBody(
                401,
                None,
                "true",
                '{"errorCode":true,"message":7,"reference":["x"],"status":{}}',
            ),
            id="wrong-types",
        ),
        pytest.param(
            503,
            b'{"errorCode":50300.0}',
            SinchErrorBody(503, 50300, "50300.0", '{"errorCode":50300.0}'),
            id="float-code-no-message",
        ),
        pytest.param(
            500, b"{}", SinchErrorBody(500, message="{}"), id="empty-object-keeps-excerpt"
        ),
        pytest.param(
            502, b"", SinchErrorBody(502, message="Bad Gateway"), id="empty-body-reason-phrase"
        ),
        pytest.param(
            504, b" \r\n ", SinchErrorBody(504, message="Gateway Timeout"), id="blank-body"
        ),
        pytest.param(
            502,
            b"<html><head><title>502 Bad Gateway</title></head>\r\n<body><h1>502 Bad Gateway"
            b"</h1><hr>nginx</body></html>",
            SinchErrorBody(502, message="502 Bad Gateway 502 Bad Gateway nginx"),
            id="html-body-excerpt",
        ),
        pytest.param(
            400,
            b'[{"errorCode":40001}]',
            SinchErrorBody(400, message='[{"errorCode":40001}]'),
            id="json-array",
        ),
        pytest.param(599, b"", SinchErrorBody(599, message=None), id="unknown-status-no-phrase"),
        pytest.param(
            400,
            b"bad\x00\x1b[31mred\x1b[0m\nline\xff",
            SinchErrorBody(400, message="bad [31mred [0m line\ufffd"),
            id="control-chars-and-bad-utf8",
        ),
    ],
)
def test_parse_error_body(status: int, body: bytes, expected: SinchErrorBody) -> None:
    assert parse_error_body(status, body) == expected


def test_huge_non_json_body_gives_a_short_truncated_message() -> None:
    parsed = parse_error_body(500, b"x" * 5_000_000)
    assert parsed.message is not None
    assert len(parsed.message) <= 300
    assert parsed.message.endswith("…")
    assert parsed.error_code is None


def test_huge_json_message_is_truncated() -> None:
    body = json.dumps({"errorCode": 40001, "message": "m" * 10_000, "reference": "r" * 10_000})
    parsed = parse_error_body(400, body.encode())
    assert parsed.error_code == 40001
    assert parsed.message is not None
    assert len(parsed.message) <= 300
    assert parsed.message.endswith("…")
    assert parsed.reference is not None
    assert len(parsed.reference) <= 120


def test_deeply_nested_json_does_not_raise() -> None:
    parsed = parse_error_body(400, b"[" * 50_000)
    assert parsed.error_code is None
    assert parsed.message is not None
    assert parsed.message.startswith("[[[")


def test_oversized_error_code_string_is_not_a_number() -> None:
    parsed = parse_error_body(400, b'{"errorCode":"' + b"9" * 5000 + b'"}')
    assert parsed.error_code is None
    assert parsed.error_code_raw is not None
    assert len(parsed.error_code_raw) <= 120


@given(status=st.integers(min_value=-1000, max_value=10_000), body=st.binary(max_size=2000))
def test_parse_error_body_never_raises_on_bytes(status: int, body: bytes) -> None:
    parsed = parse_error_body(status, body)
    assert parsed.status_code == status


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


@given(
    document=st.fixed_dictionaries(
        {},
        optional={
            "errorCode": _json_values,
            "message": _json_values,
            "reference": _json_values,
            "status": _json_values,
        },
    )
)
def test_parse_error_body_never_raises_on_json(document: dict[str, object]) -> None:
    parsed = parse_error_body(400, json.dumps(document).encode())
    assert parsed.message is None or "\n" not in parsed.message
    code = document.get("errorCode")
    if isinstance(code, int) and not isinstance(code, bool):
        assert parsed.error_code == code


_REQUEST = httpx.Request("PATCH", "https://calling.api.sinch.com/calling/v1/calls/id/a")


@pytest.mark.parametrize(
    ("exc", "request_sent", "timeout"),
    [
        (httpx.ConnectError("refused", request=_REQUEST), False, False),
        (httpx.ConnectTimeout("slow", request=_REQUEST), False, True),
        (httpx.PoolTimeout("pool", request=_REQUEST), False, True),
        (httpx.ProxyError("tunnel refused", request=_REQUEST), False, False),
        (httpx.WriteTimeout("slow", request=_REQUEST), True, True),
        (httpx.WriteError("reset", request=_REQUEST), True, False),
        (httpx.ReadTimeout("slow", request=_REQUEST), True, True),
        (httpx.ReadError("reset", request=_REQUEST), True, False),
        (httpx.RemoteProtocolError("disconnected", request=_REQUEST), True, False),
        (httpx.CloseError("close", request=_REQUEST), True, False),
        (httpx.TransportError("unknown", request=_REQUEST), True, False),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else str(value),
)
def test_transport_error_mapping(
    exc: httpx.TransportError, request_sent: bool, timeout: bool
) -> None:
    error = transport_error_from(exc, method="PATCH", path="/calling/v1/x", host="https://h")
    assert type(error) is SinchTransportError
    assert isinstance(error, SinchError)
    assert error.request_sent is request_sent
    assert error.timeout is timeout
    assert error.error_type == type(exc).__name__
    assert str(error).startswith(f"PATCH /calling/v1/x on https://h: {type(exc).__name__}: ")


@pytest.mark.parametrize(
    "exc",
    [
        httpx.UnsupportedProtocol("ftp", request=_REQUEST),
        httpx.LocalProtocolError("bad header", request=_REQUEST),
        httpx.InvalidURL("bad url"),
    ],
)
def test_local_refusals_are_invalid_requests_never_sent(exc: Exception) -> None:
    error = transport_error_from(exc, method="GET", path="/p", host="https://h")
    assert isinstance(error, SinchInvalidRequestError)
    assert error.request_sent is False
    assert error.timeout is False


def test_transport_error_message_is_one_bounded_line() -> None:
    exc = httpx.ReadError("line one\nline two " + "z" * 1000, request=_REQUEST)
    error = transport_error_from(exc, method="GET", path="/p", host="https://h")
    assert "\n" not in str(error)
    assert len(str(error)) < 300
    assert "request_sent=True" in repr(error)
