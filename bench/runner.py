"""Running one contender against one load, and measuring it.

A run: fresh result topics (LogAppendTime), the simulator reset and set to the scenario's
latency, the contender started as its own process, then sampled every 50 ms (results so far,
from the result topic's end offsets, and CPU seconds of the contender, the broker, the
simulator, this process and the whole machine), stopped with SIGTERM, and its topics read back.

Closed loop: the contender drains a pre-produced backlog; throughput is (results - 1) over the
span of the result timestamps. Open loop: `bench.loadgen` produces at a fixed rate while the
contender runs; latency is result timestamp - command timestamp - the simulator's delay.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import os
import re
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import (
    commands,
    cpu_seconds,
    peak_rss_mib,
    percentile,
    system_cpu,
)
from bench.sinch_time import SinchTimes, match
from bench.stages import scrape_pages, scrape_stages
from service.settings import TopicSettings
from testkit.kafka import TopicCounter, create_topics, delete_topics, produce, read_topic
from testkit.processes import ROOT, Process, SimulatorProcess, clean_env, free_port
from testkit.service import ServiceProcess, service_env

SAMPLE_S = 0.05
STARTUP_TIMEOUT_S = 90.0
WARMUP_COMMANDS = 20
LOG_APPEND_TIME = {"message.timestamp.type": "LogAppendTime"}


NOISE_CORES = 0.3


def add_noise_cores(parser: argparse.ArgumentParser) -> None:
    """`--noise-cores`, the same for every bench that retries a disturbed run."""
    parser.add_argument(
        "--noise-cores",
        type=float,
        default=NOISE_CORES,
        help="measure a run again when other processes used more CPU than this (cores)",
    )


@dataclass(frozen=True, slots=True)
class Scenario:
    latency_ms: int
    partitions: int
    calls: int

    @property
    def label(self) -> str:
        return f"{self.latency_ms}ms/{self.partitions}p/K={self.calls}"


@dataclass(frozen=True, slots=True)
class Contender:
    name: str  # as reported: limit, naive, service, service@512, service-warn ...
    kind: str  # limit | floor | naive | service
    max_in_flight: int | None = None  # service: None = its default; floor: its concurrency
    replicas: int = 1  # service: processes in one consumer group
    log_level: str = "INFO"
    env: tuple[tuple[str, str], ...] = ()  # service: more settings (diagnostic variants)
    code: Path | None = None  # service: run this tree's code instead of the bench's snapshot


@dataclass(slots=True)
class Sample:
    t: float
    count: int
    cpu: float | None
    broker_cpu: float | None
    sim_cpu: float | None
    own_cpu: float
    extra_cpu: float  # load generator
    sys_busy: float
    rss_mib: float | None
    redis_cpu: float | None = None
    replica_cpu: list[float | None] = field(default_factory=list)


@dataclass(slots=True)
class RunResult:
    contender: str
    scenario: Scenario
    mode: str  # closed | open
    expected: int
    results: int = 0
    ok: int = 0
    drained: bool = False
    throughput: float = 0.0
    window_s: float = 0.0
    cpu_per_1000: float | None = None
    peak_rss_mib: float | None = None
    broker_cpu_per_1000: float | None = None
    sim_cpu_per_1000: float | None = None
    sim_cores: float | None = None
    contender_cores: float | None = None
    foreign_cores: float | None = None
    # where the machine's cores went while results arrived (the CPU budget of a run)
    replica_cores: list[float] = field(default_factory=list)
    broker_cores: float | None = None
    redis_cores: float | None = None
    harness_cores: float | None = None  # this process and the load generator
    busy_cores: float | None = None  # the whole machine, every process
    sim_requests: int | None = None
    errors: dict[str, int] = field(default_factory=dict)
    # open loop
    load_share: float | None = None  # offered rate as a share of the closed-loop maximum
    rate: float | None = None
    achieved: float | None = None
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    max_ms: float | None = None
    handler_p50: float | None = None  # service only: its durationMs (decode to result built)
    handler_p99: float | None = None
    # service only: per stage (callctl_command_stage_seconds), count, mean/p50/p99 in ms
    stages: dict[str, dict[str, float]] = field(default_factory=dict)
    # open loop: Sinch's time as the simulator measured it per command (bench.sinch_time), and
    # the added latency less that instead of the nominal delay (p50/p95/p99 above)
    sinch_p50: float | None = None
    sinch_p99: float | None = None
    less_sinch_p50: float | None = None
    less_sinch_p95: float | None = None
    less_sinch_p99: float | None = None
    sinch_unmatched: int = 0  # commands left out: their call's requests could not be paired
    loadgen_lag_p99_ms: float | None = None
    log_path: str = ""
    note: str = ""
    retries: int = 0  # measured again because other processes used the CPU

    @property
    def cores_besides_service(self) -> float:
        """Cores every other process took while results arrived (simulator, broker, Redis,
        harness, anything else): what the service's processes could not have."""
        others = (
            self.sim_cores,
            self.broker_cores,
            self.redis_cores,
            self.harness_cores,
            self.foreign_cores,
        )
        return sum(v or 0.0 for v in others)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# --- processes -------------------------------------------------------------------------


