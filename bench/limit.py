"""The "limit" contender: a raw aiokafka passthrough, no HTTP, no decoding.

getmany (up to 500 records) → send one small JSON result per record (futures collected) →
await the batch's acknowledgements → commit the batch's explicit offsets. The most a Python
process does with this broker: the service can never beat it.

    python -m bench.limit --bootstrap 127.0.0.1:9092 --topic T --results R --group G
"""

from __future__ import annotations

import argparse
import asyncio
import json

from aiokafka import TopicPartition

from bench.common import commands_consumer, stop_on_signals
from testkit.kafka import new_producer


async def run(args: argparse.Namespace) -> None:
    stop = stop_on_signals()
    consumer = commands_consumer(args)
    producer = new_producer(args.bootstrap)
    await producer.start()
    await consumer.start()
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=100, max_records=args.max_records)
            if not batch:
                continue
            futures = []
            offsets: dict[TopicPartition, int] = {}
            for tp, records in batch.items():
                for record in records:
                    result = {
                        "outcome": "succeeded",
                        "source": {"partition": record.partition, "offset": record.offset},
                    }
                    futures.append(
                        await producer.send(
                            args.results,
                            json.dumps(result, separators=(",", ":")).encode(),
                            key=record.key,
                        )
                    )
                offsets[tp] = records[-1].offset + 1
            await asyncio.gather(*futures)
            await consumer.commit(offsets)
    finally:
        await consumer.stop()
        await producer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.limit", description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--results", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--max-records", type=int, default=500)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
