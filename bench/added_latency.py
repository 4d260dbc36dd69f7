"""Added latency below saturation, side by side: where it goes, and against which Sinch time.

    uv run --frozen python -m bench.added_latency --rates 42,212 --rounds 2

Open loop in issue 15's latency shape (50 ms stand-in, one partition, 200 calls), the service
at 64 places next to the floor at 64 (the smallest bridge doing the same work: what consuming,
one HTTP request and publishing cost on this machine, with no guarantees), at each rate, in
alternating rounds. Per run: added latency less the nominal delay and less the simulator's own
time per command (`bench.sinch_time`), the stand-in's time itself, the service's stage means
(`fetch` is the record's age when the engine gets it), and the machine's other load.

`--env NAME=VALUE` adds a service setting to a second service contender (`service@64+env`), run
beside the plain one: an A/B of a default. `--before DIR` adds `service@64-before`, running
DIR/service (e.g. `git archive main service | tar -x -C DIR`) beside the checkout's, to measure
a change before and after in one sitting.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

from bench.runner import Contender, RunResult, add_noise_cores, open_loop, retried
from bench.session import session, versions
from bench.targets import FLOOR_64, PLACES, SERVICE_64, SHAPE_50

STAGES = ("fetch", "claim", "request", "store", "publish", "publish_ack", "loop_lag", "gc")


def contenders(args: argparse.Namespace, before: Path | None) -> list[Contender]:
    out = [SERVICE_64]
    if before is not None:
        out.insert(0, Contender(f"{SERVICE_64.name}-before", "service", PLACES, code=before))
    if args.env:
        env = tuple((name, value) for name, _, value in (e.partition("=") for e in args.env))
        out.append(Contender(f"{SERVICE_64.name}+env", "service", PLACES, env=env))
    if not args.no_floor:
        out.append(FLOOR_64)
    return out


def row(run: RunResult) -> dict[str, Any]:
    stages = {
        s: [
            round(run.stages[s]["mean_ms"], 2),
            round(run.stages[s]["p50_ms"], 2),
            round(run.stages[s]["p99_ms"], 1),
            int(run.stages[s]["count"]),
        ]
        for s in STAGES
        if s in run.stages
    }
    return {
        "contender": run.contender,
        "rate": run.rate,
        "achieved": run.achieved,
        "results": run.results,
        "addedNominal": [run.p50, run.p95, run.p99],
        "addedMeasured": [run.less_sinch_p50, run.less_sinch_p95, run.less_sinch_p99],
        "sinchMs": [run.sinch_p50, run.sinch_p99],
        "sinchUnmatched": run.sinch_unmatched,
        "handlerLessNominal": [run.handler_p50, run.handler_p99],
        "stagesMeanP50P99MsCount": stages,
        "cpuPer1000": run.cpu_per_1000,
        "otherLoadCores": run.foreign_cores,
        "simulatorCores": run.sim_cores,
        "contenderCores": run.contender_cores,
        "note": run.note,
    }


def _f(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def line(r: dict[str, Any]) -> str:
    nominal = "/".join(_f(v) for v in r["addedNominal"])
    measured = "/".join(_f(v) for v in r["addedMeasured"])
    sinch = "/".join(_f(v) for v in r["sinchMs"])
    stages = " ".join(f"{k}={v[0]}({v[1]})" for k, v in r["stagesMeanP50P99MsCount"].items())
    return (
        f"{r['contender']:<18} {r['rate']:>6.0f}/s  added less 50 ms p50/p95/p99 {nominal:<17} "
        f"less measured {measured:<17} sinch p50/p99 {sinch:<11} "
        f"other {_f(r['otherLoadCores'], 2)}  {stages}"
    )


def copy_with_service(code: Path, tree: Path, into: Path) -> None:
    """The bench's code snapshot with `tree`'s service/ in place of its own."""
    shutil.copytree(code, into, ignore=shutil.ignore_patterns("service"))
    skip = shutil.ignore_patterns("__pycache__")
    shutil.copytree(tree / "service", into / "service", ignore=skip)


async def main(args: argparse.Namespace) -> None:
    rates = [float(x) for x in args.rates.split(",")]
    rows: list[dict[str, Any]] = []
    started = time.time()
    async with session(args.bootstrap) as bench:
        bench.noise_cores = args.noise_cores
        before = None
        if args.before:
            before = bench.workdir / "code-before"
            await asyncio.to_thread(copy_with_service, bench.code, Path(args.before), before)
        for round_ in range(args.rounds):
            for rate in rates:
                for contender in contenders(args, before):
                    run = await retried(
                        bench, partial(open_loop, bench, contender, SHAPE_50, rate, args.duration)
                    )
                    found = {"round": round_, **row(run)}
                    rows.append(found)
                    print(line(found), flush=True)
                await bench.drop_topics()
    report = {
        "command": " ".join(sys.argv),
        "startedAt": started,
        "loadavgAtEnd": os.getloadavg(),
        "versions": versions(),
        "before": args.before,
        "runs": rows,
    }
    if args.out:
        await asyncio.to_thread(Path(args.out).write_text, json.dumps(report, indent=1))


def cli() -> None:
    parser = argparse.ArgumentParser(prog="bench.added_latency", description=__doc__)
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--rates", default="42,212", help="commands/s, comma separated")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per run")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--no-floor", action="store_true")
    parser.add_argument("--before", help="a tree whose service/ runs as service@64-before")
    parser.add_argument("--out", help="write the figures as JSON here")
    add_noise_cores(parser)
    asyncio.run(main(parser.parse_args()))


if __name__ == "__main__":
    cli()
