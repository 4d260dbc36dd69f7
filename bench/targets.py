"""Issue 15's targets: the runs that measure them, the figures, and the ratios the guard keeps.

Every target is a ratio or a figure from one run of one report (the box is shared, so figures
of different reports are not compared; ratios measured side by side are):

- **in flight at 50 ms** (`SHAPE_50`: one partition, 200 calls, 64 places, the shape the issue
  was found in): throughput >= 0.7 x 64 / 50 ms = 896 commands/s, and the canonical
  `duration_ms` p50 <= Sinch's 50 ms + 5 ms;
- **service / floor at 0 ms** (`SHAPE_0`: six partitions, 1,000 calls): throughput ratio and
  CPU-per-command ratio (floor's / service's, so higher is better for both) >= 0.7;
- **CPU** <= 0.5 s per 1,000 commands (the service at 0 ms);
- **added latency** at 50 % of the measured maximum (open loop in `SHAPE_50`): p50 <= 5 ms,
  p99 <= 25 ms, less the time the simulator measured for each command's request (the nominal
  50 ms is reported beside it; floor@64 at the same rates is the no-service reference);
- **two processes** in one group (Redis store) >= 1.7 x one, at 0 ms.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bench.runner import Contender, RunResult, Scenario

SHAPE_50 = Scenario(50, 1, 200)
SHAPE_0 = Scenario(0, 6, 1000)
PLACES = 64
OPEN_SHARES = (0.1, 0.5, 0.7)  # of the service's closed-loop maximum in SHAPE_50

SERVICE_64 = Contender(f"service@{PLACES}", "service", max_in_flight=PLACES)
FLOOR_64 = Contender(f"floor@{PLACES}", "floor", max_in_flight=PLACES)
SERVICE = Contender("service", "service")
PASSTHROUGH = Contender("limit", "limit")  # the no-HTTP passthrough, second reference
# A diagnostic: the service on asyncio's own loop, beside the default (uvloop), same backlog.
ASYNCIO_LOOP = Contender("service-asyncio", "service", env=(("CALLCTL_EVENT_LOOP", "asyncio"),))


def floor_like_service(in_flight: int) -> Contender:
    """The floor with as many requests at once as the service has places."""
    return Contender("floor", "floor", max_in_flight=in_flight)


def redis_service(run_id: str, replicas: int) -> Contender:
    """The service with the Redis store (shared by replicas), `replicas` processes in one group;
    database 14, keys under the bench run's prefix and each run's own (`bench.runner`), kept
    ten minutes."""
    name = "service-redis" if replicas == 1 else f"service-redis-x{replicas}"
    env = (
        ("CALLCTL_IDEMPOTENCY__BACKEND", "redis"),
        ("CALLCTL_IDEMPOTENCY__REDIS_URL", "redis://127.0.0.1:6379/14"),
        ("CALLCTL_IDEMPOTENCY__KEY_PREFIX", f"callctl:bench:{run_id}:"),
        ("CALLCTL_IDEMPOTENCY__RETENTION_S", "600"),
    )
    return Contender(name, "service", env=env, replicas=replicas)


# --- the figures ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    measured: float | None
    required: float
    higher_is_better: bool
    unit: str  # "x" for a ratio, else the figure's unit
    where: str

    @property
    def passed(self) -> bool:
        if self.measured is None:
            return False
        if self.higher_is_better:
            return self.measured >= self.required
        return self.measured <= self.required


def _run(runs: list[RunResult], scenario: Scenario, name: str) -> RunResult | None:
    return next((r for r in runs if r.scenario == scenario and r.contender == name), None)


def _div(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def targets(closed: list[RunResult], open_runs: list[RunResult]) -> list[Target]:
    """Issue 15's targets from one report's runs; a target whose runs are missing is measured
    None (a miss)."""
    at50 = _run(closed, SHAPE_50, SERVICE_64.name)
    service = _run(closed, SHAPE_0, SERVICE.name)
    floor = _run(closed, SHAPE_0, "floor")
    one = _run(closed, SHAPE_0, "service-redis")
    two = _run(closed, SHAPE_0, "service-redis-x2")
    half = next(
        (
            r
            for r in open_runs
            if r.scenario == SHAPE_50
            and r.contender == SERVICE_64.name
            and r.load_share is not None
            and abs(r.load_share - 0.5) < 1e-6
        ),
        None,
    )
    where50 = f"{SERVICE_64.name}, {SHAPE_50.label}"
    where0 = f"{SHAPE_0.label}"
    return [
        Target(
            "throughput at 64 in flight, 50 ms",
            at50.throughput if at50 else None,
            0.7 * PLACES / 0.05,
            True,
            "cmd/s",
            where50,
        ),
        Target(
            "duration_ms p50 less Sinch's 50 ms",
            at50.handler_p50 if at50 else None,
            5.0,
            False,
            "ms",
            where50,
        ),
        Target(
            "service / floor, throughput at 0 ms",
            _div(service.throughput if service else None, floor.throughput if floor else None),
            0.7,
            True,
            "x",
            where0,
        ),
        Target(
            "service / floor, CPU per command at 0 ms (floor's / service's)",
            _div(floor.cpu_per_1000 if floor else None, service.cpu_per_1000 if service else None),
            0.7,
            True,
            "x",
            where0,
        ),
        Target(
            "CPU per 1,000 commands",
            service.cpu_per_1000 if service else None,
            0.5,
            False,
            "s",
            f"service, {where0}",
        ),
        Target(
            "added latency p50 at 50 % of the maximum, less Sinch's measured time",
            half.less_sinch_p50 if half else None,
            5.0,
            False,
            "ms",
            where50 + (f", {half.rate:,.0f} cmd/s" if half and half.rate else ""),
        ),
        Target(
            "added latency p99 at 50 % of the maximum, less Sinch's measured time",
            half.less_sinch_p99 if half else None,
            25.0,
            False,
            "ms",
            where50 + (f", {half.rate:,.0f} cmd/s" if half and half.rate else ""),
        ),
        Target(
            "two processes / one (Redis store), throughput at 0 ms",
            _div(two.throughput if two else None, one.throughput if one else None),
            1.7,
            True,
            "x",
            where0,
        ),
    ]


def ratios(closed: list[RunResult], open_runs: list[RunResult]) -> dict[str, float]:
    """The dimensionless figures of one report that the regression guard compares (ratios of
    runs made side by side; higher is better for each)."""
    out: dict[str, float] = {}
    at50 = _run(closed, SHAPE_50, SERVICE_64.name)
    floor50 = _run(closed, SHAPE_50, FLOOR_64.name)
    if at50 and at50.throughput:
        out["service@64 at 50 ms / Little's bound"] = at50.throughput / (PLACES / 0.05)
        if floor50 and floor50.throughput:
            out["service@64 / floor@64 at 50 ms"] = at50.throughput / floor50.throughput
    service0 = _run(closed, SHAPE_0, SERVICE.name)
    for target in targets(closed, open_runs):
        if target.unit == "x" and target.measured is not None:
            out[target.name] = target.measured
    on_asyncio = _run(closed, SHAPE_0, ASYNCIO_LOOP.name)
    if on_asyncio and on_asyncio.throughput and service0 and service0.throughput:
        out["uvloop / asyncio, service at 0 ms"] = service0.throughput / on_asyncio.throughput
    passthrough = _run(closed, SHAPE_0, PASSTHROUGH.name)
    service = _run(closed, SHAPE_0, SERVICE.name)
    if passthrough and service and passthrough.throughput and service.throughput:
        out["service / passthrough at 0 ms"] = service.throughput / passthrough.throughput
    return out


# --- the runs ---------------------------------------------------------------------------

Closed = Callable[[Contender, Scenario, str], Awaitable[RunResult]]
Open = Callable[[Contender, Scenario, float, float], Awaitable[RunResult]]  # ..., rate, share
Backlog = Callable[[Scenario], Awaitable[str]]
Say = Callable[[str], Any]


async def run_targets(
    *,
    backlog: Backlog,
    closed: Closed,
    open_loop: Open,
    drop: Callable[[], Awaitable[None]],
    run_id: str,
    default_in_flight: int,
    open_shares: tuple[float, ...] = OPEN_SHARES,
    two_processes: bool = True,
    diagnose: bool = True,
) -> tuple[list[RunResult], list[RunResult]]:
    """Every run the targets need, in an order that keeps each ratio's pair side by side."""
    closed_runs: list[RunResult] = []
    open_runs: list[RunResult] = []
    topic = await backlog(SHAPE_50)
    for contender in (SERVICE_64, FLOOR_64):
        closed_runs.append(await closed(contender, SHAPE_50, topic))
    await drop()
    topic = await backlog(SHAPE_0)
    zero = [PASSTHROUGH, floor_like_service(default_in_flight), SERVICE]
    if diagnose:
        zero.append(ASYNCIO_LOOP)
    if two_processes:
        zero += [redis_service(run_id, 1), redis_service(run_id, 2)]
    for contender in zero:
        closed_runs.append(await closed(contender, SHAPE_0, topic))
    await drop()
    maximum = _run(closed_runs, SHAPE_50, SERVICE_64.name)
    if maximum is not None and maximum.throughput:
        for share in open_shares:
            rate = max(1.0, share * maximum.throughput)
            open_runs.append(await open_loop(SERVICE_64, SHAPE_50, rate, share))
            # the no-service reference at the same rate: what the bare pipeline adds here
            open_runs.append(await open_loop(FLOOR_64, SHAPE_50, rate, share))
        await drop()
    return closed_runs, open_runs