def redis_pid(port: int = 6379) -> int | None:
    """The pid of the local Redis server on `port` (the Redis contenders' store: its CPU is
    part of their budget), found by its command line, which Redis rewrites to
    "redis-server host:port"; tests may run others on other ports."""
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            words = cmdline.read_bytes().replace(b"\0", b" ").split()
            if (
                words
                and words[0].endswith(b"redis-server")
                and any(w.endswith(f":{port}".encode()) for w in words)
            ):
                return int(cmdline.parent.name)
    return None


def broker_pid() -> int | None:
    local = Path(os.environ.get("CALLCTL_LOCAL_DIR", ROOT / ".local"))
    with contextlib.suppress(OSError, ValueError):
        pid = int((local / "kafka" / "kafka.pid").read_text().strip())
        if cpu_seconds(pid) is not None:
            return pid
    return None


# --- the bench context -----------------------------------------------------------------


@dataclass
class Bench:
    bootstrap: str
    workdir: Path
    simulator: SimulatorProcess
    code: Path  # the snapshot of service/, simulator/ and bench/ every process runs
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    broker: int | None = field(default_factory=broker_pid)
    redis: int | None = field(default_factory=redis_pid)
    topics: list[str] = field(default_factory=list)
    extras: dict[str, str] = field(default_factory=dict)  # tools found at start
    noise_cores: float = NOISE_CORES  # other load above this: measure again ...
    retries: int = 1  # ... at most this many times, keeping the quietest run
    counter: int = 0

    def name(self, *parts: str) -> str:
        """A topic or group name: Kafka allows only [A-Za-z0-9._-]."""
        text = ".".join(("bench", self.run_id, *parts))
        return re.sub(r"[^A-Za-z0-9._-]", "-", text)

    def next_id(self) -> str:
        self.counter += 1
        return f"{self.counter:03d}"

    async def new_topics(self, names: list[str], partitions: int) -> None:
        """Topics stamped with LogAppendTime: every timestamp comes from the broker's one clock,
        at the moment the record became readable, so result - command is the pipeline's own
        time."""
        await create_topics(self.bootstrap, names, partitions, LOG_APPEND_TIME)
        self.topics.extend(names)

    async def prepare_simulator(self, latency_ms: int) -> None:
        """Forget calls, log and counters; then set the fixed delay."""
        await self.simulator.reset()
        await self.simulator.set_faults(latencyMs=latency_ms)

    async def drop_topics(self) -> None:
        await delete_topics(self.bootstrap, self.topics)
        self.topics.clear()

    async def backlog(self, scenario: Scenario, n: int) -> str:
        """A fresh commands topic holding n commands over scenario.calls calls."""
        topic = self.name(self.next_id(), "commands")
        await self.new_topics([topic], scenario.partitions)
        await produce(self.bootstrap, topic, commands(n, scenario.calls, f"b{self.run_id}"))
        return topic


