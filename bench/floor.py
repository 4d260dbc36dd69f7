"""The "floor" contender: the smallest hand-written Python bridge doing the service's work.

Consume, sign, one PATCH per command to the same stand-in, publish a small result, commit.
No validation, no idempotency store, no per-call order: a batch's commands run concurrently
(at most `--concurrency` at once, the service's in-flight places), its results are queued as
their requests finish, and its offsets are committed once every result of the batch (and of
the batches before it) is acknowledged. aiohttp directly, the JSON body built by hand from the
command's own fields, the signature in a few lines. What is left between the service and this
is the price of its guarantees, its validation and its observability.

Its garbage collector is set as the service's is (`service/ops/gc_pauses.py`): at CPython's
default young threshold this bridge spent about half its CPU in the collector at 0 ms (it made
690-754 commands/s at 1.3-1.4 CPU-s per 1,000, against 1,426-1,633 at 0.6-0.7 with it set;
bench/results/2026-12-01-cpu.md, 2.9), which measured the collector, not the work.

    python -m bench.floor --bootstrap B --topic T --results R --group G --sinch-url U
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import gc
import hashlib
import hmac
import json
from datetime import UTC, datetime

import aiohttp
from aiokafka import ConsumerRecord, TopicPartition

from bench.common import commands_consumer, stop_on_signals
from service.ops.gc_pauses import YOUNG_THRESHOLD
from testkit.kafka import new_producer
from testkit.processes import SIM_KEY, SIM_SECRET

SECRET = base64.b64decode(SIM_SECRET)
SKIP = {"commandId", "callId", "type"}


def signed_headers(path: str, body: bytes) -> dict[str, str]:
    now = datetime.now(UTC)
    stamp = f"{now:%Y-%m-%dT%H:%M:%S}.{now.microsecond // 1000:03d}Z"
    md5 = base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()
    text = f"PATCH\n{md5}\napplication/json\nx-timestamp:{stamp}\n{path}"
    mac = base64.b64encode(hmac.new(SECRET, text.encode(), hashlib.sha256).digest()).decode()
    return {
        "Authorization": f"Application {SIM_KEY}:{mac}",
        "x-timestamp": stamp,
        "Content-Type": "application/json",
    }


async def run(args: argparse.Namespace) -> None:
    stop = stop_on_signals()
    consumer = commands_consumer(args)
    producer = new_producer(args.bootstrap)
    places = asyncio.Semaphore(args.concurrency)
    http = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=args.concurrency),
        cookie_jar=aiohttp.DummyCookieJar(),
    )

    async def one(record: ConsumerRecord[bytes, bytes]) -> asyncio.Future[object]:
        try:
            command = json.loads(record.value)
            instruction = {"name": command["type"]}
            instruction.update((k, v) for k, v in command.items() if k not in SKIP)
            body = json.dumps(
                {"instructions": [instruction], "action": {"name": "continue"}},
                separators=(",", ":"),
            ).encode()
            path = f"/calling/v1/calls/id/{command['callId']}"
            async with http.patch(
                args.sinch_url + path, data=body, headers=signed_headers(path, body)
            ) as response:
                await response.read()
                status = response.status
        finally:
            places.release()
        result = {
            "commandId": command["commandId"],
            "outcome": "succeeded" if status < 300 else "failed",
            "httpStatus": status,
            "source": {"partition": record.partition, "offset": record.offset},
        }
        sent: asyncio.Future[object] = await producer.send(
            args.results, json.dumps(result, separators=(",", ":")).encode(), key=record.key
        )
        return sent

    async def finish(
        previous: asyncio.Task[None] | None,
        sends: list[asyncio.Task[asyncio.Future[object]]],
        offsets: dict[TopicPartition, int],
    ) -> None:
        acks = await asyncio.gather(*sends)
        await asyncio.gather(*acks)
        if previous is not None:
            await previous  # commits in fetch order
        await consumer.commit(offsets)

    await producer.start()
    await consumer.start()
    last: asyncio.Task[None] | None = None
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=100, max_records=args.max_records)
            if not batch:
                continue
            sends = []
            offsets = {}
            for tp, records in batch.items():
                for record in records:
                    await places.acquire()
                    sends.append(asyncio.create_task(one(record)))
                offsets[tp] = records[-1].offset + 1
            last = asyncio.create_task(finish(last, sends, offsets))
    finally:
        if last is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(last, 5)
        await http.close()
        await consumer.stop()
        await producer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.floor", description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--results", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--sinch-url", required=True)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--max-records", type=int, default=500)
    args = parser.parse_args()
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
