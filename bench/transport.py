"""Which transport under the service's httpx client, measured side by side: the service's own
(`service.sinch.transport`, over aiohttp's pool), the earlier bridge to the same pool
(`httpx_aiohttp.AiohttpTransport`), httpx's own (httpcore), and, as the reference line, the
same signed requests straight through aiohttp with no httpx at all ("aiohttp direct").

Starts its own simulator (0 ms), then alternates the lines `--rounds` times: each round sends
`--requests` signed PATCHes through the service's `SinchClient` (the direct line: through an
`aiohttp.ClientSession`), `--concurrency` at once, and records requests/s and this process's
CPU seconds per 1,000 requests (the client side only; the simulator is another process). The
loop is uvloop, as in the service (`--loop asyncio` for asyncio's own). The numbers behind
docs/decisions/0006-*.md.

    uv run python -m bench.transport --requests 4000 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from service.sinch import SignedAuth, SinchClient, SinchRequest, build_http_client
from testkit.processes import SIM_KEY, SIM_SECRET, SimulatorProcess

BODY = (
    b'{"instructions":[{"name":"say","text":"Hello","locale":"en-US"}],'
    b'"action":{"name":"continue"}}'
)


def _client(connections: int, transport: httpx.AsyncBaseTransport | None) -> httpx.AsyncClient:
    return build_http_client(
        connect_timeout=5.0,
        read_timeout=10.0,
        write_timeout=5.0,
        pool_timeout=10.0,
        max_connections=connections,
        transport=transport,
    )


def own_transport(connections: int) -> httpx.AsyncClient:
    """What the service uses: `service.sinch.transport.AiohttpPoolTransport`."""
    return _client(connections, None)


def aiohttp_bridge(connections: int) -> httpx.AsyncClient:
    """The bridge used before (`httpx_aiohttp.AiohttpTransport`), set up as the service had."""
    import aiohttp
    from httpx_aiohttp import AiohttpTransport

    limits = httpx.Limits(
        max_connections=connections, max_keepalive_connections=connections, keepalive_expiry=5.0
    )

    def session() -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(limit=connections, keepalive_timeout=5.0)
        return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())

    return _client(connections, AiohttpTransport(limits=limits, client=session))


def httpx_native(connections: int) -> httpx.AsyncClient:
    limits = httpx.Limits(
        max_connections=connections, max_keepalive_connections=connections, keepalive_expiry=5.0
    )
    return _client(connections, httpx.AsyncHTTPTransport(limits=limits, trust_env=False))


DIRECT = "aiohttp direct"
TRANSPORTS: dict[str, Callable[[int], httpx.AsyncClient]] = {
    "own transport": own_transport,
    "aiohttp bridge": aiohttp_bridge,
    "httpx native": httpx_native,
}


async def direct_round(url: str, args: argparse.Namespace) -> dict[str, float]:
    """The reference line: the same signed PATCHes straight through aiohttp, no httpx at all
    (what `bench/floor.py` does), so the report shows what httpx and the bridge cost."""
    import aiohttp

    auth = SignedAuth(SIM_KEY, SIM_SECRET)
    connector = aiohttp.TCPConnector(limit=args.concurrency, keepalive_timeout=5.0)
    session = aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())
    queue = iter(range(args.requests))
    failures = 0

    async def one(path: str) -> int:
        headers = auth.headers("PATCH", path, BODY)
        headers["Content-Type"] = "application/json"
        async with session.patch(url + path, data=BODY, headers=headers) as response:
            await response.read()
            return response.status

    async def worker() -> None:
        nonlocal failures
        for n in queue:
            failures += await one(f"/calling/v1/calls/id/transport-{n % 500}") >= 300

    await asyncio.gather(*(one(f"/calling/v1/calls/id/w{i}") for i in range(args.concurrency)))
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    await session.close()
    return {
        "requestsPerSecond": args.requests / wall,
        "cpuPer1000": cpu / args.requests * 1000,
        "failures": failures,
    }


async def one_round(
    url: str, make: Callable[[int], httpx.AsyncClient], args: argparse.Namespace
) -> dict[str, float]:
    http = make(args.concurrency)
    client = SinchClient(http, SignedAuth(SIM_KEY, SIM_SECRET), base_url=url)
    queue = iter(range(args.requests))
    failures = 0

    async def worker() -> None:
        nonlocal failures
        for n in queue:
            request = SinchRequest("PATCH", f"/calling/v1/calls/id/transport-{n % 500}", BODY)
            response = await client.send(request)
            failures += response.status_code >= 300

    # warm-up: the pool's connections are opened before the clock starts
    await asyncio.gather(
        *(
            client.send(SinchRequest("PATCH", f"/calling/v1/calls/id/w{i}", BODY))
            for i in range(args.concurrency)
        )
    )
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    await http.aclose()
    return {
        "requestsPerSecond": args.requests / wall,
        "cpuPer1000": cpu / args.requests * 1000,
        "failures": failures,
    }


async def run(args: argparse.Namespace) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        simulator = SimulatorProcess(Path(tmp), "--auto-create-calls")
        simulator.start()
        try:
            await simulator.reset()
            names = [n for n in (*TRANSPORTS, DIRECT) if n in args.only or not args.only]
            rounds: dict[str, list[dict[str, float]]] = {name: [] for name in names}
            for _ in range(args.rounds):
                for name in names:
                    if name == DIRECT:
                        found = await direct_round(simulator.url, args)
                    else:
                        found = await one_round(simulator.url, TRANSPORTS[name], args)
                    rounds[name].append(found)
                    print(name, json.dumps(found), flush=True)
        finally:
            await simulator.close()
    medians = {
        name: {
            key: statistics.median(r[key] for r in found)
            for key in ("requestsPerSecond", "cpuPer1000")
        }
        for name, found in rounds.items()
    }
    return {
        "loop": args.loop,
        "requests": args.requests,
        "concurrency": args.concurrency,
        "rounds": rounds,
        "median": medians,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.transport", description=__doc__)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="uvloop")
    parser.add_argument(
        "--only", action="append", default=[], help="measure only this line (repeatable)"
    )
    args = parser.parse_args()
    if args.loop == "uvloop":
        import uvloop

        result = uvloop.run(run(args))
    else:
        result = asyncio.run(run(args))
    print(json.dumps(result["median"], indent=1))


if __name__ == "__main__":
    main()