class Replicas:
    """One contender's processes (the service may run as several in one group), stopped and
    measured together: CPU is the sum, the peak RSS the largest."""

    def __init__(self, procs: list[Process], metrics_ports: list[int]) -> None:
        self.procs = procs
        self.metrics_ports = metrics_ports  # service: where its /metrics is scraped
        self.log_path = procs[0].log_path
        self._settled = False

    @property
    def pids(self) -> list[int | None]:
        return [p.pid for p in self.procs]

    @property
    def pid(self) -> int | None:
        return self.procs[0].pid

    def start(self) -> None:
        for proc in self.procs:
            proc.start()

    def alive(self) -> bool:
        return all(p.alive() for p in self.procs)

    def tail(self, chars: int = 2_000) -> str:
        return self.procs[0].tail(chars)

    async def stop(self) -> None:
        await asyncio.gather(*(p.stop() for p in self.procs))

    def settled(self) -> bool:
        """Every replica owns partitions (its last assignment is not empty): the group has
        settled. Always true for one process; once true it stays so (the logs are not read
        again on every sample)."""
        if len(self.procs) < 2 or self._settled:
            return True
        for proc in self.procs:
            lines = [line for line in proc.logs().splitlines() if '"partitions_assigned"' in line]
            if not lines:
                return False
            with contextlib.suppress(ValueError, KeyError, TypeError):
                if not json.loads(lines[-1])["partitions"]:
                    return False
        self._settled = True
        return True

    def settled_ms(self) -> float | None:
        """With several replicas: when the last of them was given its partitions (epoch ms,
        from their logs), None for one process."""
        if len(self.procs) < 2:
            return None
        last = None
        for proc in self.procs:
            for line in proc.logs().splitlines():
                if '"partitions_assigned"' not in line:
                    continue
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    stamp = dt.datetime.fromisoformat(json.loads(line)["timestamp"])
                    ms = stamp.timestamp() * 1000
                    last = ms if last is None else max(last, ms)
        return last

    def each_cpu(self) -> list[float | None]:
        return [cpu_seconds(pid) for pid in self.pids]

    def cpu(self) -> float | None:
        values = self.each_cpu()
        return None if any(v is None for v in values) else sum(v or 0.0 for v in values)

    def rss(self) -> float | None:
        values = [v for v in (peak_rss_mib(pid) for pid in self.pids) if v is not None]
        return max(values) if values else None


def contender_proc(bench: Bench, contender: Contender, topics: TopicSettings, tag: str) -> Replicas:
    if contender.kind != "service":
        return Replicas([_one_proc(bench, contender, topics, tag, 0)], [])
    ports = [free_port() for _ in range(contender.replicas)]
    procs = [
        _one_proc(bench, contender, topics, tag, i, metrics_port=port)
        for i, port in enumerate(ports)
    ]
    return Replicas(procs, ports)


