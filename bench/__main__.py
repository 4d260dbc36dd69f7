"""`make bench` / `uv run python -m bench`: every contender, every load, one report.

Order: the simulator's own capacity; the in-flight sweep (it picks "service@best"); the closed
loop matrix (latency x partitions x calls; per scenario one backlog, read by every contender
under its own consumer group); the open loop at shares of each contender's closed-loop maximum;
a py-spy profile of the service if it misses a target. Writes bench/results/<date>.md (+ .json
and two PNGs) and prints the summary. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import shlex
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

from bench import guard, inflight, profiling
from bench.common import cpu_seconds
from bench.report import (
    Report,
    from_json,
    markdown,
    plot_inflight,
    plot_latency,
    plot_throughput,
    plotting,
    summary,
    to_json,
    verdicts,
)
from bench.runner import (
    Bench,
    Contender,
    RunResult,
    Scenario,
    add_noise_cores,
    closed_loop,
    open_loop,
    retried,
)
from bench.session import code_hash, default_in_flight, machine, session, versions
from bench.targets import run_targets
from testkit.processes import ROOT

QUICK = {"commands": 3_000, "cap_s": 5.0, "naive_cap_s": 5.0, "open_duration_s": 5.0}
FULL = {"commands": 20_000, "cap_s": 10.0, "naive_cap_s": 10.0, "open_duration_s": 10.0}
PROFILE_COMMANDS = 12_000
PROFILE_SECONDS = 8
DEFAULT_SWEEP = ",".join(map(str, inflight.DEFAULT_VALUES))


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="3,000 commands, 5 s caps, no sweep")
    p.add_argument(
        "--matrix",
        action="store_true",
        help="the older matrix (latencies x partitions x calls, naive as baseline) instead of "
        "issue 15's targets",
    )
    p.add_argument(
        "--no-guard",
        action="store_true",
        help="do not compare the ratios with the last committed report",
    )
    p.add_argument(
        "--no-two-processes", action="store_true", help="targets: skip the two-process run"
    )
    p.add_argument("--bootstrap", default="127.0.0.1:9092")
    p.add_argument("--commands", type=int, help="backlog size N (default 20,000; quick 3,000)")
    p.add_argument("--calls", default="1,10,100,1000", help="K values")
    p.add_argument("--latencies", default="0,50", help="simulator delays, ms")
    p.add_argument("--partitions", default="1,6")
    p.add_argument(
        "--cap-s",
        type=float,
        help="stop a closed-loop run this long after its first result (default 10; quick 5)",
    )
    p.add_argument("--naive-cap-s", type=float, help="the same cap for naive (default 10; quick 5)")
    p.add_argument(
        "--contenders",
        default="limit,naive,service,best",
        help="any of limit, naive, service, best (service at the sweep's best)",
    )
    p.add_argument(
        "--inflight",
        default=DEFAULT_SWEEP,
        help="sweep values; empty to skip the sweep",
    )
    p.add_argument("--best-inflight", type=int, help="use this as best instead of sweeping")
    p.add_argument(
        "--open-loads",
        default="0.1,0.5,0.7",
        help="shares of the closed-loop maximum (0.1 shows the latency of an idle pipeline)",
    )
    p.add_argument("--open-calls", type=int, default=1000)
    p.add_argument("--open-partitions", type=int, default=6)
    p.add_argument("--open-duration-s", type=float, help="default 10; quick 5")
    p.add_argument("--no-open", action="store_true", help="skip the open loop")
    p.add_argument("--no-log-cost", action="store_true", help="skip the service run at WARNING")
    p.add_argument(
        "--no-diagnose",
        action="store_true",
        help="skip service-memory (CALLCTL_IDEMPOTENCY__BACKEND=memory), which shows what the "
        "SQLite store costs",
    )
    p.add_argument(
        "--profile",
        choices=("auto", "always", "never"),
        default="auto",
        help="py-spy the service (auto: when a target is missed)",
    )
    p.add_argument("--sim-load-s", type=float, help="simulator capacity test length (5; quick 3)")
    p.add_argument("--sim-load-procs", type=int, default=1, help="simulator load processes")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    p.add_argument("--name", help="report name (default <date>, or <date>-quick)")
    p.add_argument(
        "--no-snapshot",
        action="store_true",
        help="run the checkout's code, not a copy taken at start",
    )
    add_noise_cores(p)
    p.add_argument("--retries", type=int, default=1, help="at most this many times")
    p.add_argument("--from-json", type=Path, help="only render the report of an earlier run")
    p.add_argument("--workdir", type=Path, help="logs and state (default a new temp dir)")
    args = p.parse_args(argv)
    base = QUICK if args.quick else FULL
    args.commands = args.commands or int(base["commands"])
    args.cap_s = args.cap_s or base["cap_s"]
    args.naive_cap_s = args.naive_cap_s or base["naive_cap_s"]
    args.open_duration_s = args.open_duration_s or base["open_duration_s"]
    args.sim_load_s = args.sim_load_s or (3.0 if args.quick else 5.0)
    if args.quick and not args.matrix and args.inflight == DEFAULT_SWEEP:
        args.inflight = ""  # the quick targets run has no sweep
    return args


class Clock:
    def __init__(self) -> None:
        self.start = time.monotonic()

    def __call__(self, text: str) -> None:
        elapsed = int(time.monotonic() - self.start)
        print(f"[{elapsed // 60:02d}:{elapsed % 60:02d}] {text}", flush=True)


def describe(run: RunResult) -> str:
    cpu = "n/a" if run.cpu_per_1000 is None else f"{run.cpu_per_1000:.2f}"
    rss = "n/a" if run.peak_rss_mib is None else f"{run.peak_rss_mib:.0f}"
    other = "n/a" if run.foreign_cores is None else f"{run.foreign_cores:.2f}"
    if run.mode == "open":
        state = "all answered" if run.drained else "NOT all answered"
        text = (
            f"{run.scenario.label} {run.contender} open loop {run.load_share or 0:.0%}: "
            f"{run.rate or 0:,.0f} cmd/s offered, {run.achieved or 0:,.0f} achieved, "
            f"p50/p95/p99 {run.p50 or 0:.0f}/{run.p95 or 0:.0f}/{run.p99 or 0:.0f} ms"
        )
        if run.handler_p99 is not None:
            text += f" (in-handler p99 {run.handler_p99:.0f} ms)"
        text += f", CPU {cpu} s/1000, {run.results:,}/{run.expected:,} {state}"
    else:
        state = "drained" if run.drained else "capped"
        text = (
            f"{run.scenario.label} {run.contender}: {run.throughput:,.0f} cmd/s, "
            f"CPU {cpu} s/1000, RSS {rss} MiB, {run.results:,}/{run.expected:,} {state}"
        )
    text += f", other load {other} cores"
    if run.errors:
        text += f", not succeeded: {run.errors}"
    if run.note:
        text += f" [{run.note}]"
    return text


async def simulator_capacity(bench: Bench, seconds: float, processes: int) -> dict[str, Any]:
    """`processes` load processes at once (one Python client cannot keep the server busy)."""
    await bench.prepare_simulator(0)
    before = cpu_seconds(bench.simulator.pid) or 0.0
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.simload",
            "--url",
            bench.simulator.url,
            "--duration",
            str(seconds),
            "--concurrency",
            "64",
            cwd=bench.code,
            stdout=asyncio.subprocess.PIPE,
        )
        for _ in range(processes)
    ]
    outputs = await asyncio.gather(*(p.communicate() for p in procs))
    used = (cpu_seconds(bench.simulator.pid) or 0.0) - before
    parts = [json.loads(out.decode().strip().splitlines()[-1]) for out, _ in outputs]
    seconds_run = max(float(p["seconds"]) for p in parts)
    result: dict[str, Any] = {
        "processes": processes,
        "ok": sum(int(p["ok"]) for p in parts),
        "errors": sum(int(p["errors"]) for p in parts),
        "seconds": seconds_run,
        "requestsPerSecond": sum(float(p["requestsPerSecond"]) for p in parts),
    }
    total = result["ok"] + result["errors"]
    result["simCores"] = used / seconds_run
    result["simCpuPer1000"] = used / total * 1000 if total else None
    result["perCore"] = 1000 / result["simCpuPer1000"] if result["simCpuPer1000"] else None
    return result


def contenders_for(
    args: argparse.Namespace, scenario: Scenario, default: int, best: int | None, log_cost: bool
) -> list[Contender]:
    wanted = set(args.contenders.split(","))
    out: list[Contender] = []
    if "limit" in wanted and scenario.latency_ms == 0:
        out.append(Contender("limit", "limit"))  # no HTTP: the same at every latency
    if "naive" in wanted:
        out.append(Contender("naive", "naive"))
    if "service" in wanted:
        out.append(Contender("service", "service"))
    # At K <= min(default, best) both settings allow the same concurrency: K.
    if (
        "best" in wanted
        and best is not None
        and best != default
        and scenario.calls > min(default, best)
    ):
        out.append(Contender(f"service@{best}", "service", max_in_flight=best))
    if log_cost:
        out.append(Contender("service-warning", "service", log_level="WARNING"))
        if not args.no_diagnose:
            out.append(MEMORY_STORE)
    return out


async def run_all(args: argparse.Namespace, report: Report, say: Clock) -> None:
    latencies, partitions, calls = _ints(args.latencies), _ints(args.partitions), _ints(args.calls)
    async with session(args.bootstrap, args.workdir, use_checkout=args.no_snapshot) as bench:
        say(f"work directory (logs, state): {bench.workdir}; simulator {bench.simulator.url}")
        report.run_id = bench.run_id
        report.settings["work directory"] = str(bench.workdir)
        bench.noise_cores, bench.retries = args.noise_cores, args.retries
        spy = profiling.keep_copy(bench.workdir)
        if spy is not None:
            bench.extras["py-spy"] = spy
        report.versions["service source digest"] = (
            f"{code_hash(bench.code)} (sha256 of service/**/*.py, "
            f"{'the checkout' if args.no_snapshot else 'snapshot taken at start'})"
        )
        report.simulator = await simulator_capacity(bench, args.sim_load_s, args.sim_load_procs)
        say(
            f"simulator alone: {report.simulator['requestsPerSecond']:,.0f} req/s, "
            f"{report.simulator['simCores']:.2f} cores"
        )

        if not args.matrix:
            await run_issue_targets(args, bench, report, say)
            return

        values = tuple(_ints(args.inflight))
        if args.best_inflight is not None:
            report.best_in_flight = args.best_inflight
        elif values:
            say(f"in-flight sweep {values}, 50 ms, K=1000, {max(partitions)} partitions")
            report.sweep = await inflight.sweep(
                bench,
                values,
                commands=args.commands,
                cap_s=args.cap_s,
                partitions=max(partitions),
            )
            report.best_in_flight = report.sweep.best
            say(f"best in-flight {report.sweep.best}, knee {report.sweep.knee}")
            await bench.drop_topics()

        for latency in latencies:
            for parts in partitions:
                for k in calls:
                    scenario = Scenario(latency, parts, k)
                    log_cost = (
                        not args.no_log_cost
                        and latency == min(latencies)
                        and parts == max(partitions)
                        and k == max(calls)
                    )
                    topic = await bench.backlog(scenario, args.commands)
                    for contender in contenders_for(
                        args, scenario, report.default_in_flight, report.best_in_flight, log_cost
                    ):
                        cap = args.naive_cap_s if contender.kind == "naive" else args.cap_s
                        run = await retried(
                            bench,
                            partial(
                                closed_loop, bench, contender, scenario, topic, args.commands, cap
                            ),
                        )
                        report.closed.append(run)
                        say(describe(run))
                    await bench.drop_topics()

        if not args.no_open:
            await run_open(args, bench, report, say)

        missed = any(not v.passed for v in verdicts(report))
        if args.profile == "always" or (args.profile == "auto" and missed):
            await run_profile(args, bench, report, say, max(partitions), max(calls))


async def run_issue_targets(
    args: argparse.Namespace, bench: Bench, report: Report, say: Clock
) -> None:
    """Issue 15's targets (bench/targets.py), then the in-flight sweep unless skipped."""
    report.suite = "targets"

    async def backlog(scenario: Scenario) -> str:
        return await bench.backlog(scenario, args.commands)

    async def closed(contender: Contender, scenario: Scenario, topic: str) -> RunResult:
        run = await retried(
            bench,
            partial(closed_loop, bench, contender, scenario, topic, args.commands, args.cap_s),
        )
        say(describe(run))
        return run

    async def opened(
        contender: Contender, scenario: Scenario, rate: float, share: float
    ) -> RunResult:
        run = await retried(
            bench, partial(open_loop, bench, contender, scenario, rate, args.open_duration_s)
        )
        run.load_share = share
        say(describe(run))
        return run

    report.closed, report.open = await run_targets(
        backlog=backlog,
        closed=closed,
        open_loop=opened,
        drop=bench.drop_topics,
        run_id=bench.run_id,
        default_in_flight=report.default_in_flight,
        open_shares=tuple(_floats(args.open_loads)),
        two_processes=not args.no_two_processes,
        diagnose=not args.no_diagnose,
    )
    missed = any(not v.passed for v in verdicts(report))
    if args.profile == "always" or (args.profile == "auto" and missed):
        await run_profile(args, bench, report, say, 6, 1000)
    values = tuple(_ints(args.inflight))
    if values:
        say(f"in-flight sweep {values}, 50 ms, K=1000, 6 partitions")
        report.sweep = await inflight.sweep(
            bench, values, commands=args.commands, cap_s=args.cap_s, partitions=6
        )
        report.best_in_flight = report.sweep.best
        await bench.drop_topics()


