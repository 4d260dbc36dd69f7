"""A private `redis-server` on a free port with its own settings (the shared one on 6379 is
never reconfigured by tests)."""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import redis

from testkit.processes import free_port


@contextmanager
def private_redis(*args: str) -> Iterator[str]:
    """Yields its URL; `args` are redis-server options, e.g. `--maxmemory-policy allkeys-lru`."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="callctl-redis-") as state:
        process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                state,
                *args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            client = redis.Redis(port=port, socket_timeout=1)
            deadline = time.monotonic() + 10
            while True:
                try:
                    client.ping()
                    break
                except redis.ConnectionError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"private redis-server did not start: {args}") from None
                    time.sleep(0.05)
            client.close()
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.terminate()
            process.wait(10)