def _one_proc(
    bench: Bench,
    contender: Contender,
    topics: TopicSettings,
    tag: str,
    index: int,
    metrics_port: int = 0,
) -> Process:
    group = bench.name(tag, contender.name, "group")
    name = f"{tag}-{contender.name}" + (f"-{index}" if index else "")
    if contender.kind == "service":
        state = bench.workdir / f"{name}-state"
        state.mkdir(exist_ok=True)
        env = service_env(
            bootstrap=bench.bootstrap,
            simulator_url=bench.simulator.url,
            topics=topics,
            group=group,
            state_dir=state,
            CALLCTL_LOG_LEVEL=contender.log_level,
            # Only so that a capped run stops quickly; no effect on the measured part.
            CALLCTL_SHUTDOWN_GRACE_S="3",
            CALLCTL_HTTP_PORT=str(metrics_port),
        )
        if contender.max_in_flight is not None:
            env["CALLCTL_MAX_IN_FLIGHT"] = str(contender.max_in_flight)
        env.update(contender.env)
        prefix = env.get("CALLCTL_IDEMPOTENCY__KEY_PREFIX")
        if prefix is not None:
            # Every run its own keys (its replicas share them): a retry, or another contender
            # on the same backlog, would otherwise find each command done and answer it from
            # the store without a request.
            env["CALLCTL_IDEMPOTENCY__KEY_PREFIX"] = f"{prefix}{tag}:"
        return ServiceProcess(name, env, bench.workdir, contender.code or bench.code)
    argv = [sys.executable, "-m", f"bench.{contender.kind}", "--bootstrap", bench.bootstrap]
    argv += ["--topic", topics.commands, "--results", topics.results, "--group", group]
    if contender.kind in ("naive", "floor"):
        argv += ["--sinch-url", bench.simulator.url]
    if contender.kind == "floor" and contender.max_in_flight is not None:
        argv += ["--concurrency", str(contender.max_in_flight)]
    return Process(argv, clean_env(), bench.workdir / f"{name}.log", bench.code)


async def run_topics(
    bench: Bench, commands_topic: str, tag: str, contender: Contender, partitions: int
) -> TopicSettings:
    base = (tag, contender.name)
    topics = TopicSettings(
        commands=commands_topic,
        results=bench.name(*base, "results"),
        snapshots=bench.name(*base, "snapshots"),
        dead_letter=bench.name(*base, "dead-letter"),
    )
    names = [topics.results]
    if contender.kind == "service":
        names += [topics.snapshots, topics.dead_letter]
    await bench.new_topics(names, partitions)
    return topics


def _sample(
    proc: Replicas, bench: Bench, count: int, extra_pid: int | None, extra_floor: float = 0.0
) -> Sample:
    """`extra_floor`: CPU the load generator has used so far, once it cannot be read."""
    own = os.times()
    each = proc.each_cpu()
    return Sample(
        t=time.monotonic(),
        count=count,
        cpu=None if any(v is None for v in each) else sum(v or 0.0 for v in each),
        broker_cpu=cpu_seconds(bench.broker),
        sim_cpu=cpu_seconds(bench.simulator.pid),
        own_cpu=own.user + own.system,
        extra_cpu=max(cpu_seconds(extra_pid) or 0.0, extra_floor),
        sys_busy=system_cpu()[0],
        rss_mib=proc.rss(),
        redis_cpu=cpu_seconds(bench.redis),
        replica_cpu=each,
    )


