"""SinchClient over httpx.MockTransport: what goes on the wire, and what comes back."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.sinch import (
    GLOBAL_BASE_URL,
    REGIONS,
    Authenticator,
    BasicAuth,
    SignedAuth,
    SinchClient,
    SinchRequest,
    SinchResponse,
    SinchResponseDecodeError,
    SinchTransportError,
    build_http_client,
    call_path,
)
from service.sinch.transport import AiohttpPoolTransport

KEY = "5c0ffee0-aaaa-bbbb-cccc-000000000001"
SECRET = "JViE5vDor0Sw3WllZka15Q=="
CALL = "4398599d1ba84ef3bde0a82dfb61abed"
SVAML = (
    '{"instructions":[{"name":"say","text":"Hej då","locale":"sv-SE"}],"action":{"name":"hangup"}}'
)
Handler = Callable[[httpx.Request], httpx.Response]


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2024, 6, 6, 17, 36, 0, 123_000, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Recorder:
    """A MockTransport handler that keeps every request it was given."""

    def __init__(self, respond: Handler | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self._respond = respond or (lambda _: httpx.Response(204))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self._respond(request)


@asynccontextmanager
async def sinch(
    handler: Handler,
    *,
    auth: Authenticator | None = None,
    base_url: str = GLOBAL_BASE_URL,
    **options: Any,
) -> AsyncIterator[SinchClient]:
    async with build_http_client(
        connect_timeout=1.0,
        read_timeout=1.0,
        write_timeout=1.0,
        pool_timeout=1.0,
        max_connections=4,
        transport=httpx.MockTransport(handler),
    ) as http:
        client = SinchClient(
            http,
            auth or SignedAuth(KEY, SECRET, clock=FakeClock()),
            base_url=base_url,
            **options,
        )
        yield client
        assert not http.is_closed, "the client must not close the borrowed AsyncClient"


def expected_signature(request: httpx.Request) -> str:
    """Recompute the signature from what was actually sent."""
    body = request.content
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode() if body else ""  # noqa: S324
    message = "\n".join(
        [
            request.method,
            md5,
            request.headers["content-type"],
            f"x-timestamp:{request.headers['x-timestamp']}",
            request.url.raw_path.decode(),
        ]
    )
    digest = hmac.new(base64.b64decode(SECRET), message.encode(), hashlib.sha256).digest()
    return f"Application {KEY}:{base64.b64encode(digest).decode()}"


async def test_patch_sends_the_exact_signed_bytes() -> None:
    recorder = Recorder()
    body = SVAML.encode()
    async with sinch(recorder) as client:
        response = await client.send(SinchRequest("PATCH", call_path(CALL), body))

    assert response.status_code == 204
    assert response.ok
    (sent,) = recorder.requests
    assert sent.method == "PATCH"
    assert str(sent.url) == f"https://calling.api.sinch.com/calling/v1/calls/id/{CALL}"
    assert sent.content == body
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["accept"] == "application/json"
    assert sent.headers["accept-encoding"] == "identity"
    assert sent.headers["x-timestamp"] == "2024-06-06T17:36:00.123Z"
    assert sent.headers["user-agent"].startswith("call-control/")
    assert sent.headers["authorization"] == expected_signature(sent)


async def test_a_response_knows_its_request_and_a_closed_client_sends_nothing() -> None:
    # Requests go to the client's transport, not through `AsyncClient.send`: what `send`
    # would have done for us (the response's request, refusing once closed) still holds.
    recorder = Recorder(lambda request: httpx.Response(200, json={"x": 1}))
    http = build_http_client(
        connect_timeout=1.0,
        read_timeout=1.0,
        write_timeout=1.0,
        pool_timeout=1.0,
        max_connections=4,
        transport=httpx.MockTransport(recorder),
    )
    client = SinchClient(http, BasicAuth(KEY, SECRET))
    sent = await client._exchange(
        client._http_request(SinchRequest("GET", call_path(CALL)), GLOBAL_BASE_URL)
    )
    assert sent.request.url.path == call_path(CALL)
    await http.aclose()
    with pytest.raises(SinchTransportError) as caught:
        await client.send(SinchRequest("GET", call_path(CALL)))
    assert caught.value.error_type == "RuntimeError", caught.value
    assert len(recorder.requests) == 1, "nothing sent once the client is closed"


async def test_get_signs_json_content_type_and_empty_md5() -> None:
    recorder = Recorder(lambda _: httpx.Response(200, json={"callId": CALL, "status": "FINAL"}))
    async with sinch(recorder) as client:
        response = await client.send(SinchRequest("GET", call_path(CALL)))

    (sent,) = recorder.requests
    assert sent.content == b""
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["authorization"] == expected_signature(sent)
    assert response.json() == {"callId": CALL, "status": "FINAL"}
    assert response.error is None
    assert response.headers["content-type"] == "application/json"


async def test_every_attempt_is_signed_afresh() -> None:
    clock = FakeClock()
    recorder = Recorder()
    request = SinchRequest("PATCH", call_path(CALL, "callee"), SVAML.encode())
    async with sinch(recorder, auth=SignedAuth(KEY, SECRET, clock=clock)) as client:
        await client.send(request)
        clock.advance(1.5)
        await client.send(request)

    first, second = recorder.requests
    assert first.headers["x-timestamp"] == "2024-06-06T17:36:00.123Z"
    assert second.headers["x-timestamp"] == "2024-06-06T17:36:01.623Z"
    assert first.headers["authorization"] != second.headers["authorization"]
    assert second.headers["authorization"] == expected_signature(second)
    assert first.content == second.content == SVAML.encode()


async def test_basic_auth_header_is_sent() -> None:
    recorder = Recorder()
    async with sinch(recorder, auth=BasicAuth(KEY, SECRET)) as client:
        await client.send(SinchRequest("GET", call_path(CALL)))
    (sent,) = recorder.requests
    expected = base64.b64encode(f"{KEY}:{SECRET}".encode()).decode()
    assert sent.headers["authorization"] == f"Basic {expected}"
    assert "x-timestamp" not in sent.headers


@pytest.mark.parametrize("region", REGIONS)
async def test_regions_go_to_regional_hosts_by_default(region: str) -> None:
    recorder = Recorder()
    async with sinch(recorder) as client:
        await client.send(SinchRequest("GET", call_path(CALL), region=region))
    assert recorder.requests[0].url.host == f"calling-{region}.api.sinch.com"


async def test_a_custom_base_url_takes_every_region() -> None:
    recorder = Recorder()
    async with sinch(recorder, base_url="http://simulator:8080") as client:
        for region in (None, *REGIONS):
            await client.send(SinchRequest("GET", call_path(CALL), region=region))
    assert {str(r.url) for r in recorder.requests} == {
        f"http://simulator:8080/calling/v1/calls/id/{CALL}"
    }


async def test_an_explicit_template_applies_to_a_custom_base_url() -> None:
    recorder = Recorder()
    async with sinch(
        recorder,
        base_url="http://simulator:8080",
        regional_url_template="http://sim-{region}:8080",
    ) as client:
        await client.send(SinchRequest("GET", call_path(CALL), region="euc1"))
        await client.send(SinchRequest("GET", call_path(CALL)))
    assert [r.url.host for r in recorder.requests] == ["sim-euc1", "simulator"]


async def test_client_refuses_a_base_url_with_a_path() -> None:
    async with httpx.AsyncClient() as http:
        with pytest.raises(ValueError, match="must not have a path"):
            SinchClient(http, BasicAuth("k", "s"), base_url="https://h/prefix")


async def test_client_refuses_a_non_positive_body_cap() -> None:
    async with httpx.AsyncClient() as http:
        with pytest.raises(ValueError, match="max_response_bytes"):
            SinchClient(http, BasicAuth("k", "s"), max_response_bytes=0)


EUC1 = "https://calling-euc1.api.sinch.com"


async def test_a_redirect_to_a_sinch_calling_host_is_followed_and_signed_afresh() -> None:
    def respond(request: httpx.Request) -> httpx.Response:
        if request.url.host == "calling.api.sinch.com":
            return httpx.Response(307, headers={"Location": EUC1 + call_path(CALL)})
        return httpx.Response(204)

    recorder = Recorder(respond)
    async with sinch(recorder) as client:
        response = await client.send(SinchRequest("PATCH", call_path(CALL), SVAML.encode()))
    assert response.status_code == 204
    first, second = recorder.requests
    assert (first.url.host, second.url.host) == (
        "calling.api.sinch.com",
        "calling-euc1.api.sinch.com",
    )
    assert second.method == "PATCH" and second.content == SVAML.encode()
    assert second.headers["authorization"] == expected_signature(second)


@pytest.mark.parametrize(
    ("status", "location"),
    [
        (307, "https://calling.evil.example/calling/v1/calls/id/x"),
        (307, "http://calling-euc1.api.sinch.com/calling/v1/calls/id/x"),
        (308, "https://calling-euc1.api.sinch.com/other/path"),
        (302, "https://calling-euc1.api.sinch.com/calling/v1/calls/id/x"),
        (301, "https://calling-euc1.api.sinch.com/calling/v1/calls/id/x"),
    ],
)
async def test_other_redirects_are_returned_not_followed(status: int, location: str) -> None:
    recorder = Recorder(lambda _: httpx.Response(status, headers={"Location": location}))
    async with sinch(recorder) as client:
        response = await client.send(SinchRequest("PATCH", call_path(CALL), b"{}"))
    assert len(recorder.requests) == 1
    assert response.status_code == status
    assert not response.ok
    assert response.headers["location"] == location
    assert response.error is not None
    assert response.error.message == httpx.codes.get_reason_phrase(status)


async def test_redirects_are_followed_at_most_three_times() -> None:
    location = {"Location": EUC1 + call_path(CALL)}
    recorder = Recorder(lambda _: httpx.Response(307, headers=location))
    async with sinch(recorder) as client:
        response = await client.send(SinchRequest("GET", call_path(CALL)))
    assert len(recorder.requests) == 4
    assert response.status_code == 307


async def test_the_host_sinch_named_for_the_call_is_used() -> None:
    recorder = Recorder()
    async with sinch(recorder) as client:
        await client.send(SinchRequest("PATCH", call_path(CALL), b"{}", host=EUC1))
    assert recorder.requests[0].url.host == "calling-euc1.api.sinch.com"
    # A simulator or proxy base URL takes every call, as it takes every region.
    recorder = Recorder()
    async with sinch(recorder, base_url="http://127.0.0.1:8700") as client:
        await client.send(SinchRequest("PATCH", call_path(CALL), b"{}", host=EUC1))
    assert recorder.requests[0].url.host == "127.0.0.1"


@pytest.mark.parametrize(
    "host", ["https://calling.evil.example", "http://calling-euc1.api.sinch.com", EUC1 + "/x"]
)
def test_a_host_that_is_not_sinchs_is_refused(host: str) -> None:
    with pytest.raises(ValueError, match="Sinch calling host"):
        SinchRequest("PATCH", call_path(CALL), b"{}", host=host)


async def test_error_responses_are_returned_with_the_parsed_body() -> None:
    recorder = Recorder(
        lambda _: httpx.Response(
            404,
            json={"errorCode": 40400, "message": "Call not found", "reference": "ref-1"},
            headers={"X-Request-Id": "rid-1", "Set-Cookie": "lb=1", "Server": "nginx"},
        )
    )
    async with sinch(recorder) as client:
        response = await client.send(SinchRequest("GET", call_path(CALL)))
    assert response.error is not None
    assert (response.error.error_code, response.error.reference) == (40400, "ref-1")
    assert response.headers["x-request-id"] == "rid-1"
    assert "set-cookie" not in response.headers
    assert "server" not in response.headers
    assert response.elapsed_ms >= 0.0


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_body_over_the_cap_is_cut_and_flagged() -> None:
    recorder = Recorder(lambda _: httpx.Response(200, content=_chunks(b"a" * 600, b"b" * 600)))
    async with sinch(recorder, max_response_bytes=1000) as client:
        response = await client.send(SinchRequest("GET", call_path(CALL)))
    assert response.status_code == 200
    assert response.body == b"a" * 600 + b"b" * 400
    assert response.incomplete == "size_limit"
    with pytest.raises(SinchResponseDecodeError, match="incomplete"):
        response.json()


async def test_body_exactly_at_the_cap_is_complete() -> None:
    recorder = Recorder(lambda _: httpx.Response(200, content=b"[" + b" " * 998 + b"]"))
    async with sinch(recorder, max_response_bytes=1000) as client:
        response = await client.send(SinchRequest("GET", call_path(CALL)))
    assert response.incomplete is None
    assert response.json() == []


async def test_failure_after_the_status_line_keeps_the_status() -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b'{"partial":'
        raise httpx.ReadError("connection reset")

    recorder = Recorder(lambda _: httpx.Response(204, content=broken()))
    async with sinch(recorder) as client:
        response = await client.send(SinchRequest("PATCH", call_path(CALL), b"{}"))
    assert response.ok, "a 2xx PATCH happened even if the body read failed"
    assert response.body == b'{"partial":'
    assert response.incomplete == "ReadError"


@pytest.mark.parametrize(
    ("exc_type", "request_sent", "is_timeout"),
    [
        (httpx.ConnectError, False, False),
        (httpx.ConnectTimeout, False, True),
        (httpx.PoolTimeout, False, True),
        (httpx.ReadTimeout, True, True),
        (httpx.WriteTimeout, True, True),
        (httpx.ReadError, True, False),
        (httpx.RemoteProtocolError, True, False),
    ],
)
async def test_transport_failures_become_sinch_transport_errors(
    exc_type: type[httpx.TransportError], request_sent: bool, is_timeout: bool
) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise exc_type("boom", request=request)

    auth = BasicAuth(KEY, SECRET)
    async with sinch(fail, auth=auth) as client:
        with pytest.raises(SinchTransportError) as caught:
            await client.send(SinchRequest("PATCH", call_path(CALL), b"{}", region="euc1"))

    error = caught.value
    assert error.request_sent is request_sent
    assert error.timeout is is_timeout
    assert error.error_type == exc_type.__name__
    assert f"PATCH /calling/v1/calls/id/{CALL} on https://calling-euc1.api.sinch.com" in str(error)
    basic = auth.headers("PATCH", "/", b"")["Authorization"]
    for text in (str(error), repr(error)):
        assert SECRET not in text
        assert basic not in text
        assert basic.removeprefix("Basic ") not in text
    # The httpx error (which holds the request and its headers) is not chained for display.
    assert error.__cause__ is None
    assert error.__suppress_context__


def test_retry_after_delta_seconds() -> None:
    assert SinchResponse(429, b"", {"retry-after": "120"}).retry_after_seconds == 120.0
    assert SinchResponse(429, b"", {"retry-after": " 1.5 "}).retry_after_seconds == 1.5
    assert SinchResponse(429, b"", {"retry-after": "0"}).retry_after_seconds == 0.0


def test_retry_after_http_date_is_measured_against_the_date_header() -> None:
    headers = {
        "retry-after": "Wed, 21 Oct 2015 07:28:00 GMT",
        "date": "Wed, 21 Oct 2015 07:27:30 GMT",
    }
    assert SinchResponse(503, b"", headers).retry_after_seconds == 30.0


def test_retry_after_http_date_without_date_header_uses_our_clock() -> None:
    retry_at = datetime.now(UTC) + timedelta(seconds=90)
    header = format_datetime(retry_at, usegmt=True)
    seconds = SinchResponse(503, b"", {"retry-after": header}).retry_after_seconds
    assert seconds is not None
    assert 85.0 <= seconds <= 90.0


def test_retry_after_in_the_past_means_now() -> None:
    response = SinchResponse(503, b"", {"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert response.retry_after_seconds == 0.0


@pytest.mark.parametrize("value", ["-5", "soon", "", "1e3", "12 seconds", "9" * 400, "NaN"])
def test_retry_after_garbage_is_none(value: str) -> None:
    assert SinchResponse(429, b"", {"retry-after": value}).retry_after_seconds is None


def test_retry_after_absent_is_none() -> None:
    assert SinchResponse(429, b"").retry_after_seconds is None


def test_json_of_a_non_json_body_raises_a_sinch_error_that_is_a_value_error() -> None:
    with pytest.raises(SinchResponseDecodeError, match="not JSON") as caught:
        SinchResponse(200, b"<html>").json()
    assert isinstance(caught.value, ValueError)
    assert caught.value.__cause__ is None


@pytest.mark.parametrize(("status", "ok"), [(199, False), (200, True), (204, True), (299, True)])
def test_ok_is_any_2xx(status: int, ok: bool) -> None:
    assert SinchResponse(status, b"").ok is ok


@pytest.mark.parametrize(
    ("call_id", "leg", "path"),
    [
        (CALL, None, f"/calling/v1/calls/id/{CALL}"),
        ("822aa4b7-05b4-4d83-87c7-1f835ee0b6f6_257", None,
         "/calling/v1/calls/id/822aa4b7-05b4-4d83-87c7-1f835ee0b6f6_257"),
        ("a", "caller", "/calling/v1/calls/id/a/leg/caller"),
        ("a", "callee", "/calling/v1/calls/id/a/leg/callee"),
        ("a" * 128, "both", f"/calling/v1/calls/id/{'a' * 128}/leg/both"),
    ],
)  # fmt: skip
def test_call_path(call_id: str, leg: str | None, path: str) -> None:
    assert call_path(call_id, leg) == path


@pytest.mark.parametrize(
    "call_id", ["../x", "a/b", "a" * 129, "", "abc\n", "a b", "a%2Fb", "é", "a.b", "a?b"]
)
def test_call_path_rejects_unsafe_ids(call_id: str) -> None:
    with pytest.raises(ValueError, match="call_id must match"):
        call_path(call_id)


@pytest.mark.parametrize("leg", ["Caller", "", "both/x", "../caller"])
def test_call_path_rejects_unknown_legs(leg: str) -> None:
    with pytest.raises(ValueError, match="call leg must be one of"):
        call_path("a", leg)


@given(st.from_regex(r"[A-Za-z0-9_-]{1,128}", fullmatch=True), st.sampled_from(["caller", None]))
def test_valid_ids_make_one_segment_that_survives_httpx(call_id: str, leg: str | None) -> None:
    path = call_path(call_id, leg)
    segments = path.split("/")
    assert unquote(segments[5]) == call_id
    assert len(segments) == (6 if leg is None else 8)
    request = SinchRequest("GET", path)  # accepted by the request's own validation
    assert httpx.URL("https://h" + request.path).raw_path == path.encode()


@given(st.from_regex(r"/calling/v1/(?:[A-Za-z0-9\-_~!$&'()*+,;=:@]|%[0-9A-F]{2}){1,30}",
                     fullmatch=True))  # fmt: skip
def test_every_accepted_path_is_sent_unchanged_by_httpx(path: str) -> None:
    request = SinchRequest("GET", path)
    assert httpx.URL("https://h" + request.path).raw_path == path.encode()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "PUT", "path": "/calling/v1/calls/id/a"}, "GET, PATCH, POST or DELETE"),
        ({"method": "DELETE", "path": "/calling/v1/conferences/id/a", "body": b"{}"}, "no body"),
        ({"method": "GET", "path": "/calling/v1/calls/id/a", "body": b"{}"}, "no body"),
        ({"method": "GET", "path": "/v1/calls/id/a"}, "must start with"),
        ({"method": "GET", "path": "/calling/v1/calls/id/a?x=1"}, "percent-encoded"),
        ({"method": "GET", "path": "/calling/v1/calls/id/a b"}, "percent-encoded"),
        ({"method": "GET", "path": "/calling/v1/calls/id/%zz"}, "percent-encoded"),
        ({"method": "GET", "path": "/calling/v1/calls/id/../../x"}, "dot segments"),
        ({"method": "GET", "path": "/calling/v1/calls/id/a", "region": "mars"}, "region"),
    ],
)
def test_sinch_request_validation(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SinchRequest(**kwargs)  # type: ignore[arg-type]


def test_sinch_request_body_must_be_bytes() -> None:
    with pytest.raises(TypeError, match="exact bytes"):
        SinchRequest("PATCH", "/calling/v1/calls/id/a", "{}")  # type: ignore[arg-type]


async def test_build_http_client_is_tuned_explicitly() -> None:
    async with build_http_client(
        connect_timeout=3.0,
        read_timeout=7.0,
        write_timeout=4.0,
        pool_timeout=2.0,
        max_connections=64,
        keepalive_expiry=9.0,
        trust_env=False,
    ) as http:
        assert http.timeout == httpx.Timeout(connect=3.0, read=7.0, write=4.0, pool=2.0)
        assert http.follow_redirects is False
        assert http.trust_env is False
        assert http.headers["user-agent"].startswith("call-control/")
        # The connections are aiohttp's; the limits ride on the transport.
        transport = http._transport
        assert isinstance(transport, AiohttpPoolTransport)
        assert transport.limits.max_connections == 64
        assert transport.limits.keepalive_expiry == 9.0


@pytest.mark.parametrize(
    ("name", "value"),
    [("connect_timeout", 0.0), ("read_timeout", -1.0), ("max_connections", 0)],
)
def test_build_http_client_refuses_unusable_settings(name: str, value: float) -> None:
    settings: dict[str, float] = {
        "connect_timeout": 1.0,
        "read_timeout": 1.0,
        "write_timeout": 1.0,
        "pool_timeout": 1.0,
        "max_connections": 1,
    }
    settings[name] = value
    with pytest.raises(ValueError, match=name):
        build_http_client(**settings)  # type: ignore[arg-type]
