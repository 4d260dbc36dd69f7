"""Fault tests with real processes: kill -9, replicas coming and going, a broker restart.

Each asserts from the simulator's request log and the results topic (see `check_run`).
Sizes: FAULT_CALLS calls of FAULT_PER_CALL commands each (default 300 of 10).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from testkit.kafka import count_records, create_topics, read_topic
from testkit.processes import ROOT, SimulatorProcess
from testkit.service import ServiceProcess
from tests.faults.support import (
    check_run,
    group_results,
    prepare_run,
    produce_commands,
    started,
    wait_for_results,
)

CALLS = int(os.environ.get("FAULT_CALLS", "300"))
PER_CALL = int(os.environ.get("FAULT_PER_CALL", "10"))
PARTITIONS = 6


async def wait_until(
    predicate_count: int, bootstrap: str, topic: str, timeout_s: float = 60
) -> None:
    deadline = time.monotonic() + timeout_s
    while await count_records(bootstrap, topic) < predicate_count:
        assert time.monotonic() < deadline, (
            f"fewer than {predicate_count} results after {timeout_s}s"
        )
        await asyncio.sleep(0.3)


async def test_kill_minus_nine_mid_load_loses_nothing_and_repeats_nothing(
    kafka: str, simulator: SimulatorProcess, tmp_path: Path
) -> None:
    load = prepare_run(
        kafka,
        simulator.url,
        tmp_path,
        calls=CALLS,
        per_call=PER_CALL,
        CALLCTL_MAX_IN_FLIGHT="64",
    )
    topics, planned, env = load.topics, load.planned, load.env
    await simulator.set_faults(latencyMs=5)
    first = ServiceProcess("first", env, tmp_path)
    first.start()
    await produce_commands(kafka, topics.commands, planned)
    await wait_until(len(planned) // 3, kafka, topics.results)
    first.kill()

    second = ServiceProcess("second", env, tmp_path)
    second.start()
    try:
        results = await wait_for_results(
            kafka, topics.results, {p.command_id for p in planned}, 180, [first, second]
        )
    finally:
        assert second.terminate() == 0, "SIGTERM: graceful stop exits 0"
    verdict = check_run(planned, results, await simulator.request_log())
    assert verdict.problems == []
    replays = sum(1 for rs in results.values() for r in rs if r["duplicate"])
    print(f"kill -9: {len(planned)} commands, {replays} replayed results after the restart")


@pytest.mark.parametrize("stop", ["sigterm", "kill-9"])
async def test_two_replicas_one_stopped_and_started_during_the_load(
    kafka: str, simulator: SimulatorProcess, tmp_path: Path, stop: str
) -> None:
    """SIGTERM hands the partitions over cleanly; kill -9 leaves claims in Redis held by a
    dead replica, which the survivor takes over once the dead replica's liveness key has
    expired (not after the 15 s lease), applying the interrupted-command rule."""
    redis_url = os.environ.get("CALLCTL_TEST_REDIS")
    if not redis_url:
        pytest.fail("CALLCTL_TEST_REDIS is not set: run `deploy/redis.sh start` (`make test` does)")
    load = prepare_run(
        kafka,
        simulator.url,
        tmp_path,
        calls=CALLS,
        per_call=PER_CALL,
        CALLCTL_MAX_IN_FLIGHT="32",
        CALLCTL_IDEMPOTENCY__BACKEND="redis",
        CALLCTL_IDEMPOTENCY__REDIS_URL=redis_url,
        CALLCTL_IDEMPOTENCY__KEY_PREFIX=f"fault:{uuid.uuid4().hex[:8]}:",
    )
    topics, planned, env = load.topics, load.planned, load.env
    # Several partitions, as deployed (the test's producer would otherwise auto-create the
    # topic with the broker's default of one, and one replica would own everything): both
    # replicas own some, so the stopped one always leaves work to hand over.
    await create_topics(kafka, [topics.commands], partitions=PARTITIONS)
    await simulator.set_faults(latencyMs=10)
    one = ServiceProcess("replica-1", env, tmp_path)
    two = ServiceProcess("replica-2", env, tmp_path)
    one.start()
    two.start()
    # Both in the group, each owning partitions, before the load: otherwise the first one
    # can do the whole first quarter alone and the stop hits a replica that owns nothing.
    await started(one)
    await started(two)
    await produce_commands(kafka, topics.commands, planned)
    await wait_until(len(planned) // 4, kafka, topics.results)
    assert '"event":"command"' in two.logs(), "replica-2 had answered commands before its stop"
    if stop == "sigterm":
        assert two.terminate() == 0
    else:
        two.kill()
    await wait_until(len(planned) // 2, kafka, topics.results, timeout_s=120)
    two_again = ServiceProcess("replica-2-again", env, tmp_path)
    two_again.start()
    try:
        results = await wait_for_results(
            kafka, topics.results, {p.command_id for p in planned}, 180, [one, two, two_again]
        )
    finally:
        assert one.terminate() == 0
        assert two_again.terminate() == 0
    verdict = check_run(planned, results, await simulator.request_log())
    assert verdict.problems == []
    finals = [rs[-1] for rs in results.values()]
    unknown = sum(1 for r in finals if r["error"] and r["error"]["code"] == "outcome_unknown")
    replays = sum(1 for rs in results.values() for r in rs if r["duplicate"])
    print(f"{stop}: {len(planned)} commands, {replays} replays, {unknown} outcome_unknown")


async def test_broker_restart_mid_load(simulator: SimulatorProcess, tmp_path: Path) -> None:
    """A broker of its own (other ports, other state dir), restarted under load."""
    broker_env = {
        **os.environ,
        "KAFKA_PORT": "19092",
        "KAFKA_CONTROLLER_PORT": "19093",
        "CALLCTL_LOCAL_DIR": str(tmp_path / "local"),
    }
    kafka_sh = str(ROOT / "deploy" / "kafka.sh")
    await asyncio.to_thread(
        subprocess.run, [kafka_sh, "start"], env=broker_env, check=True, capture_output=True
    )
    bootstrap = "127.0.0.1:19092"
    load = prepare_run(
        bootstrap,
        simulator.url,
        tmp_path,
        calls=CALLS // 2,
        per_call=PER_CALL,
        CALLCTL_MAX_IN_FLIGHT="64",
    )
    topics, planned, env = load.topics, load.planned, load.env
    await simulator.set_faults(latencyMs=20)
    service = ServiceProcess("service", env, tmp_path)
    try:
        service.start()
        await produce_commands(bootstrap, topics.commands, planned)
        await wait_until(len(planned) // 4, bootstrap, topics.results)
        await asyncio.to_thread(
            subprocess.run, [kafka_sh, "restart"], env=broker_env, check=True, capture_output=True
        )
        results = await wait_for_results(
            bootstrap, topics.results, {p.command_id for p in planned}, 240, [service]
        )
        assert service.alive(), "the service rode out the broker restart"
        assert service.terminate() == 0
    finally:
        if service.alive():
            service.kill()
        await asyncio.to_thread(
            subprocess.run, [kafka_sh, "stop"], env=broker_env, check=False, capture_output=True
        )
    verdict = check_run(planned, results, await simulator.request_log())
    assert verdict.problems == []


@pytest.mark.parametrize("after_s", [0.2, 1.0])
async def test_sigterm_while_starting_exits_zero(
    kafka: str, simulator: SimulatorProcess, tmp_path: Path, after_s: float
) -> None:
    load = prepare_run(kafka, simulator.url, tmp_path, calls=1, per_call=1)
    service = ServiceProcess("starting", load.env, tmp_path)
    service.start()
    await asyncio.sleep(after_s)  # still importing, or connecting to the broker
    assert service.terminate(timeout_s=30) == 0, service.logs()[-2000:]


async def test_sigterm_mid_load_finishes_or_abandons_with_results_commits_and_exits_zero(
    kafka: str, simulator: SimulatorProcess, tmp_path: Path
) -> None:
    """Sinch answers in 3 s, the grace is 1 s: the commands in flight at SIGTERM are abandoned
    with a result; the waiting ones are left to the next start, which answers the rest."""
    load = prepare_run(
        kafka,
        simulator.url,
        tmp_path,
        calls=40,
        per_call=3,
        CALLCTL_SHUTDOWN_GRACE_S="1",
        CALLCTL_MAX_IN_FLIGHT="16",
    )
    await simulator.set_faults(latencyMs=3000)
    first = ServiceProcess("graceful", load.env, tmp_path)
    first.start()
    await started(first)  # counted from here: a slow start must not move SIGTERM between waves
    await produce_commands(kafka, load.topics.commands, load.planned)
    # Mid second wave: the first 3-second wave has finished, the second is in flight.
    await asyncio.sleep(4.5)
    stopped_at = time.monotonic()
    assert first.terminate(timeout_s=30) == 0
    assert time.monotonic() - stopped_at < 10, "grace 1 s, then abandon, commit, exit"
    logs = first.logs()
    assert '"event":"engine_stopped"' in logs
    abandoned = [
        r
        for rs in group_results(await read_topic(kafka, load.topics.results)).values()
        for r in rs
        if r["error"] and r["error"]["code"] == "outcome_unknown"
    ]
    assert abandoned, "commands cut short at the end of the grace got a result"

    await simulator.set_faults(latencyMs=5)
    second = ServiceProcess("after", load.env, tmp_path)
    second.start()
    try:
        results = await wait_for_results(
            kafka, load.topics.results, load.command_ids, 120, [first, second]
        )
    finally:
        assert second.terminate() == 0
    verdict = check_run(load.planned, results, await simulator.request_log())
    assert verdict.problems == []
