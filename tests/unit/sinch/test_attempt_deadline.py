"""A total deadline per attempt, and the write timeout, over real loopback sockets with the
production transport: a peer that trickles its answer, one that never reads the request, and
a failure aiohttp raises that httpx's mapping does not know (a header over aiohttp's limit)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from service.sinch import BasicAuth, SinchClient, SinchRequest, SinchTransportError
from service.sinch import build_http_client as build
from tests.unit.sinch.test_transport_socket import BODY, Behaviour, read_request

PATH = "/calling/v1/calls/id/c1"


@pytest.fixture
async def server() -> AsyncIterator[Callable[[Behaviour], Awaitable[str]]]:
    servers: list[asyncio.Server] = []

    async def start(behaviour: Behaviour) -> str:
        srv = await asyncio.start_server(behaviour, "127.0.0.1", 0)
        servers.append(srv)
        return f"http://127.0.0.1:{srv.sockets[0].getsockname()[1]}"

    yield start
    for srv in servers:
        srv.close()


async def trickle_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
    for _ in range(1000):  # a byte every 50 ms: each read is quick, the whole is not
        writer.write(b" ")
        await writer.drain()
        await asyncio.sleep(0.05)


async def trickle_head(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 1000:
        writer.write(bytes([byte]))
        await writer.drain()
        await asyncio.sleep(0.05)


async def never_read(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(10)


async def huge_header(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 20_000 + b"\r\nContent-Length: 0\r\n\r\n")
    await writer.drain()
    await asyncio.sleep(1)


def client(base_url: str, *, attempt_s: float, head_s: float | None = None) -> SinchClient:
    http = build(
        connect_timeout=1.0,
        read_timeout=1.0,  # per read: a trickle never trips it
        write_timeout=1.0,
        pool_timeout=1.0,
        max_connections=4,
        trust_env=False,
    )
    return SinchClient(
        http,
        BasicAuth("key", "secret"),
        base_url=base_url,
        attempt_timeout_s=attempt_s,
        head_timeout_s=head_s,
    )


async def test_a_trickled_body_is_cut_at_the_attempt_deadline_keeping_the_status(
    server: Callable[[Behaviour], Awaitable[str]],
) -> None:
    sinch = client(await server(trickle_body), attempt_s=0.5)
    started = time.monotonic()
    response = await sinch.send(SinchRequest("PATCH", PATH, BODY))
    assert time.monotonic() - started < 1.5
    assert response.status_code == 200, "Sinch answered: its status is the outcome"
    assert response.incomplete == "attempt_deadline"


async def test_a_trickled_head_times_out_as_maybe_sent(
    server: Callable[[Behaviour], Awaitable[str]],
) -> None:
    sinch = client(await server(trickle_head), attempt_s=5.0, head_s=0.5)
    started = time.monotonic()
    with pytest.raises(SinchTransportError) as caught:
        await sinch.send(SinchRequest("PATCH", PATH, BODY))
    assert time.monotonic() - started < 1.5
    assert caught.value.error_type == "AttemptDeadline"
    assert caught.value.request_sent and caught.value.timeout


async def test_a_peer_that_never_reads_trips_the_write_bound(
    server: Callable[[Behaviour], Awaitable[str]],
) -> None:
    # Larger than loopback's socket buffers: the write itself blocks.
    body = b'{"x":"' + b"a" * 64_000_000 + b'"}'
    sinch = client(await server(never_read), attempt_s=30.0, head_s=1.0)
    started = time.monotonic()
    with pytest.raises(SinchTransportError) as caught:
        await sinch.send(SinchRequest("PATCH", PATH, body))
    assert time.monotonic() - started < 3.0, "aiohttp alone has no write timeout"
    assert caught.value.timeout


async def test_an_error_the_transport_does_not_map_is_still_a_transport_error(
    server: Callable[[Behaviour], Awaitable[str]],
) -> None:
    sinch = client(await server(huge_header), attempt_s=5.0)
    with pytest.raises(SinchTransportError) as caught:
        await sinch.send(SinchRequest("PATCH", PATH, BODY))
    assert caught.value.request_sent is True, "the request was written: maybe acted on"
    assert "aaaa" * 100 not in str(caught.value), "the header is not echoed at length"
