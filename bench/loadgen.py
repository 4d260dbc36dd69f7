"""Open-loop load: produce commands at a fixed rate, whatever the consumer does.

Sends are scheduled on absolute times (every 2 ms the records that are due), never waiting for
a result, so a slow contender cannot slow the load down (no coordinated omission). Prints one
JSON line: records sent, the start time (ms, wall clock) and how late the sends ran.

    python -m bench.loadgen --bootstrap B --topic T --rate 700 --duration 10 --calls 1000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time

from bench.common import command, percentile
from testkit.kafka import new_producer

TICK_S = 0.002


async def run(args: argparse.Namespace) -> dict[str, float]:
    producer = new_producer(args.bootstrap, linger_ms=0)
    await producer.start()
    total = int(args.rate * args.duration)
    lags: list[float] = []
    futures = []
    try:
        start = time.monotonic()
        start_wall_ms = time.time() * 1000
        sent = 0
        while sent < total:
            now = time.monotonic()
            due = min(total, int((now - start) * args.rate) + 1)
            if due > sent:
                lags.append((now - (start + (due - 1) / args.rate)) * 1000)
            while sent < due:
                key, value = command(args.first + sent, args.calls, args.run)
                futures.append(await producer.send(args.topic, value, key=key))
                sent += 1
            if len(futures) > 2_000:
                await asyncio.gather(*futures)
                futures.clear()
            await asyncio.sleep(max(0.0, start + sent / args.rate - time.monotonic(), TICK_S))
        await asyncio.gather(*futures)
        elapsed = time.monotonic() - start
    finally:
        await producer.stop()
    lags.sort()
    own = os.times()
    return {
        "cpuSeconds": own.user + own.system,
        "sent": sent,
        "startMs": start_wall_ms,
        "seconds": elapsed,
        "lagP50Ms": percentile(lags, 50),
        "lagP99Ms": percentile(lags, 99),
        "lagMaxMs": lags[-1] if lags else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.loadgen", description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--rate", type=float, required=True, help="commands per second")
    parser.add_argument("--duration", type=float, required=True, help="seconds")
    parser.add_argument("--calls", type=int, required=True)
    parser.add_argument("--run", required=True, help="prefix of the command and call ids")
    parser.add_argument("--first", type=int, default=0, help="index of the first command")
    print(json.dumps(asyncio.run(run(parser.parse_args()))), flush=True)


if __name__ == "__main__":
    main()
