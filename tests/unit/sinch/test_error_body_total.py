"""Sinch error bodies, however odd, are read without an exception into printable, bounded,
UTF-8-writable fields (they end up in results and logs)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from service.domain.results import ErrorCode, ErrorInfo
from service.sinch.errors import parse_error_body

PROPERTY = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
any_text = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=200)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), any_text, st.just(10**4_000)
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(any_text, inner, max_size=3)
    ),
    max_leaves=10,
)
bodies = st.fixed_dictionaries(
    {},
    optional={"errorCode": values, "message": values, "reference": values, "status": values},
)


def _dumps(document: Any) -> bytes:
    try:
        return json.dumps(document).encode()  # ensure_ascii: lone surrogates as \ud800
    except ValueError:  # an integer past the digit limit
        return b'{"errorCode": ' + b"9" * 5_000 + b"}"


def check(status: int, body: bytes) -> None:
    parsed = parse_error_body(status, body)
    for text in (parsed.message, parsed.reference, parsed.status_text, parsed.error_code_raw):
        if text is not None:
            assert text.isprintable() and len(text) <= 300, text
            text.encode()
    info = ErrorInfo(
        code=ErrorCode.UPSTREAM_REJECTED,
        message=parsed.message or "",
        sinch_error_code=parsed.error_code,
        sinch_reference=parsed.reference,
    )
    info.model_dump_json()


@PROPERTY
@given(st.integers(100, 999), st.binary(max_size=3_000))
@example(400, b'{"message": "\\ud800\\udfff x", "reference": "\\udc00"}')
@example(400, b"[" * 100_000)
@example(500, b'{"errorCode": ' + b"9" * 5_000 + b"}")
def test_any_bytes(status: int, body: bytes) -> None:
    check(status, body)


@PROPERTY
@given(st.integers(100, 999), bodies)
def test_any_json_object(status: int, document: Any) -> None:
    check(status, _dumps(document))
