"""Signed Sinch callbacks through the service to the events topic, at a fixed rate.

    uv run python -m bench.callbacks                      200 callbacks/s for 30 s
    uv run python -m bench.callbacks --rate 400 --seconds 10

`python -m service` runs as its own process (SQLite idempotency store, INFO logs to a file,
callbacks on, fresh topics); this process is an open-loop client: callback `i` is due at
`start + i / rate` whatever happened to the others, so a slow answer cannot slow the load down
(no coordinated omission). Each call gets ICE, ACE and DiCE (answered park, continue, empty),
signed with the simulator's signing code. The answer time is request sent to response read,
the Kafka acknowledgement of the event included (the service answers only after it); "late
start" is how far behind its due time a request was sent (this client's own lag). Afterwards
the events topic is counted: every 200 must be exactly one event.

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
from typing import Any

import aiohttp

from bench.common import cpu_seconds, percentile
from simulator.auth import decode_secret, signature
from testkit.kafka import TopicCounter
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


def callback(index: int, run: str) -> dict[str, Any]:
    call = f"{run}-{index // 3}"
    kind = ("ice", "ace", "dice")[index % 3]
    body: dict[str, Any] = {
        "event": kind,
        "callid": call,
        "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "version": 1,
        "applicationKey": SIM_KEY,
    }
    if kind == "ice":
        body |= {
            "callResourceUrl": f"https://calling-euc1.api.sinch.com/calling/v1/calls/id/{call}",
            "cli": "+46700000001",
            "to": {"type": "number", "endpoint": "+46700000010"},
            "domain": "pstn",
        }
    elif kind == "dice":
        body |= {"result": "ANSWERED", "reason": "CALLERHANGUP", "duration": 12}
    return body


def signed(body: bytes, secret: bytes) -> dict[str, str]:
    stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    sig = signature(secret, "POST", body, "application/json", stamp, PATH)
    return {
        "Content-Type": "application/json",
        "x-timestamp": stamp,
        "Authorization": f"Application {SIM_KEY}:{sig}",
    }


@dataclass
class Outcome:
    status: int | None
    answer_ms: float
    late_ms: float


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
    answer_ms: dict[str, float]
    late_start_ms: dict[str, float]
    service_cpu_s: float | None
    load_average: tuple[float, float, float]
    cores: int
    sinch_allows_ms: float
    target_p99_ms: float
    verdict: str


async def drive(url: str, rate: float, seconds: float, run: str) -> tuple[list[Outcome], float]:
    secret = decode_secret(SIM_SECRET)
    total = int(rate * seconds)
    outcomes: list[Outcome] = []
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=SINCH_ALLOWS_MS / 1000)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one(index: int, due: float) -> None:
            body = json.dumps(callback(index, run), separators=(",", ":")).encode()
            started = time.perf_counter()
            status: int | None = None
            try:
                async with session.post(url, data=body, headers=signed(body, secret)) as reply:
                    await reply.read()
                    status = reply.status
            except (aiohttp.ClientError, TimeoutError):
                status = None
            done = time.perf_counter()
            outcomes.append(Outcome(status, (done - started) * 1000, (started - due) * 1000))

        tasks = []
        start = time.perf_counter() + 0.2
        for index in range(total):
            due = start + index / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(index, due)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
    return outcomes, elapsed


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


async def measure(
    bootstrap: str, rate: float, seconds: float, backend: str, redis_url: str
) -> Report:
    run = f"cbbench-{uuid.uuid4().hex[:8]}"
    workdir = Path(tempfile.mkdtemp(prefix="callbacks-bench-"))
    http_port, callback_port = free_port(), free_port()
    events_topic = f"{run}.events"
    env = {
        **os.environ,
        "CALLCTL_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "CALLCTL_KAFKA__CREATE_TOPICS": "true",
        "CALLCTL_KAFKA__GROUP_ID": run,
        "CALLCTL_TOPICS__COMMANDS": f"{run}.commands",
        "CALLCTL_TOPICS__RESULTS": f"{run}.results",
        "CALLCTL_TOPICS__SNAPSHOTS": f"{run}.snapshots",
        "CALLCTL_TOPICS__DEAD_LETTER": f"{run}.dead-letter",
        "CALLCTL_TOPICS__EVENTS": events_topic,
        "CALLCTL_SINCH__BASE_URL": "http://127.0.0.1:9",  # no commands in this bench
        "CALLCTL_SINCH__APPLICATION_KEY": SIM_KEY,
        "CALLCTL_SINCH__APPLICATION_SECRET": SIM_SECRET,
        "CALLCTL_IDEMPOTENCY__BACKEND": backend,
        "CALLCTL_IDEMPOTENCY__SQLITE_PATH": str(workdir / "idempotency.sqlite3"),
        "CALLCTL_IDEMPOTENCY__REDIS_URL": redis_url,
        "CALLCTL_IDEMPOTENCY__KEY_PREFIX": f"{run}:",
        "CALLCTL_HTTP_PORT": str(http_port),
        "CALLCTL_CALLBACKS__ENABLED": "true",
        "CALLCTL_CALLBACKS__HOST": "127.0.0.1",
        "CALLCTL_CALLBACKS__PORT": str(callback_port),
        "CALLCTL_LOG_FORMAT": "json",
    }
    with (workdir / "service.log").open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "service", cwd=ROOT, env=env, stdout=log, stderr=log
        )
        try:
            await wait_ready(f"http://127.0.0.1:{http_port}/readyz", process)
            cpu_before = cpu_seconds(process.pid)
            url = f"http://127.0.0.1:{callback_port}{PATH}"
            outcomes, elapsed = await drive(url, rate, seconds, run)
            cpu_after = cpu_seconds(process.pid)
            async with TopicCounter(bootstrap, events_topic) as counter:
                events = await counter.count()
        finally:
            process.terminate()
            await asyncio.wait_for(process.wait(), 30)
    ok = [o for o in outcomes if o.status == 200]
    others: dict[str, int] = {}
    for o in outcomes:
        if o.status != 200:
            others[str(o.status)] = others.get(str(o.status), 0) + 1
    answer = summary([o.answer_ms for o in ok])
    verdict = (
        "met" if answer["p99"] <= TARGET_P99_MS and not others and events == len(ok) else "missed"
    )
    return Report(
        backend=backend,
        date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        rate=rate,
        seconds=seconds,
        sent=len(outcomes),
        answered_200=len(ok),
        other_statuses=others,
        events=events,
        achieved_rate=round(len(outcomes) / elapsed, 1),
        answer_ms=answer,
        late_start_ms=summary([o.late_ms for o in outcomes]),
        service_cpu_s=(
            round(cpu_after - cpu_before, 2)
            if cpu_after is not None and cpu_before is not None
            else None
        ),
        load_average=os.getloadavg(),
        cores=os.cpu_count() or 0,
        sinch_allows_ms=SINCH_ALLOWS_MS,
        target_p99_ms=TARGET_P99_MS,
        verdict=verdict,
    )


HEADER = (
    "| store | sent | 200 | other | events (one per 200) | answer p50 | p95 | p99 | max "
    "| Sinch allows | target | late p50 | p95 | p99 | max | service CPU s |\n" + "|---" * 16 + "|"
)


def render(reports: list[Report]) -> str:
    first = reports[0]
    load = ", ".join(f"{x:.1f}" for x in first.load_average)

    def cells(values: dict[str, float]) -> str:
        return " | ".join(str(values[k]) for k in ("p50", "p95", "p99", "max"))

    rows = []
    for r in reports:
        one_each = "yes" if r.events == r.answered_200 else "NO"
        rows.append(
            f"| {r.backend} | {r.sent} at {r.achieved_rate}/s | {r.answered_200} "
            f"| {r.other_statuses or '-'} | {r.events} ({one_each}) | {cells(r.answer_ms)} "
            f"| {first.sinch_allows_ms:g} | **{r.verdict}** | {cells(r.late_start_ms)} "
            f"| {r.service_cpu_s} |"
        )
    table = "\n".join(rows)
    return f"""# Callbacks benchmark, {first.date}

