"""Produce records whose header keys are raw bytes (not UTF-8), as librdkafka, kcat or Go
clients can. aiokafka's producer encodes header keys itself; its pure-Python record builder
calls `key.encode("utf-8")`, so a `str` whose `encode` gives the raw bytes goes through. The
pure-Python builder is chosen at import (AIOKAFKA_NO_EXTENSIONS), hence a subprocess.

    python -m testkit.raw_producer BOOTSTRAP TOPIC PARTITION KEY HEX_HEADER_KEY VALUE
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from aiokafka import AIOKafkaProducer


class _RawKey(str):
    raw: bytes

    def encode(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        return self.raw


async def _produce(
    bootstrap: str, topic: str, partition: int, key: bytes, header_key: bytes, value: bytes
) -> None:
    raw_key = _RawKey("x")
    raw_key.raw = header_key
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(
            topic, value, key=key, partition=partition, headers=[(raw_key, b"v")]
        )
    finally:
        await producer.stop()


def produce_bad_header(
    bootstrap: str, topic: str, partition: int, key: bytes, header_key: bytes, value: bytes
) -> None:
    subprocess.run(
        [sys.executable, "-m", "testkit.raw_producer", bootstrap, topic, str(partition),
         key.decode(), header_key.hex(), value.decode()],
        env={**os.environ, "AIOKAFKA_NO_EXTENSIONS": "1"},
        check=True,
        timeout=60,
    )  # fmt: skip


if __name__ == "__main__":
    bootstrap, topic, partition, key, header_hex, value = sys.argv[1:7]
    asyncio.run(
        _produce(
            bootstrap,
            topic,
            int(partition),
            key.encode(),
            bytes.fromhex(header_hex),
            value.encode(),
        )
    )
