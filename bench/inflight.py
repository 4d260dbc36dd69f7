"""The in-flight sweep: the service at each CALLCTL_MAX_IN_FLIGHT against a 50 ms simulator over
1,000 calls (closed loop, same backlog for every setting). The first measurement behind the
default of CALLCTL_MAX_IN_FLIGHT.

    uv run python -m bench.inflight [--values 1,8,32,64,128,256,512] [--commands 20000]
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass
from functools import partial

from bench.runner import Bench, Contender, RunResult, Scenario, closed_loop, retried
from bench.session import session

DEFAULT_VALUES = (1, 8, 32, 64, 128, 256, 512)
KNEE_SHARE = 0.95  # the recommended setting: the smallest within 5 % of the best


@dataclass(frozen=True, slots=True)
class Sweep:
    scenario: Scenario
    points: list[tuple[int, RunResult]]

    @property
    def best(self) -> int:
        return max(self.points, key=lambda p: p[1].throughput)[0]

    @property
    def knee(self) -> int:
        top = max(r.throughput for _, r in self.points)
        return min(v for v, r in self.points if r.throughput >= KNEE_SHARE * top)


async def sweep(
    bench: Bench,
    values: tuple[int, ...],
    *,
    commands: int,
    cap_s: float,
    latency_ms: int = 50,
    calls: int = 1000,
    partitions: int = 6,
    echo: bool = True,
) -> Sweep:
    scenario = Scenario(latency_ms, partitions, calls)
    topic = await bench.backlog(scenario, commands)
    points: list[tuple[int, RunResult]] = []
    for value in values:
        contender = Contender(f"service@{value}", "service", max_in_flight=value)
        result = await retried(
            bench, partial(closed_loop, bench, contender, scenario, topic, commands, cap_s)
        )
        points.append((value, result))
        if echo:
            print(f"  in-flight {value:>4}: {result.throughput:8.1f} cmd/s", flush=True)
    return Sweep(scenario, points)


def table(result: Sweep) -> list[str]:
    latency_s = result.scenario.latency_ms / 1000
    lines = [
        "| CALLCTL_MAX_IN_FLIGHT | cmd/s | Little's law bound (in-flight / latency) | "
        "share of bound | in-handler p50 / p99 ms | CPU s / 1,000 | peak RSS MiB | results | ok |",
        "|---:|---:|---:|---:|---|---:|---:|---:|---:|",
    ]
    for value, r in result.points:
        bound = value / latency_s if latency_s else float("inf")
        share = f"{r.throughput / bound:.0%}" if latency_s else "n/a"
        lines.append(
            f"| {value} | {r.throughput:.0f} | {bound:.0f} | {share} | "
            f"{_num(r.handler_p50, 1)} / {_num(r.handler_p99, 1)} | {_num(r.cpu_per_1000, 2)} | "
            f"{_num(r.peak_rss_mib, 0)} | {r.results} | {r.ok} |"
        )
    return lines


def _num(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


async def main_async(args: argparse.Namespace) -> None:
    values = tuple(int(v) for v in args.values.split(","))
    async with session(args.bootstrap) as bench:
        print(f"in-flight sweep, work directory {bench.workdir}", flush=True)
        result = await sweep(
            bench,
            values,
            commands=args.commands,
            cap_s=args.cap_s,
            latency_ms=args.latency_ms,
            calls=args.calls,
            partitions=args.partitions,
        )
    print("\n".join(table(result)))
    print(f"\nbest: {result.best}; smallest within 5 % of the best: {result.knee}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.inflight", description=__doc__)
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--values", default=",".join(map(str, DEFAULT_VALUES)))
    parser.add_argument("--commands", type=int, default=20_000)
    parser.add_argument("--cap-s", type=float, default=10.0, help="measure at most this long")
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--partitions", type=int, default=6)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