`uv run python -m bench.callbacks --rate {first.rate:g} --seconds {first.seconds:g}`: signed
ICE, ACE and DiCE (one third each) posted open-loop to `python -m service` (INFO logs, callbacks
on, one run per idempotency backend) on this machine, with the local Kafka broker.

Answer time = request sent to response read, Kafka's acknowledgement of the event included, in
ms, next to the time Sinch allows for an answer (Voice API 2.0 documents 5 s; v1 names no
figure). Target: p99 <= {first.target_p99_ms:g} ms, every 200 one event. "Late start" is this
client's own lag behind the schedule; the service CPU is its user+system seconds for the run.

{HEADER}
{table}

Machine: {first.cores} cores, load average {load} (1, 5, 15 min) at the end of the first run.
The cores are shared with other work: figures vary from run to run, and a load above the core
count starves the service (and this client) of CPU.
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
    args = parser.parse_args(argv)
    reports = [
        asyncio.run(measure(args.bootstrap, args.rate, args.seconds, backend, args.redis_url))
        for backend in args.backends.split(",")
    ]
    stem = datetime.now(UTC).strftime("%Y-%m-%d") + "-callbacks"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{stem}.json").write_text(
        json.dumps([asdict(r) for r in reports], indent=2) + "\n"
    )
    text = render(reports)
    (args.out / f"{stem}.md").write_text(text)
    print(text)
    return 0 if all(r.verdict == "met" for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
