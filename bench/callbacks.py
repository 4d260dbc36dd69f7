"""Signed Sinch callbacks through the service to the events topic, at a fixed rate.

    make bench-callbacks                                  200/s for 30 s, SQLite then Redis
    uv run python -m bench.callbacks --rate 400 --seconds 10 --backends sqlite --profile

`python -m service` runs as its own process per idempotency backend (INFO logs to a file,
callbacks on, fresh topics); the Go client (`bench/callbacks_load.py`) posts callbacks
open-loop: callback `i` is due at `start + i / rate` whatever happened to the others, and its
answer time counts from that due time, so neither a slow answer nor a late client hides
latency (no coordinated omission). Each call gets ICE, ACE and DiCE (answered park, continue,
empty), signed just before sending. The service answers only after Kafka acknowledges the
event, so the answer time includes the acknowledgement. Afterwards the events topic is
counted: every 200 must be exactly one event. The client is first measured alone against a
trivial server at the same rate. `--profile` samples the service with py-spy. `--compare DIR`
alternates another checkout's service (e.g. `git archive main | tar -x -C DIR`) with this one's,
round after round, for a before/after on the same moments of a shared machine.

Writes bench/results/<date>-callbacks.md and .json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from bench import callbacks_load, profiling
from bench.callbacks_load import LoadRun
from bench.common import cpu_seconds, percentile
from testkit.kafka import TopicCounter, delete_topics
from testkit.processes import ROOT, SIM_KEY, SIM_SECRET

RESULTS = ROOT / "bench" / "results"
PATH = "/sinch/callbacks"
# Sinch's v1 docs give no figure ("within the timeout period"); Voice API 2.0 documents a
# 5-second webhook response timeout (docs/callbacks.md cites both).
SINCH_ALLOWS_MS = 5_000.0
TARGET_P99_MS = 100.0


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Report:
    backend: str
    date: str
    rate: float
    seconds: float
    sent: int
    answered_200: int
    other_statuses: dict[str, int]
    events: int
    achieved_rate: float
    answer_ms: dict[str, float]  # from each request's due time: what the target is about
    answer_from_send_ms: dict[str, float]
    late_start_ms: dict[str, float]
    service_cpu_s: float | None
    client_cpu_s: float
    load_average_before: tuple[float, float, float]
    load_average: tuple[float, float, float]
    cores: int
    sinch_allows_ms: float
    target_p99_ms: float
    verdict: str


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50": round(percentile(ordered, 50), 2),
        "p95": round(percentile(ordered, 95), 2),
        "p99": round(percentile(ordered, 99), 2),
        "max": round(ordered[-1], 2) if ordered else float("nan"),
    }


async def wait_ready(url: str, process: asyncio.subprocess.Process, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise RuntimeError(f"the service exited with {process.returncode}")
            try:
                async with session.get(url) as reply:
                    if reply.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError("the service was not ready within 60 s")


def service_env(
    run: str, workdir: Path, backend: str, redis_url: str, bootstrap: str
) -> dict[str, str]:
    return {
        **os.environ,
        "CALLCTL_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "CALLCTL_KAFKA__CREATE_TOPICS": "true",
        "CALLCTL_KAFKA__GROUP_ID": run,
        "CALLCTL_TOPICS__COMMANDS": f"{run}.commands",
        "CALLCTL_TOPICS__RESULTS": f"{run}.results",
        "CALLCTL_TOPICS__SNAPSHOTS": f"{run}.snapshots",
        "CALLCTL_TOPICS__DEAD_LETTER": f"{run}.dead-letter",
        "CALLCTL_TOPICS__EVENTS": f"{run}.events",
        "CALLCTL_SINCH__BASE_URL": "http://127.0.0.1:9",  # no commands in this bench
        "CALLCTL_SINCH__APPLICATION_KEY": SIM_KEY,
        "CALLCTL_SINCH__APPLICATION_SECRET": SIM_SECRET,
        "CALLCTL_IDEMPOTENCY__BACKEND": backend,
        "CALLCTL_IDEMPOTENCY__SQLITE_PATH": str(workdir / "idempotency.sqlite3"),
        "CALLCTL_IDEMPOTENCY__REDIS_URL": redis_url,
        "CALLCTL_IDEMPOTENCY__KEY_PREFIX": f"{run}:",
        "CALLCTL_CALLBACKS__ENABLED": "true",
        "CALLCTL_CALLBACKS__HOST": "127.0.0.1",
        "CALLCTL_LOG_FORMAT": "json",
    }


async def measure(
    exe: Path,
    args: argparse.Namespace,
    backend: str,
    profile_to: Path | None,
    service_dir: Path = ROOT,
) -> Report:
    run = f"cbbench-{uuid.uuid4().hex[:8]}"
    workdir = Path(tempfile.mkdtemp(prefix="callbacks-bench-"))
    http_port, callback_port = free_port(), free_port()
    env = service_env(run, workdir, backend, args.redis_url, args.bootstrap)
    env |= {"CALLCTL_HTTP_PORT": str(http_port), "CALLCTL_CALLBACKS__PORT": str(callback_port)}
    with (workdir / "service.log").open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "service", cwd=service_dir, env=env, stdout=log, stderr=log
        )
        try:
            await wait_ready(f"http://127.0.0.1:{http_port}/readyz", process)
            # A few callbacks first: connections, the producer's first batch, the first claims.
            url = f"http://127.0.0.1:{callback_port}{PATH}"
            await callbacks_load.drive(exe, url, 50, 1, f"{run}-warm")
            async with TopicCounter(args.bootstrap, f"{run}.events") as counter:
                warm_events = await counter.count()
            load_before = os.getloadavg()
            cpu_before = cpu_seconds(process.pid)
            profiling_task = None
            if profile_to is not None and (spy := profiling.keep_copy(workdir)) is not None:
                profiling_task = asyncio.create_task(
                    profiling.record(spy, process.pid, profile_to, args.seconds)
                )
            load = await callbacks_load.drive(exe, url, args.rate, args.seconds, run)
            cpu_after = cpu_seconds(process.pid)
            if profiling_task is not None:
                await profiling_task
            async with TopicCounter(args.bootstrap, f"{run}.events") as counter:
                events = await counter.count() - warm_events
        finally:
            process.terminate()
            await asyncio.wait_for(process.wait(), 30)
            # A shared development broker slows down with every topic it keeps.
            suffixes = ("commands", "results", "snapshots", "dead-letter", "events")
            await delete_topics(args.bootstrap, [f"{run}.{s}" for s in suffixes])
    ok = [a for a in load.answers if a.status == 200]
    others: dict[str, int] = {}
    for a in load.answers:
        if a.status != 200:
            others[str(a.status or "no answer")] = others.get(str(a.status or "no answer"), 0) + 1
    answer = summary([a.from_due_ms for a in ok])
    verdict = (
        "met" if answer["p99"] <= TARGET_P99_MS and not others and events == len(ok) else "missed"
    )
    return Report(
        backend=backend,
        date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        rate=args.rate,
        seconds=args.seconds,
        sent=load.sent,
        answered_200=len(ok),
        other_statuses=others,
        events=events,
        achieved_rate=load.achieved_rate,
        answer_ms=answer,
        answer_from_send_ms=summary([a.from_send_ms for a in ok]),
        late_start_ms=summary([a.late_ms for a in load.answers]),
        service_cpu_s=(
            round(cpu_after - cpu_before, 2)
            if cpu_after is not None and cpu_before is not None
            else None
        ),
        client_cpu_s=round(load.cpu_seconds, 2),
        load_average_before=load_before,
        load_average=os.getloadavg(),
        cores=os.cpu_count() or 0,
        sinch_allows_ms=SINCH_ALLOWS_MS,
        target_p99_ms=TARGET_P99_MS,
        verdict=verdict,
    )


HEADER = (
    "| store | sent at rate | 200 | other | events (one per 200) | answer p50 | p95 | p99 | max "
    "| Sinch allows | target p99 | from send p99 | late p99 | service CPU | load before/after |\n"
    + "|---" * 15
    + "|"
)


def _cells(values: dict[str, float]) -> str:
    return " | ".join(str(values[k]) for k in ("p50", "p95", "p99", "max"))


def render(
    reports: list[Report], client: LoadRun | None, kafka: dict[str, float] | None, command: str
) -> str:
    first = reports[0]
    rows = []
    for r in reports:
        one_each = "yes" if r.events == r.answered_200 else "NO"
        cpu = (
            f"{r.service_cpu_s} s ({r.service_cpu_s / r.seconds:.0%} of a core)"
            if r.service_cpu_s
            else "?"
        )
        rows.append(
            f"| {r.backend} | {r.sent} at {r.achieved_rate}/s | {r.answered_200} "
            f"| {r.other_statuses or '-'} | {r.events} ({one_each}) | {_cells(r.answer_ms)} "
            f"| {r.sinch_allows_ms:g} | {r.target_p99_ms:g}: **{r.verdict}** "
            f"| {r.answer_from_send_ms['p99']} | {r.late_start_ms['p99']} | {cpu} "
            f"| {r.load_average_before[0]:.1f} / {r.load_average[0]:.1f} |"
        )
    table = "\n".join(rows)
    alone = ""
    if client is not None:
        answers = summary([a.from_due_ms for a in client.answers])
        failed = sum(1 for a in client.answers if a.status != 200)
        alone = (
            "\nThe client alone, against its own trivial server (answers 200 at once), at the "
            f"same rate: {client.sent} sent at {client.achieved_rate}/s, {failed} not 200, "
            f"answer from due p50/p95/p99/max {_cells(answers).replace(' | ', '/')} ms, "
            f"{client.cpu_seconds:.2f} CPU s ({client.cpu_seconds / client.seconds:.0%} of a "
            "core): what the client adds to every figure above.\n"
        )
    if kafka is not None:
        alone += (
            "\nKafka alone, at the same rate (an idempotent producer set like the service's, no "
            "service in between): acknowledgement p50/p95/p99/max "
            f"{_cells(kafka).replace(' | ', '/')} ms from each event's due time: the floor "
            "under the service's answer time.\n"
        )
    return f"""# Callbacks benchmark, {first.date}

