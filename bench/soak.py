"""`make soak` (not in CI): the service for a long while at a steady rate, with faults injected,
watching what must not grow.

    uv run --frozen python -m bench.soak                      # 30 min at 260 cmd/s
    uv run --frozen python -m bench.soak --minutes 4 --rate 150   # a short proof run

One service process (`python -m service`, defaults, SQLite store) reads commands produced
open-loop at `--rate` per second over a rotating set of calls (each call lives for
`--call-life-s`, then new ids take over, so lanes and per-call maps must be freed as calls go).
The default rate is half the measured maximum (520 cmd/s at 0 ms Sinch on this 2-core
machine, bench/results/2026-12-01.md). Sinch is the simulator behind Toxiproxy: every
`--fault-every-s` a fault (latency, connection resets, a black hole, a trickled body) is on
for `--fault-s`.

Sampled every `--sample-s`: the service's RSS (/proc), results published, and the engine's
gauges from /metrics (in flight, active lanes, buffered). At the end the load stops, the
backlog drains, and the report says: every command answered; lanes, buffer and in-flight back
to zero; RSS growth over the second half (MiB per 10 minutes, by least squares). Writes
bench/results/<date>-soak.{json,md,png}. The broker is `CALLCTL_TEST_KAFKA` (127.0.0.1:9092).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from testkit.kafka import TopicCounter, new_producer
from testkit.processes import SimulatorProcess, free_port
from testkit.service import ServiceProcess, service_env, unique_topics
from testkit.toxiproxy import Proxy, toxiproxy

RESULTS = Path(__file__).parent / "results"
GAUGES = ("callctl_in_flight", "callctl_active_lanes", "callctl_buffered")
TYPES = ("say", "playFiles", "sendDtmf", "unpark")


@dataclass
class Sample:
    t_s: float
    rss_mib: float
    produced: int
    results: int
    gauges: dict[str, float] = field(default_factory=dict)


def rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    return int(match.group(1)) / 1024 if match else float("nan")


def gauges(text: str) -> dict[str, float]:
    values: dict[str, float] = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in GAUGES:
            values[name] = float(value)
    return values


def command(call_id: str, index: int) -> dict[str, Any]:
    kind = TYPES[index % len(TYPES)]
    body: dict[str, Any] = {"commandId": uuid.uuid4().hex, "callId": call_id, "type": kind}
    if kind == "say":
        body |= {"text": "soak", "locale": "en-US"}
    elif kind == "playFiles":
        body |= {"ids": ["https://example.com/a.wav"]}
    elif kind == "sendDtmf":
        body |= {"value": "1"}
    elif kind == "unpark":
        body |= {"action": {"name": "connectPstn", "number": "+46700000010"}}
    return body


def slope_per_10_min(samples: list[Sample]) -> float:
    """Least-squares RSS growth, MiB per 10 minutes."""
    if len(samples) < 2:
        return 0.0
    xs = [s.t_s for s in samples]
    ys = [s.rss_mib for s in samples]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    if not var:
        return 0.0
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var * 600


async def produce_load(
    bootstrap: str, topic: str, rate: float, seconds: float, calls: int, call_life_s: float
) -> int:
    producer = new_producer(bootstrap)
    await producer.start()
    sent = 0
    started = time.monotonic()
    try:
        while (elapsed := time.monotonic() - started) < seconds:
            due = int(elapsed * rate)
            generation = int(elapsed // call_life_s)
            futures = []
            while sent < due:
                call_id = f"soak-{generation}-{sent % calls}"
                value = json.dumps(command(call_id, sent)).encode()
                futures.append(await producer.send(topic, value, key=call_id.encode()))
                sent += 1
            if futures:
                await asyncio.gather(*futures)
            await asyncio.sleep(0.02)
    finally:
        await producer.stop()
    return sent


async def faults(proxy: Proxy, every_s: float, fault_s: float) -> None:
    kinds: list[tuple[str, dict[str, Any]]] = [
        ("latency", {"latency": 300, "jitter": 100}),
        ("reset_peer", {"timeout": 100}),
        ("timeout", {"timeout": 0}),
        ("slicer", {"average_size": 8, "size_variation": 4, "delay": 20_000}),
    ]
    index = 0
    while True:
        await asyncio.sleep(every_s)
        kind, attributes = kinds[index % len(kinds)]
        index += 1
        toxic = proxy.add(kind, **attributes)
        try:
            await asyncio.sleep(fault_s)
        finally:
            proxy.remove(toxic)


async def soak(args: argparse.Namespace) -> dict[str, Any]:
    bootstrap = os.environ.get("CALLCTL_TEST_KAFKA", "127.0.0.1:9092")
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="callctl-soak-"))
    load_at_start = os.getloadavg()[0]
    simulator = SimulatorProcess(workdir, "--auto-create-calls")
    simulator.start()
    samples: list[Sample] = []
    try:
        await simulator.set_faults(latencyMs=args.latency_ms)
        with toxiproxy(workdir / "toxiproxy.log") as toxi:
            sinch = toxi.proxy("sinch", simulator.url.removeprefix("http://"))
            topics = unique_topics("soak")
            health = free_port()
            env = service_env(
                bootstrap=bootstrap,
                simulator_url=f"http://{sinch.address}",
                topics=topics,
                group=f"soak-{uuid.uuid4().hex[:6]}",
                state_dir=workdir,
                CALLCTL_KAFKA__CREATE_TOPICS="true",
                CALLCTL_KAFKA__TOPIC_PARTITIONS="6",
                CALLCTL_HTTP_PORT=str(health),
                CALLCTL_SINCH__READ_TIMEOUT_S="2",
                CALLCTL_SHUTDOWN_GRACE_S="10",
            )
            service = ServiceProcess("service", env, workdir)
            service.start()
            pid = service.pid
            assert pid is not None
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{health}") as http:
                for _ in range(600):
                    with contextlib.suppress(httpx.HTTPError):
                        if (await http.get("/readyz")).status_code == 200:
                            break
                    await asyncio.sleep(0.2)
                else:
                    raise RuntimeError(f"the service did not get ready: {service.logs()[-2000:]}")
                seconds = args.minutes * 60
                load = asyncio.create_task(
                    produce_load(
                        bootstrap,
                        topics.commands,
                        args.rate,
                        seconds,
                        args.calls,
                        args.call_life_s,
                    )
                )
                chaos = asyncio.create_task(faults(sinch, args.fault_every_s, args.fault_s))
                started = time.monotonic()
                async with TopicCounter(bootstrap, topics.results) as results:
                    while not load.done():
                        await asyncio.sleep(args.sample_s)
                        metrics = gauges((await http.get("/metrics")).text)
                        t = time.monotonic() - started
                        samples.append(
                            Sample(
                                t, rss_mib(pid), int(t * args.rate), await results.count(), metrics
                            )
                        )
                        print(
                            f"{t:7.0f}s rss {samples[-1].rss_mib:6.1f} MiB results "
                            f"{samples[-1].results:8d} {metrics}",
                            flush=True,
                        )
                    produced = await load
                    chaos.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await chaos
                    sinch.clear()
                    drain_deadline = time.monotonic() + 300
                    while time.monotonic() < drain_deadline:  # polling a topic: no event
                        if await results.count() >= produced:
                            break
                        await asyncio.sleep(1)
                    answered = await results.count()
                    await asyncio.sleep(2)
                    final = gauges((await http.get("/metrics")).text)
                    final_rss = rss_mib(pid)
            assert service.terminate() == 0, service.logs()[-3000:]
    finally:
        simulator.stop()
    second_half = [s for s in samples if s.t_s >= samples[-1].t_s / 2] if samples else []
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "minutes": args.minutes,
        "rate": args.rate,
        "simulator_latency_ms": args.latency_ms,
        "load_1min_at_start": load_at_start,
        "produced": produced,
        "results": answered,
        "final_gauges": final,
        "final_rss_mib": final_rss,
        "rss_growth_mib_per_10min_second_half": round(slope_per_10_min(second_half), 2),
        "samples": [asdict(s) for s in samples],
    }


def write_report(report: dict[str, Any], name: str) -> Path:
    RESULTS.mkdir(exist_ok=True)
    base = RESULTS / name
    base.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    samples = report["samples"]
    freed = all(v == 0 for v in report["final_gauges"].values())
    lines = [
        f"# Soak {report['date']}",
        "",
        f"- {report['minutes']} min at {report['rate']} cmd/s (simulator "
        f"{report['simulator_latency_ms']} ms), Sinch faults through Toxiproxy; "
        f"1-min load at start {report['load_1min_at_start']:.1f} (2 shared cores)",
        f"- commands produced {report['produced']}, results {report['results']}"
        f" ({'all answered' if report['results'] >= report['produced'] else 'NOT all answered'})",
        f"- after the drain: {report['final_gauges']} ({'freed' if freed else 'NOT freed'})",
        f"- RSS: first {samples[0]['rss_mib']:.1f} MiB, peak "
        f"{max(s['rss_mib'] for s in samples):.1f} MiB, final {report['final_rss_mib']:.1f} MiB;"
        f" growth over the second half {report['rss_growth_mib_per_10min_second_half']} MiB"
        " per 10 min (least squares)"
        if samples
        else "- no samples",
        "",
    ]
    with contextlib.suppress(ImportError):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
        ts = [s["t_s"] / 60 for s in samples]
        top.plot(ts, [s["rss_mib"] for s in samples])
        top.set_ylabel("RSS, MiB")
        top.set_ylim(bottom=0)
        for gauge in GAUGES:
            bottom.plot(ts, [s["gauges"].get(gauge, 0) for s in samples], label=gauge)
        bottom.set_xlabel("minutes")
        bottom.legend()
        fig.suptitle(f"soak: {report['rate']} cmd/s, Sinch faults")
        fig.savefig(base.with_name(base.name + ".png"), dpi=90)
        lines.append(f"![soak]({base.name}.png)")
    base.with_suffix(".md").write_text("\n".join(lines) + "\n")
    return base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--rate", type=float, default=260, help="commands per second")
    parser.add_argument("--calls", type=int, default=2000, help="calls alive at once")
    parser.add_argument("--call-life-s", type=float, default=60)
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--fault-every-s", type=float, default=30)
    parser.add_argument("--fault-s", type=float, default=5)
    parser.add_argument("--sample-s", type=float, default=5)
    parser.add_argument("--workdir", help="default: a new temporary directory")
    parser.add_argument("--name", default=f"{datetime.now(UTC):%Y-%m-%d}-soak")
    args = parser.parse_args()
    report = asyncio.run(soak(args))
    base = write_report(report, args.name)
    print(base.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