MEMORY_STORE = Contender(
    "service-memory", "service", env=(("CALLCTL_IDEMPOTENCY__BACKEND", "memory"),)
)


async def run_open(args: argparse.Namespace, bench: Bench, report: Report, say: Clock) -> None:
    for latency in _ints(args.latencies):
        scenario = Scenario(latency, args.open_partitions, args.open_calls)
        # (contender, the closed-loop run whose maximum sets its rates)
        plan = [(Contender(n, n), n) for n in ("limit", "naive", "service")]
        if report.best_in_flight not in (None, report.default_in_flight):
            best = report.best_in_flight
            plan.append(
                (Contender(f"service@{best}", "service", max_in_flight=best), f"service@{best}")
            )
        if not args.no_diagnose:
            plan.append((MEMORY_STORE, "service"))
        for contender, basis in plan:
            closed = next(
                (r for r in report.closed if r.scenario == scenario and r.contender == basis), None
            )
            if closed is None or not closed.throughput:
                continue
            for share in _floats(args.open_loads):
                rate = max(1.0, share * closed.throughput)
                run = await retried(
                    bench,
                    partial(open_loop, bench, contender, scenario, rate, args.open_duration_s),
                )
                run.load_share = share
                report.open.append(run)
                say(describe(run))
            await bench.drop_topics()