def _delta(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else b - a


def apply_samples(result: RunResult, samples: list[Sample]) -> None:
    """CPU per 1,000 results and core usage, over the samples that saw results arrive."""
    rss = [s.rss_mib for s in samples if s.rss_mib is not None]
    result.peak_rss_mib = max(rss) if rss else None
    busy = [i for i, s in enumerate(samples) if s.count > 0]
    if not busy:
        return
    # From the last sample before the first result (start-up is over, at most one sampling
    # interval of it counted) to the first sample with the final count (no idle tail).
    first = samples[max(busy[0] - 1, 0)]
    last = max((samples[i] for i in busy), key=lambda s: (s.count, -s.t))
    done = last.count - first.count
    span = last.t - first.t
    if done <= 0 or span <= 0:
        return
    cpu = _delta(first.cpu, last.cpu)
    broker = _delta(first.broker_cpu, last.broker_cpu)
    sim = _delta(first.sim_cpu, last.sim_cpu)
    result.cpu_per_1000 = None if cpu is None else cpu / done * 1000
    result.broker_cpu_per_1000 = None if broker is None else broker / done * 1000
    result.sim_cpu_per_1000 = None if sim is None else sim / done * 1000
    result.sim_cores = None if sim is None else sim / span
    result.contender_cores = None if cpu is None else cpu / span
    redis = _delta(first.redis_cpu, last.redis_cpu)
    harness = (last.own_cpu - first.own_cpu) + (last.extra_cpu - first.extra_cpu)
    accounted = (cpu or 0) + (broker or 0) + (sim or 0) + (redis or 0) + harness
    result.foreign_cores = max(0.0, (last.sys_busy - first.sys_busy - accounted) / span)
    result.broker_cores = None if broker is None else broker / span
    result.redis_cores = None if redis is None else redis / span
    result.harness_cores = harness / span
    result.busy_cores = (last.sys_busy - first.sys_busy) / span
    result.replica_cores = [
        (b - a) / span
        for a, b in zip(first.replica_cpu, last.replica_cpu, strict=False)
        if a is not None and b is not None
    ]


def _parse(value: bytes) -> dict[str, Any]:
    try:
        data = json.loads(value)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _outcomes(result: RunResult, parsed: list[dict[str, Any]]) -> None:
    for data in parsed:
        outcome = str(data.get("outcome"))
        if outcome == "succeeded":
            result.ok += 1
        else:
            error = data.get("error")
            code = error.get("code") if isinstance(error, dict) else error
            status = data.get("httpStatus")
            key = f"{outcome}:{code}:{status}"
            result.errors[key] = result.errors.get(key, 0) + 1


async def _wait_started(proc: Replicas, result: RunResult) -> bool:
    if not proc.alive():
        result.note = f"exited at start: {proc.tail(600)!r}"
        return False
    return True


async def closed_loop(
    bench: Bench,
    contender: Contender,
    scenario: Scenario,
    commands_topic: str,
    expected: int,
    cap_s: float,
    *,
    profile: Callable[[int], Any] | None = None,
) -> RunResult:
    """Drain `expected` commands (or stop `cap_s` after the first result)."""
    tag = bench.next_id()
    topics = await run_topics(bench, commands_topic, tag, contender, scenario.partitions)
    await bench.prepare_simulator(scenario.latency_ms)
    proc = contender_proc(bench, contender, topics, tag)
    result = RunResult(contender.name, scenario, "closed", expected, log_path=str(proc.log_path))
    samples: list[Sample] = []
    profiler: Any = None
    async with TopicCounter(bench.bootstrap, topics.results) as counter:
        proc.start()
        started = time.monotonic()
        first_at: float | None = None
        while True:
            await asyncio.sleep(SAMPLE_S)
            sample = _sample(proc, bench, await counter.count(), None)
            samples.append(sample)
            if sample.count and first_at is None:
                first_at = sample.t
                if profile is not None and proc.pid is not None:
                    profiler = profile(proc.pid)
            if sample.count >= expected:
                result.drained = True
                break
            if not await _wait_started(proc, result):
                break
            if first_at is None and sample.t - started > STARTUP_TIMEOUT_S:
                result.note = "no result within the start-up timeout"
                break
            if first_at is not None and not proc.settled():
                first_at = sample.t  # the cap counts from the group's last rebalance
            if first_at is not None and sample.t - first_at >= cap_s:
                break
        stopped_ms = time.time() * 1000
        result.stages = await scrape_stages(proc.metrics_ports)
        await proc.stop()
        if profiler is not None:
            await profiler
    result.sim_requests = await bench.simulator.requests_served()
    apply_samples(result, samples)
    everything = await read_topic(bench.bootstrap, topics.results)
    # Results made while stopping (abandoned work, say) are not part of the measurement.
    records = [r for r in everything if r.timestamp_ms <= stopped_ms]
    if len(records) < len(everything):
        late = [_parse(r.value) for r in everything if r.timestamp_ms > stopped_ms]
        failed = sum(1 for p in late if p.get("outcome") != "succeeded")
        result.note = f"{len(late)} results while stopping ({failed} not succeeded), not counted"
    parsed = [_parse(r.value) for r in records]
    sources = {_source(p) for p in parsed}
    result.results = len(sources - {None})
    _outcomes(result, parsed)
    _handler_times(result, parsed, scenario.latency_ms)
    stamps = sorted(r.timestamp_ms for r in records)
    settled = proc.settled_ms()
    if settled is not None and stamps and settled > stamps[0]:
        # Replicas joining one by one rebalance the group (running work is abandoned, then
        # the partitions move): the rate is the group's once it has settled.
        stamps = [t for t in stamps if t >= settled]
        result.note = (result.note + "; " if result.note else "") + (
            f"rate from the {len(stamps):,} results after the group's last rebalance"
        )
    if len(stamps) >= 2:
        result.window_s = (stamps[-1] - stamps[0]) / 1000
        if result.window_s > 0:
            result.throughput = (len(stamps) - 1) / result.window_s
    return result


def _handler_times(result: RunResult, parsed: list[dict[str, Any]], latency_ms: int) -> None:
    """The service's own durationMs (decode to result, before storing and publishing it),
    minus the simulator's delay."""
    times = sorted(
        float(p["durationMs"]) - latency_ms
        for p in parsed
        if isinstance(p.get("durationMs"), int | float)
    )
    if times:
        result.handler_p50 = percentile(times, 50)
        result.handler_p99 = percentile(times, 99)


def _source(data: dict[str, Any]) -> tuple[int, int] | None:
    source = data.get("source")
    if not isinstance(source, dict):
        return None
    try:
        return int(source["partition"]), int(source["offset"])
    except (KeyError, TypeError, ValueError):
        return None


async def open_loop(
    bench: Bench,
    contender: Contender,
    scenario: Scenario,
    rate: float,
    duration_s: float,
    *,
    drain_timeout_s: float = 30.0,
) -> RunResult:
    """Produce at `rate` for `duration_s` while the contender runs; latency per command."""
    tag = bench.next_id()
    commands_topic = bench.name(tag, "open-commands")
    await bench.new_topics([commands_topic], scenario.partitions)
    topics = await run_topics(bench, commands_topic, tag, contender, scenario.partitions)
    await bench.prepare_simulator(scenario.latency_ms)
    proc = contender_proc(bench, contender, topics, tag)
    result = RunResult(contender.name, scenario, "open", 0, log_path=str(proc.log_path))
    result.rate = rate
    samples: list[Sample] = []
    run = f"o{bench.run_id}{tag}"
    async with TopicCounter(bench.bootstrap, topics.results) as counter:
        proc.start()
        # Warm-up: a few commands, so joining the group and the first connections are paid
        # before the measured load starts.
        await produce(
            bench.bootstrap, commands_topic, commands(WARMUP_COMMANDS, scenario.calls, run + "w")
        )
        started = time.monotonic()
        while await counter.count() < WARMUP_COMMANDS:
            if not proc.alive() or time.monotonic() - started > STARTUP_TIMEOUT_S:
                result.note = f"warm-up failed: {proc.tail(600)!r}"
                await proc.stop()
                return result
            await asyncio.sleep(SAMPLE_S)
        warm = await scrape_pages(proc.metrics_ports)  # the stages count from here
        loadgen = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.loadgen",
            "--bootstrap",
            bench.bootstrap,
            "--topic",
            commands_topic,
            "--rate",
            f"{rate:.3f}",
            "--duration",
            str(duration_s),
            "--calls",
            str(scenario.calls),
            "--run",
            run,
            cwd=bench.code,
            env=clean_env(),
            stdout=asyncio.subprocess.PIPE,
        )
        output = asyncio.create_task(loadgen.communicate())
        while not output.done():
            await asyncio.sleep(SAMPLE_S)
            samples.append(_sample(proc, bench, await counter.count(), loadgen.pid))
        stdout, _ = await output
        summary = json.loads(stdout.decode().strip().splitlines()[-1])
        sent = int(summary["sent"])
        result.expected = sent
        result.loadgen_lag_p99_ms = float(summary["lagP99Ms"])
        loadgen_cpu = max(float(summary["cpuSeconds"]), max(s.extra_cpu for s in samples))
        drain_until = time.monotonic() + drain_timeout_s
        while time.monotonic() < drain_until:
            samples.append(_sample(proc, bench, await counter.count(), None, loadgen_cpu))
            if samples[-1].count >= WARMUP_COMMANDS + sent or not proc.alive():
                break
            await asyncio.sleep(SAMPLE_S)
        result.drained = samples[-1].count >= WARMUP_COMMANDS + sent
        result.stages = await scrape_stages(proc.metrics_ports, warm)
        await proc.stop()
    result.sim_requests = await bench.simulator.requests_served()
    apply_samples(result, samples)
    start_ms = float(summary["startMs"])
    measured = [
        r for r in await read_topic(bench.bootstrap, commands_topic) if r.timestamp_ms >= start_ms
    ]
    sent_at = {(r.partition, r.offset): r.timestamp_ms for r in measured}
    sinch = match(
        (((r.key or b"").decode(errors="replace"), (r.partition, r.offset)) for r in measured),
        await bench.simulator.request_log(),
    )
    less_sinch: list[float] = []
    latencies: list[float] = []
    done_at: list[int] = []
    parsed_all: list[dict[str, Any]] = []
    for record in await read_topic(bench.bootstrap, topics.results):
        data = _parse(record.value)
        source = _source(data)
        if source is None or source not in sent_at:
            continue
        parsed_all.append(data)
        latencies.append(record.timestamp_ms - sent_at[source] - scenario.latency_ms)
        done_at.append(record.timestamp_ms)
        took = sinch.by_command.get(source)
        if took is not None:
            less_sinch.append(record.timestamp_ms - sent_at[source] - took)
    _outcomes(result, parsed_all)
    _handler_times(result, parsed_all, scenario.latency_ms)
    result.results = len(latencies)
    latencies.sort()
    if latencies:
        result.p50 = percentile(latencies, 50)
        result.p95 = percentile(latencies, 95)
        result.p99 = percentile(latencies, 99)
        result.max_ms = latencies[-1]
    _apply_sinch_times(result, sinch, less_sinch)
    if sent_at and done_at:
        span = (max(done_at) - min(sent_at.values())) / 1000
        result.achieved = len(done_at) / span if span > 0 else None
        result.window_s = span
    return result


