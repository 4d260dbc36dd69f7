"""Network faults from a real fault proxy (Toxiproxy) between the service and its dependencies:
the Sinch simulator and Redis. Each run checks: a result for every command, none executed twice
unless harmless (or owned up to as outcome_unknown), order per call, attempts within budget, and
no request after a command's expiresAt.

Kafka is not proxied here: a broker behind a proxy needs its advertised listeners to name the
proxy, i.e. a private broker started for the purpose (not the shared one).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from testkit.processes import SimulatorProcess
from testkit.service import ServiceProcess
from testkit.toxiproxy import Proxy, toxiproxy
from tests.faults.support import (
    FaultRun,
    _command_in,
    check_run,
    prepare_run,
    produce_commands,
    started,
    wait_for_results,
)

MAX_ATTEMPTS = 4
OUTCOMES = frozenset({"succeeded", "failed", "expired"})


def summary(finals: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in finals:
        key = r["outcome"] + (f"/{r['error']['code']}" if r["error"] else "")
        counts[key] = counts.get(key, 0) + 1
    counts["retried"] = sum(r["attempts"] > 1 for r in finals)
    return counts


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def with_deadlines(load: FaultRun, every: int, seconds: float) -> dict[str, datetime]:
    """Give every `every`-th command an expiresAt `seconds` from now; returns them."""
    deadlines: dict[str, datetime] = {}
    expires = datetime.now(UTC) + timedelta(seconds=seconds)
    for index, planned in enumerate(load.planned):
        if index % every == 0:
            planned.command["expiresAt"] = expires.isoformat().replace("+00:00", "Z")
            deadlines[planned.command_id] = expires
    return deadlines


def requests_after_expiry(log: list[dict[str, Any]], deadlines: dict[str, datetime]) -> list[str]:
    late = []
    for entry in log:
        command_id = _command_in(entry["body"])
        if command_id in deadlines and instant(entry["receivedAt"]) >= deadlines[command_id]:
            late.append(f"{command_id} at {entry['receivedAt']}")
    return late


async def chaos(phases: list[Callable[[], str | None]], proxy: Proxy, phase_s: float) -> None:
    """Apply each phase's toxic for `phase_s`, in turn, round and round until cancelled."""
    while True:
        for phase in phases:
            toxic = phase()
            try:
                await asyncio.sleep(phase_s)
            finally:
                if toxic is not None:
                    proxy.remove(toxic)


async def run_load(
    load: FaultRun,
    kafka: str,
    tmp_path: Path,
    proxy: Proxy,
    phases: list[Callable[[], str | None]],
    phase_s: float,
    deadlines: dict[str, datetime] | None = None,
    expire_in_s: float = 4.0,
) -> dict[str, list[dict[str, Any]]]:
    service = ServiceProcess("service", load.env, tmp_path)
    service.start()
    await started(service)
    faults = asyncio.create_task(chaos(phases, proxy, phase_s))
    try:
        if deadlines is not None:  # from now: the start-up time does not count
            deadlines.update(with_deadlines(load, every=5, seconds=expire_in_s))
        await produce_commands(kafka, load.topics.commands, load.planned)
        return await wait_for_results(kafka, load.topics.results, load.command_ids, 150, [service])
    finally:
        faults.cancel()
        with suppress(asyncio.CancelledError):
            await faults
        proxy.clear()
        assert service.terminate() == 0, service.logs()[-3000:]


