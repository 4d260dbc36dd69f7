"""Two service processes against one (Redis store), with where every core went.

    uv run --frozen python -m bench.scale_out --rounds 3

Closed loop at 0 ms (six partitions, 1,000 calls), `service-redis` and `service-redis-x2`
alternating on one backlog per round, each from its own consumer group. The pair's rate counts
from the group's last rebalance (`bench.runner.closed_loop`). Beside each rate: the cores used
by each service process, the simulator, the broker, the Redis server, this harness, everything
else, and the whole machine, over the span in which results arrived. On a 2-core machine that
holds the broker, the simulator and Redis too, the pair can only use what those leave: the
"cores left" column is 2 minus everything that is not the service, and "ratio the CPU allows"
is what the pair would reach at the single process's CPU per command on those cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

from bench.runner import RunResult, add_noise_cores, closed_loop, retried
from bench.session import session, versions
from bench.targets import SHAPE_0, redis_service


def figures(run: RunResult) -> dict[str, Any]:
    others = run.cores_besides_service
    return {
        "contender": run.contender,
        "rate": run.throughput,
        "results": run.results,
        "cpuPer1000": run.cpu_per_1000,
        "replicaCores": [round(c, 2) for c in run.replica_cores],
        "simulatorCores": run.sim_cores,
        "brokerCores": run.broker_cores,
        "redisCores": run.redis_cores,
        "harnessCores": run.harness_cores,
        "otherLoadCores": run.foreign_cores,
        "busyCores": run.busy_cores,
        "coresLeftForService": (os.cpu_count() or 2) - others,
        "note": run.note,
    }


def _f(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def line(r: dict[str, Any]) -> str:
    return (
        f"{r['contender']:<17} {_f(r['rate'], 0):>6} cmd/s  CPU/1000 {_f(r['cpuPer1000'])}  "
        f"service {r['replicaCores']}  sim {_f(r['simulatorCores'])}  broker "
        f"{_f(r['brokerCores'])}  redis {_f(r['redisCores'])}  harness {_f(r['harnessCores'])}  "
        f"other {_f(r['otherLoadCores'])}  busy {_f(r['busyCores'])}  "
        f"left for the service {_f(r['coresLeftForService'])}"
    )


async def main(args: argparse.Namespace) -> None:
    rows: list[dict[str, Any]] = []
    async with session(args.bootstrap) as bench:
        bench.noise_cores = args.noise_cores
        for round_ in range(args.rounds):
            topic = await bench.backlog(SHAPE_0, args.commands)
            pair: list[dict[str, Any]] = []
            for replicas in (1, 2):
                contender = redis_service(bench.run_id, replicas)
                run = await retried(
                    bench,
                    partial(
                        closed_loop, bench, contender, SHAPE_0, topic, args.commands, args.cap_s
                    ),
                )
                pair.append({"round": round_, **figures(run)})
                print(line(pair[-1]), flush=True)
            one, two = pair
            if one["rate"] and two["rate"] and one["cpuPer1000"]:
                allowed = two["coresLeftForService"] / (one["cpuPer1000"] / 1000) / one["rate"]
                two["ratio"] = two["rate"] / one["rate"]
                two["ratioTheCpuAllows"] = allowed
                print(f"  two / one = {two['ratio']:.2f}; the CPU left allows {allowed:.2f}")
            rows += pair
            await bench.drop_topics()
    report = {
        "command": " ".join(sys.argv),
        "finishedAt": time.time(),
        "loadavgAtEnd": os.getloadavg(),
        "versions": versions(),
        "runs": rows,
    }
    if args.out:
        await asyncio.to_thread(Path(args.out).write_text, json.dumps(report, indent=1))


def cli() -> None:
    parser = argparse.ArgumentParser(prog="bench.scale_out", description=__doc__)
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--commands", type=int, default=20_000)
    parser.add_argument("--cap-s", type=float, default=10.0)
    parser.add_argument("--out", help="write the figures as JSON here")
    add_noise_cores(parser)
    asyncio.run(main(parser.parse_args()))


if __name__ == "__main__":
    cli()
