"""`AiohttpPoolTransport` on its own, over loopback sockets: what httpx callers get from it
(bodies both ways, headers, the httpx error for each aiohttp failure with the aiohttp error
kept as its cause, which `service.sinch.errors` reads)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import aiohttp
import httpx
import pytest

from service.sinch.transport import AiohttpPoolTransport, client_session, map_aiohttp_error

LIMITS = httpx.Limits(max_connections=2, max_keepalive_connections=2, keepalive_expiry=5.0)


def transport(proxy: str | None = None) -> AiohttpPoolTransport:
    ssl_context = httpx.create_ssl_context(trust_env=False)
    return AiohttpPoolTransport(client_session(LIMITS, ssl_context), limits=LIMITS, proxy=proxy)


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answers every request with its own body, its head's lines as headers."""
    while True:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            break
        lines = head.decode("latin-1").split("\r\n")
        fields = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
        lower = {k.lower(): v for k, v in fields.items()}
        if "content-length" in lower:
            body = await reader.readexactly(int(lower["content-length"]))
        else:  # chunked
            body = b""
            while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
                body += await reader.readexactly(size)
                await reader.readexactly(2)
            await reader.readexactly(2)
        writer.write(
            b"HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\nX-Request-Line: "
            + lines[0].encode("latin-1")
            + b"\r\nX-Seen-Auth: "
            + lower.get("authorization", "").encode("latin-1")
            + b"\r\nX-Seen-Proxy-Auth: "
            + lower.get("proxy-authorization", "").encode("latin-1")
            + b"\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body
        )
        await writer.drain()
    writer.close()


@pytest.fixture
async def echo_url() -> AsyncIterator[str]:
    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    server.close()


async def test_a_request_and_its_answer_cross_unchanged(echo_url: str) -> None:
    pool = transport()
    try:
        async with httpx.AsyncClient(transport=pool) as http:
            path = "/calling/v1/calls/id/a%2Fb;c=d"
            response = await http.patch(
                echo_url + path, content=b'{"x":1}', headers={"Authorization": "Basic abc"}
            )
            assert response.status_code == 201
            assert response.content == b'{"x":1}'
            assert response.headers["x-request-line"] == f"PATCH {path} HTTP/1.1"
            assert response.headers["x-seen-auth"] == "Basic abc"
            assert response.http_version == "HTTP/1.1"
    finally:
        await pool.aclose()


async def test_a_streamed_request_body_is_sent_whole(echo_url: str) -> None:
    async def parts() -> AsyncIterator[bytes]:
        for part in (b"one,", b"two,", b"three"):
            yield part

    pool = transport()
    try:
        async with httpx.AsyncClient(transport=pool) as http:
            response = await http.post(echo_url + "/calling/v1/callouts", content=parts())
            assert response.content == b"one,two,three"
    finally:
        await pool.aclose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_a_refused_connection_is_a_connect_error_caused_by_aiohttps() -> None:
    pool = transport()
    try:
        async with httpx.AsyncClient(transport=pool) as http:
            with pytest.raises(httpx.ConnectError) as caught:
                await http.get(f"http://127.0.0.1:{free_port()}/calling/v1/calls/id/a")
        assert isinstance(caught.value.__cause__, aiohttp.ClientConnectorError)
    finally:
        await pool.aclose()


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (aiohttp.ServerDisconnectedError(), httpx.RemoteProtocolError),
        (aiohttp.ConnectionTimeoutError(), httpx.ConnectTimeout),
        (aiohttp.SocketTimeoutError(), httpx.ReadTimeout),
        (aiohttp.ClientPayloadError("cut"), httpx.ReadError),
        (aiohttp.ClientOSError(104, "reset"), httpx.ReadError),
    ],
)
def test_each_aiohttp_failure_has_its_httpx_meaning(
    error: Exception, expected: type[Exception]
) -> None:
    assert type(map_aiohttp_error(error)) is expected


def test_an_error_aiohttp_has_no_httpx_name_for_is_left_as_it_is() -> None:
    error = ValueError("header too long")
    assert map_aiohttp_error(error) is error


def test_proxy_credentials_are_sent_as_a_header_never_in_the_url() -> None:
    pool = transport(proxy="http://user:p%40ss@proxy.example:3128")
    assert str(pool._proxy) == "http://proxy.example:3128"
    assert pool._proxy_headers == {"Authorization": "Basic dXNlcjpwQHNz"}  # user:p@ss


async def test_an_egress_proxy_gets_the_absolute_url_and_its_credentials(echo_url: str) -> None:
    # The echo server stands in for an HTTP proxy: it sees what a proxy would.
    pool = transport(proxy=echo_url.replace("http://", "http://user:p%40ss@"))
    try:
        async with httpx.AsyncClient(transport=pool) as http:
            target = "http://sinch.invalid/calling/v1/calls/id/a"
            response = await http.patch(target, content=b"{}")
            assert response.headers["x-request-line"] == f"PATCH {target} HTTP/1.1"
            assert response.headers["x-seen-proxy-auth"] == "Basic dXNlcjpwQHNz"
    finally:
        await pool.aclose()