async def run_profile(
    args: argparse.Namespace, bench: Bench, report: Report, say: Clock, parts: int, calls: int
) -> None:
    spy = bench.extras.get("py-spy")
    if spy is None:
        report.notes.append("py-spy is not installed: no profile (uv pip install py-spy).")
        return
    scenario = Scenario(0, parts, calls)
    n = max(args.commands, PROFILE_COMMANDS)
    topic = await bench.backlog(scenario, n)
    raw = bench.workdir / "service-profile.txt"
    tasks: list[asyncio.Task[int | None]] = []

    def start(pid: int) -> asyncio.Task[int | None]:
        task = asyncio.create_task(profiling.record(spy, pid, raw, PROFILE_SECONDS))
        tasks.append(task)
        return task

    say(f"profiling the service with py-spy ({scenario.label}, {PROFILE_SECONDS} s)")
    run = await closed_loop(
        bench,
        Contender("service", "service"),
        scenario,
        topic,
        n,
        PROFILE_SECONDS + 2,
        profile=start,
    )
    await bench.drop_topics()
    exists = await asyncio.to_thread(raw.exists)
    if not tasks or not exists:
        report.notes.append("py-spy produced no profile (permissions?).")
        return
    found = profiling.summarise(raw)
    report.profile = [
        f"py-spy record --nonblocking --rate 100 --format raw, {PROFILE_SECONDS} s of a closed-"
        f"loop drain at {scenario.label} with the default settings ({run.throughput:,.0f} "
        f"cmd/s while sampled, not part of the tables above). Raw stacks: `{raw}`.",
        "",
        *profiling.lines(found),
    ]
    say(
        f"profile: {found.samples} samples; top library by self time: "
        f"{found.self_by_package.most_common(3)}"
    )