`{command}`: signed ICE, ACE and DiCE (one third each) posted open-loop by the Go client
(`bench/callbacksload`) to `python -m service` (INFO logs, callbacks on, one run per
idempotency backend) on this machine, with the local Kafka broker.

Answer time = from the request's due time on the fixed schedule to the response read, in ms
(so a late send counts against the service, no coordinated omission), Kafka's acknowledgement
of the event included (the service answers only after it), next to the time Sinch allows
for an answer (Voice API 2.0 documents 5 s; v1 names no figure).
Target: p99 <= {first.target_p99_ms:g} ms, every 200 exactly one event.
"From send" leaves the client's lag out; "late" is that lag.

{HEADER}
{table}
{alone}
Machine: {first.cores} cores; the 1-minute load average is given before and after each run.
The cores are shared with other work: a load near or above the core count starves the service
of CPU, and figures then describe the machine more than the service.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--bootstrap", default=os.environ.get("CALLCTL_TEST_KAFKA", "127.0.0.1:9092")
    )
    parser.add_argument("--rate", type=float, default=200.0, help="callbacks per second")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long to send")
    parser.add_argument("--out", type=Path, default=RESULTS, help="directory for the report")
    parser.add_argument(
        "--backends",
        default="sqlite,redis",
        help="idempotency backends to run, comma-separated (redis needs --redis-url)",
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("CALLCTL_TEST_REDIS", "redis://127.0.0.1:6379/15")
    )
    parser.add_argument(
        "--service-dir",
        type=Path,
        default=ROOT,
        help="run the service from this checkout (e.g. an export of main, for a before/after)",
    )
    parser.add_argument(
        "--compare",
        type=Path,
        help="a before/after: alternate this checkout's service with this one's, per backend",
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds of --compare")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="sample the service with py-spy during each run; adds a profile per backend",
    )
    args = parser.parse_args(argv)
    return asyncio.run(run_all(args, argv))


