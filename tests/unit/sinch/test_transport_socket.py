"""The failure classes that decide retries, checked over real loopback sockets with the
production transport (aiohttp's pool under httpx), not a mock."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from service.sinch import (
    BasicAuth,
    SinchClient,
    SinchRequest,
    SinchTransportError,
    build_http_client,
)

BODY = b'{"action":{"name":"hangup"}}'
Behaviour = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def read_request(reader: asyncio.StreamReader) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    )
    await reader.readexactly(length)


async def drop_after_reading(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    writer.close()


async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    await asyncio.sleep(5)
    writer.close()


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


async def send(base_url: str, *, read_timeout: float = 2.0) -> SinchTransportError:
    http = build_http_client(
        connect_timeout=1.0,
        read_timeout=read_timeout,
        write_timeout=1.0,
        pool_timeout=1.0,
        max_connections=4,
        trust_env=False,
    )
    client = SinchClient(http, BasicAuth("key", "secret"), base_url=base_url)
    try:
        with pytest.raises(SinchTransportError) as caught:
            await client.send(SinchRequest("PATCH", "/calling/v1/calls/id/c1", BODY))
    finally:
        await http.aclose()
    return caught.value


async def test_refused_connection_was_not_sent() -> None:
    error = await send(f"http://127.0.0.1:{free_port()}")
    assert error.request_sent is False
    assert error.timeout is False


async def test_connection_dropped_after_the_request_may_have_been_processed(
    server: Callable[[Behaviour], Awaitable[str]],
) -> None:
    error = await send(await server(drop_after_reading))
    assert error.request_sent is True, "Sinch may have acted: a PATCH must not be repeated"
    assert error.timeout is False


async def test_no_answer_in_time_is_a_sent_timeout(
    server: Callable[[Behaviour], Awaitable[str]],
) -> None:
    error = await send(await server(never_answer), read_timeout=0.2)
    assert error.request_sent is True
    assert error.timeout is True
