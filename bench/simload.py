"""Load on the simulator alone: signed PATCHes from this process (aiohttp client, the cheaper
client, so the simulator rather than the client is what runs out), `--concurrency` at once.

    python -m bench.simload --url http://127.0.0.1:8700 --duration 5 --concurrency 64
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import aiohttp

from service.sinch import CONTENT_TYPE, SignedAuth
from testkit.processes import SIM_KEY, SIM_SECRET

BODY = (
    b'{"instructions":[{"name":"say","text":"Hello","locale":"en-US"}],'
    b'"action":{"name":"continue"}}'
)


async def worker(
    session: aiohttp.ClientSession,
    url: str,
    auth: SignedAuth,
    index: int,
    deadline: float,
    counts: dict[str, int],
) -> None:
    n = 0
    while time.monotonic() < deadline:
        path = f"/calling/v1/calls/id/simload-{index}-{n % 50}"
        headers = auth.headers("PATCH", path, BODY)
        headers["Content-Type"] = CONTENT_TYPE
        async with session.patch(url + path, data=BODY, headers=headers) as response:
            await response.read()
            key = "ok" if 200 <= response.status < 300 else "errors"
            counts[key] += 1
        n += 1


async def run(args: argparse.Namespace) -> dict[str, float]:
    auth = SignedAuth(SIM_KEY, SIM_SECRET)
    counts = {"ok": 0, "errors": 0}
    connector = aiohttp.TCPConnector(limit=args.concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        start = time.monotonic()
        deadline = start + args.duration
        await asyncio.gather(
            *(worker(session, args.url, auth, i, deadline, counts) for i in range(args.concurrency))
        )
        elapsed = time.monotonic() - start
    total = counts["ok"] + counts["errors"]
    return {**counts, "seconds": elapsed, "requestsPerSecond": total / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.simload", description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=64)
    print(json.dumps(asyncio.run(run(parser.parse_args()))), flush=True)


if __name__ == "__main__":
    main()
