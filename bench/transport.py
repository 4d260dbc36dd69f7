"""Which transport under the service's httpx client: aiohttp's pool (the bridge,
`httpx_aiohttp.AiohttpTransport`) or httpx's own (httpcore), measured side by side.

Starts its own simulator (0 ms), then alternates the two transports `--rounds` times: each
round sends `--requests` signed PATCHes through the service's `SinchClient`, `--concurrency`
at once, and records requests/s and this process's CPU seconds per 1,000 requests (the client
side only; the simulator is another process). Run with `--loop uvloop` to see the same under
uvloop. The numbers behind docs/decisions/0006-*.md.

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


def aiohttp_bridge(connections: int) -> httpx.AsyncClient:
    return _client(connections, None)


def httpx_native(connections: int) -> httpx.AsyncClient:
    limits = httpx.Limits(
        max_connections=connections, max_keepalive_connections=connections, keepalive_expiry=5.0
    )
    return _client(connections, httpx.AsyncHTTPTransport(limits=limits, trust_env=False))


TRANSPORTS: dict[str, Callable[[int], httpx.AsyncClient]] = {
    "aiohttp bridge": aiohttp_bridge,
    "httpx native": httpx_native,
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
            rounds: dict[str, list[dict[str, float]]] = {name: [] for name in TRANSPORTS}
            for _ in range(args.rounds):
                for name, make in TRANSPORTS.items():
                    rounds[name].append(await one_round(simulator.url, make, args))
                    print(name, json.dumps(rounds[name][-1]), flush=True)
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
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    args = parser.parse_args()
    if args.loop == "uvloop":
        import uvloop

        result = uvloop.run(run(args))
    else:
        result = asyncio.run(run(args))
    print(json.dumps(result["median"], indent=1))


if __name__ == "__main__":
    main()
