"""The request URL is built from the host's parsed URL and the checked path, not parsed again
per request (`SinchClient._url`): it must be the URL httpx itself would have parsed."""

from __future__ import annotations

import gzip

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.sinch import BasicAuth, SinchClient, SinchRequest

# Every character a SinchRequest path may hold (RFC 3986 pchar plus "/"), and escapes.
PCHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@/"
HOSTS = (
    "https://calling.api.sinch.com",
    "https://calling-euc1.api.sinch.com",
    "http://127.0.0.1:8080",
    "http://localhost:1",
    "https://[::1]:8443",
)
segment = st.one_of(
    st.text(alphabet=PCHARS.replace("/", ""), min_size=1, max_size=12),
    st.sampled_from(["%2F", "%41", "%e4", "%25"]),
).filter(lambda s: s not in (".", ".."))


def client() -> SinchClient:
    http = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(200)))
    return SinchClient(http, BasicAuth("key", "secret"), base_url="http://127.0.0.1:1")


@given(host=st.sampled_from(HOSTS), segments=st.lists(segment, min_size=1, max_size=4))
def test_the_built_url_is_the_parsed_url(host: str, segments: list[str]) -> None:
    path = "/calling/v1/calls/id/" + "/".join(segments)
    SinchRequest("PATCH", path)  # a path the client accepts
    built = client()._url(host, path)
    parsed = httpx.URL(host + path)
    assert built == parsed
    assert str(built) == str(parsed)
    assert built.raw_path == parsed.raw_path == path.encode("ascii")
    assert (built.scheme, built.host, built.port, built.netloc) == (
        parsed.scheme,
        parsed.host,
        parsed.port,
        parsed.netloc,
    )


def test_a_host_with_a_path_of_its_own_is_parsed_whole() -> None:
    # Not a base the client builds from (base URLs are bare hosts), but never a silent join.
    built = client()._url("http://127.0.0.1:1/prefix", "/calling/v1/calls/id/a")
    assert built == httpx.URL("http://127.0.0.1:1/prefix/calling/v1/calls/id/a")


async def test_what_reaches_the_transport_is_the_signed_path_on_the_host() -> None:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    async with httpx.AsyncClient(transport=httpx.MockTransport(record)) as http:
        sinch = SinchClient(http, BasicAuth("key", "secret"), base_url="http://127.0.0.1:1")
        path = "/calling/v1/calls/id/a%2Fb;c=d:@!$&'()*+,"
        await sinch.send(SinchRequest("PATCH", path, b"{}"))
    (request,) = seen
    assert request.url == httpx.URL("http://127.0.0.1:1" + path)
    assert request.url.raw_path == path.encode("ascii")
    assert request.headers["host"] == "127.0.0.1:1"
    assert request.headers["content-length"] == "2"
    assert request.content == b"{}"


@pytest.mark.parametrize("coded", [False, True])
async def test_the_body_is_read_decoded_whether_or_not_it_has_a_content_coding(
    coded: bool,
) -> None:
    body = b'{"id":"x"}' * 50
    headers = {"Content-Encoding": "gzip"} if coded else {}

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=headers, content=gzip.compress(body) if coded else body)

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        sinch = SinchClient(http, BasicAuth("key", "secret"), base_url="http://127.0.0.1:1")
        response = await sinch.send(SinchRequest("GET", "/calling/v1/calls/id/a"))
    assert response.body == body
    assert response.incomplete is None