def add_notes(report: Report, args: argparse.Namespace) -> None:
    capped = sorted({f"{r.contender} ({r.scenario.label})" for r in report.closed if not r.drained})
    if capped:
        report.notes.append(
            f"Capped runs (stopped {args.cap_s:g} s after the first result, naive "
            f"{args.naive_cap_s:g} s; their rate is from the results they made, so the ratios "
            f"still hold): {', '.join(capped)}."
        )
    again = [r for r in [*report.closed, *report.open] if r.retries]
    if again:
        report.notes.append(
            f"{len(again)} runs were measured again because other processes used more than "
            f"{args.noise_cores:g} cores during them (the quieter run is kept)."
        )
    others = [r.foreign_cores for r in [*report.closed, *report.open] if r.foreign_cores]
    if others:
        mean = sum(others) / len(others)
        report.notes.append(
            f"Other load on the machine (CPU used by processes outside this bench, averaged "
            f"over runs): {mean:.2f} of {report.machine['nproc']} cores, max {max(others):.2f}. "
            "Runs with a high value in the 'other load' column are less trustworthy."
        )
    report.notes.append(
        "limit runs only at 0 ms (it makes no HTTP request, so the delay does not apply); "
        "its rate is this broker's capacity for a Python consume-produce-commit loop."
    )