def _apply_sinch_times(result: RunResult, sinch: SinchTimes, less_sinch: list[float]) -> None:
    took = sorted(sinch.by_command.values())
    if took:
        result.sinch_p50 = percentile(took, 50)
        result.sinch_p99 = percentile(took, 99)
    less_sinch.sort()
    if less_sinch:
        result.less_sinch_p50 = percentile(less_sinch, 50)
        result.less_sinch_p95 = percentile(less_sinch, 95)
        result.less_sinch_p99 = percentile(less_sinch, 99)
    result.sinch_unmatched = result.results - len(less_sinch)


async def retried(bench: Bench, make: Callable[[], Awaitable[RunResult]]) -> RunResult:
    """Run; while other processes took more than `bench.noise_cores` of CPU during it, run
    again (up to `bench.retries` times) and keep the run with the least such load."""
    run = await make()
    for attempt in range(1, bench.retries + 1):
        if run.foreign_cores is None or run.foreign_cores <= bench.noise_cores:
            break
        print(
            f"        other load {run.foreign_cores:.2f} cores during {run.contender} "
            f"({run.scenario.label}): measuring again",
            flush=True,
        )
        again = await make()
        if again.foreign_cores is not None and again.foreign_cores < run.foreign_cores:
            run = again
        run.retries = attempt
    return run