async def run_all(args: argparse.Namespace, argv: list[str] | None) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="callbacks-bench-"))
    exe = await callbacks_load.build(workdir)
    floor_s = min(args.seconds, 10.0)
    client = await callbacks_load.alone(exe, args.rate, floor_s)
    kafka = summary(await callbacks_load.kafka_alone(args.bootstrap, args.rate, floor_s))
    reports: list[Report] = []
    profiles: list[str] = []
    # With --compare, each backend alternates: the other checkout's service, then this one's,
    # round after round, so both meet the same moments of a shared machine.
    services = [(args.compare.name, args.compare), ("this", ROOT)] if args.compare else []
    for round_ in range(args.rounds if args.compare else 1):
        for backend in args.backends.split(","):
            for name, directory in services:
                report = await measure(exe, args, backend, None, directory)
                report.backend = f"{backend} ({name}, round {round_ + 1})"
                reports.append(report)
    for backend in [] if args.compare else args.backends.split(","):
        raw = workdir / f"{backend}.profile" if args.profile else None
        reports.append(await measure(exe, args, backend, raw, args.service_dir))
        if raw is not None and raw.exists():
            profiles += [
                "",
                f"## Profile: {backend}",
                "",
                *profiling.lines(profiling.summarise(raw)),
            ]
    command = "uv run python -m bench.callbacks " + " ".join(sys.argv[1:] if argv is None else argv)
    stem = (
        datetime.now(UTC).strftime("%Y-%m-%d") + "-callbacks" + ("-compare" if args.compare else "")
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{stem}.json").write_text(
        json.dumps(
            {
                "client_alone": client_summary(client),
                "kafka_alone_ack_ms": kafka,
                "runs": [asdict(r) for r in reports],
            },
            indent=2,
        )
        + "\n"
    )
    text = render(reports, client, kafka, command.strip()) + "\n".join(profiles)
    (args.out / f"{stem}.md").write_text(text)
    print(text)
    return 0 if all(r.verdict == "met" for r in reports) else 1


def client_summary(client: LoadRun) -> dict[str, object]:
    return {
        "sent": client.sent,
        "achieved_rate": client.achieved_rate,
        "not_200": sum(1 for a in client.answers if a.status != 200),
        "answer_ms": summary([a.from_due_ms for a in client.answers]),
        "late_start_ms": summary([a.late_ms for a in client.answers]),
        "cpu_s": round(client.cpu_seconds, 2),
    }


if __name__ == "__main__":
    sys.exit(main())
