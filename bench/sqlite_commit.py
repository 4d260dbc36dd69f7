"""The SQLite store's claim and complete on a busy event loop: 64 workers, each burning
`--burn-ms` of CPU on the loop per command (the rest of a command's work), like the service.

Run it on two versions of `service/idempotency/sqlite_store.py` (say, with `git stash`) to
compare them side by side; bench/results/2026-12-01-perf-findings.md has the figures that moved
the group commit from a worker thread back onto the loop.

    uv run python -m bench.sqlite_commit --label loop-group-commit
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from bench.common import percentile
from service.idempotency.sqlite_store import SqliteStore


def burn(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


async def run(args: argparse.Namespace) -> str:
    claims: list[float] = []
    completes: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "idem.sqlite3", lease_s=30, retention_s=3600)
        await store.open()
        numbers = iter(range(args.commands))

        async def worker() -> None:
            for i in numbers:
                started = time.perf_counter()
                await store.claim(f"c{i}", "fp")
                claims.append(time.perf_counter() - started)
                burn(args.burn_ms / 1000)
                await asyncio.sleep(0)
                started = time.perf_counter()
                await store.complete(f"c{i}", "fp", b"x" * 400)
                completes.append(time.perf_counter() - started)

        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(args.workers)))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        await store.close()
    claims.sort()
    completes.sort()
    return (
        f"{args.label}: {args.commands / wall:,.0f} cmd/s, CPU {cpu / args.commands * 1e6:.0f} "
        f"µs/cmd ({args.burn_ms * 1000:.0f} of them burnt on purpose), claim p50 "
        f"{percentile(claims, 50) * 1000:.2f} p99 {percentile(claims, 99) * 1000:.2f} ms, "
        f"complete p50 {percentile(completes, 50) * 1000:.2f} "
        f"p99 {percentile(completes, 99) * 1000:.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.sqlite_commit", description=__doc__)
    parser.add_argument("--label", default="this checkout")
    parser.add_argument("--commands", type=int, default=6000)
    parser.add_argument("--workers", type=int, default=64)
    parser.add_argument("--burn-ms", type=float, default=0.3)
    print(asyncio.run(run(parser.parse_args())))


if __name__ == "__main__":
    main()