async def test_sinch_behind_latency_resets_black_holes_slow_close_and_trickled_bodies(
    kafka: str, simulator: SimulatorProcess, tmp_path: Path
) -> None:
    with toxiproxy(tmp_path / "toxiproxy.log") as toxi:
        sinch = toxi.proxy("sinch", simulator.url.removeprefix("http://"))
        load = prepare_run(
            kafka,
            f"http://{sinch.address}",
            tmp_path,
            calls=20,
            per_call=10,
            CALLCTL_MAX_IN_FLIGHT="8",
            CALLCTL_RETRY__MAX_ATTEMPTS=str(MAX_ATTEMPTS),
            CALLCTL_RETRY__BASE_DELAY_S="0.05",
            CALLCTL_RETRY__MAX_DELAY_S="0.3",
            CALLCTL_SINCH__CONNECT_TIMEOUT_S="1",
            CALLCTL_SINCH__READ_TIMEOUT_S="1",
        )
        deadlines: dict[str, datetime] = {}
        # The faults that make requests fail come first: on a quiet machine the whole load
        # takes two or three seconds and would otherwise meet only the harmless phases.
        phases: list[Callable[[], str | None]] = [
            lambda: sinch.add("reset_peer", timeout=50),
            # a black hole: data dropped, the connection held
            lambda: sinch.add("timeout", timeout=0),
            lambda: sinch.add("latency", latency=300, jitter=150),
            # a trickled body: 8-byte slices 30 ms apart
            lambda: sinch.add("slicer", average_size=8, size_variation=4, delay=30_000),
            lambda: sinch.add("slow_close", delay=800),
            lambda: None,
        ]
        results = await run_load(
            load, kafka, tmp_path, sinch, phases, phase_s=0.7, deadlines=deadlines
        )
    log = await simulator.request_log()
    verdict = check_run(load.planned, results, log, max_attempts=MAX_ATTEMPTS, outcomes=OUTCOMES)
    assert verdict.problems == []
    assert requests_after_expiry(log, deadlines) == []
    finals = [rs[-1] for rs in results.values()]
    assert all(r["attempts"] <= MAX_ATTEMPTS for r in finals)
    for r in finals:
        if r["outcome"] == "failed":
            assert r["error"]["code"] in {
                "timeout",
                "upstream_unavailable",
                "upstream_error",
                "outcome_unknown",
            }, r
    assert any(r["outcome"] == "succeeded" for r in finals)
    print("sinch faults:", summary(finals))
    assert any(r["attempts"] > 1 or r["outcome"] != "succeeded" for r in finals), "faults felt"


async def test_redis_behind_latency_a_black_hole_and_resets(
    kafka: str, simulator: SimulatorProcess, tmp_path: Path, redis_url: str
) -> None:
    upstream = redis_url.removeprefix("redis://").split("/")[0]
    database = redis_url.rsplit("/", 1)[-1]
    with toxiproxy(tmp_path / "toxiproxy.log") as toxi:
        redis_proxy = toxi.proxy("redis", upstream)
        load = prepare_run(
            kafka,
            simulator.url,
            tmp_path,
            calls=20,
            per_call=6,
            CALLCTL_MAX_IN_FLIGHT="32",
            CALLCTL_IDEMPOTENCY__BACKEND="redis",
            CALLCTL_IDEMPOTENCY__REDIS_URL=f"redis://{redis_proxy.address}/{database}",
            CALLCTL_IDEMPOTENCY__KEY_PREFIX=f"fault:{uuid.uuid4().hex}:",
            CALLCTL_IDEMPOTENCY__REDIS_CONNECT_TIMEOUT_S="0.5",
            CALLCTL_IDEMPOTENCY__REDIS_SOCKET_TIMEOUT_S="0.5",
        )
        phases: list[Callable[[], str | None]] = [
            lambda: redis_proxy.add("latency", latency=150, jitter=100),
            # black-holed: every call times out, commands wait and ask again
            lambda: redis_proxy.add("timeout", timeout=0),
            lambda: None,
            lambda: redis_proxy.add("reset_peer", timeout=0, toxicity=0.5),
            lambda: redis_proxy.add("slow_close", delay=500),
            lambda: None,
        ]
        results = await run_load(load, kafka, tmp_path, redis_proxy, phases, phase_s=2.0)
    log = await simulator.request_log()
    verdict = check_run(load.planned, results, log, max_attempts=MAX_ATTEMPTS)
    assert verdict.problems == []
    finals = [rs[-1] for rs in results.values()]
    codes = {r["error"]["code"] for r in finals if r["error"]}
    assert "internal_error" not in codes, "a store outage never fails a command as a bug"
    print("redis faults:", summary(finals))
    assert sum(r["outcome"] == "succeeded" for r in finals) >= len(finals) * 0.9, codes