def write(report: Report, args: argparse.Namespace, name: str, can_plot: bool) -> Path:
    args.out.mkdir(parents=True, exist_ok=True)
    plots: dict[str, str] = {}
    if not can_plot:
        report.notes.append(
            "matplotlib is not installed: no plots (uv add --group dev matplotlib)."
        )
    else:
        stamp = f"call-control bench {name}, run {report.run_id or 'n/a'}, {report.date}"
        if report.sweep is not None:
            plot_inflight(report.sweep, args.out / f"{name}-inflight.png", stamp)
            plots["inflight"] = f"{name}-inflight.png"
        if report.open:
            plot_latency(report.open, args.out / f"{name}-latency.png", stamp)
            plots["latency"] = f"{name}-latency.png"
        if report.closed and report.suite == "targets":
            plot_throughput(report.closed, args.out / f"{name}-throughput.png", stamp)
            plots["throughput"] = f"{name}-throughput.png"
    path: Path = args.out / f"{name}.md"
    # Analysis written by a person after the run survives re-rendering (--from-json).
    findings = args.out / f"{name}-findings.md"
    path.write_text(markdown(report, plots, findings.read_text() if findings.exists() else ""))
    (args.out / f"{name}.json").write_text(json.dumps(to_json(report), indent=1) + "\n")
    return path


def rerender(source: Path, args: argparse.Namespace) -> None:
    """Report and plots again from a run's JSON (no measuring)."""
    report = from_json(json.loads(source.read_text()))
    path = write(report, args, source.stem, plotting())
    print("\n".join(summary(report)))
    print(f"\nreport: {path}")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.from_json is not None:
        rerender(args.from_json, args)
        return
    can_plot = plotting()
    say = Clock()
    today = dt.date.today().isoformat()
    name = args.name or (f"{today}-quick" if args.quick else today)
    words = sys.argv[1:] if argv is None else argv
    report = Report(
        title=f"call-control benchmark {name}",
        date=today,
        command_line="uv run --frozen python -m bench "
        + shlex.join(words)
        + ("   (= make bench)" if not words else ""),
        duration_s=0.0,
        machine=machine(),
        versions=versions(),
        settings={
            guard.BACKLOG: args.commands,
            "calls (K)": args.calls,
            "simulator latency, ms": args.latencies,
            "partitions": args.partitions,
            "closed-loop cap, s (naive)": f"{args.cap_s:g} ({args.naive_cap_s:g})",
            "open loop": f"{args.open_loads} of each maximum, {args.open_duration_s:g} s, "
            f"K={args.open_calls}, {args.open_partitions} partitions",
        },
        default_in_flight=default_in_flight(),
        best_in_flight=None,
    )
    say(
        f"bench {name}: N={args.commands}, K={args.calls}, latencies {args.latencies} ms, "
        f"partitions {args.partitions}"
    )
    asyncio.run(run_all(args, report, say))
    report.duration_s = time.monotonic() - say.start
    add_notes(report, args)
    path = write(report, args, name, can_plot)
    print()
    print("\n".join(summary(report)))
    print(f"\nreport: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    say("done")
    if report.suite == "targets" and not args.no_guard and not check_ratios(report, path):
        sys.exit(1)


def check_ratios(report: Report, written: Path) -> bool:
    """Print the ratios beside the last committed report's; False on a regression."""
    results = ROOT / "bench" / "results"  # the committed reports, wherever this one went
    found = guard.baseline(
        results, exclude=written.with_suffix(".json"), backlog=report.settings.get(guard.BACKLOG)
    )
    if found is None:
        print(f"\nno committed report with ratios under {results}: nothing to compare")
        return True
    base, before = found
    compared = guard.compare(report.ratios, before)
    print()
    label = str(base.relative_to(ROOT))
    if base == written.with_suffix(".json"):
        label += " as last committed"
    print("\n".join(guard.lines(compared, label)))
    bad = guard.regressions(compared)
    if bad:
        print(f"\nREGRESSION: {', '.join(c.name for c in bad)}")
    return not bad


if __name__ == "__main__":
    main()
