"""Fault tests on the other two fronts: a misbehaving Sinch, and bad input in the stream."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

from testkit.kafka import produce, read_topic
from testkit.processes import SimulatorProcess
from testkit.service import ServiceProcess, service_env, unique_topics
from tests.faults.support import (
    FAULT_TUNING,
    HARMLESS_TYPES,
    check_run,
    new_run,
    plan_load,
    prepare_run,
    wait_for_results,
)

MAX_ATTEMPTS = 4


async def test_flaky_sinch_every_command_ends_within_the_retry_budget(
    kafka: str, simulator: SimulatorProcess, tmp_path: Path
) -> None:
    load = prepare_run(
        kafka,
        simulator.url,
        tmp_path,
        calls=100,
        per_call=10,
        CALLCTL_MAX_IN_FLIGHT="64",
        CALLCTL_RETRY__MAX_ATTEMPTS=str(MAX_ATTEMPTS),
        CALLCTL_RETRY__BASE_DELAY_S="0.05",
        CALLCTL_RETRY__MAX_DELAY_S="0.5",
        CALLCTL_SINCH__READ_TIMEOUT_S="1",
    )
    topics, planned, env = load.topics, load.planned, load.env
    await simulator.set_faults(
        latencyMs=5,
        errorRate=0.25,
        errorStatuses=[500, 503],
        rateLimitRate=0.1,
        retryAfterSeconds=1,
        slowRate=0.03,
        slowMs=1500,  # beyond the read timeout: an answer that never comes in time
    )
    service = ServiceProcess("service", env, tmp_path)
    service.start()
    try:
        await produce(
            kafka,
            topics.commands,
            [(p.call_id.encode(), json.dumps(p.command).encode()) for p in planned],
        )
        results = await wait_for_results(
            kafka, topics.results, {p.command_id for p in planned}, 240, [service]
        )
    finally:
        assert service.terminate() == 0
    log = await simulator.request_log()
    verdict = check_run(planned, results, log, max_attempts=MAX_ATTEMPTS)
    assert verdict.problems == []

    finals = [rs[-1] for rs in results.values()]
    assert all(r["attempts"] <= MAX_ATTEMPTS for r in finals)
    retried = [r for r in finals if r["attempts"] > 1]
    assert retried, "faults at these rates make some commands retry"
    for r in finals:
        if r["outcome"] == "failed":
            # Every call exists: "call not found" would be a hangup that worked, reported wrong.
            assert r["error"]["code"] in {
                "upstream_error",
                "upstream_unavailable",
                "rate_limited",
                "timeout",
            }, r
            assert r["error"]["retryable"] is True, r
        if r["note"] == "call_already_ended":
            # A retried hangup whose earlier attempt may have hung up: succeeded, and said so.
            assert (r["type"], r["outcome"], r["httpStatus"]) == ("hangup", "succeeded", 404), r
            assert r["attempts"] > 1, r

    types = {p.command_id: p.command["type"] for p in planned}
    for command_id, rs in results.items():
        r = rs[-1]
        if r["httpStatus"] == 500 and types[command_id] not in HARMLESS_TYPES:
            assert r["attempts"] == 1 or r["outcome"] == "failed", (
                "a 500 is not retried for say/playFiles"
            )


async def test_a_thousand_malformed_records_are_dead_lettered_and_the_rest_unaffected(
    kafka: str, simulator: SimulatorProcess, tmp_path: Path
) -> None:
    run = new_run()
    topics = unique_topics("fault", run)
    planned = plan_load(100, 10, run)
    rng = random.Random(11)
    garbage_kinds: list[Callable[[int], bytes]] = [
        lambda i: b"\xff\xfe not json " + str(i).encode(),
        lambda i: b"[1, 2, 3]",
        lambda i: json.dumps(
            {"commandId": f"bad-{run}-{i}", "callId": "c", "type": "teleport"}
        ).encode(),
        lambda i: json.dumps(
            {"commandId": f"bad-{run}-{i}", "callId": "c", "type": "say"}
        ).encode(),
        lambda i: b"",
        lambda i: b"{" * 70_000,  # over the 64 KiB limit
    ]
    malformed = [(b"c", garbage_kinds[i % len(garbage_kinds)](i)) for i in range(1000)]
    good = [(p.call_id.encode(), json.dumps(p.command).encode()) for p in planned]
    mixed = good + malformed
    rng.shuffle(mixed)
    # shuffling broke each call's order: restore it by re-sorting the good records in place
    good_set = set(good)
    positions = [i for i, record in enumerate(mixed) if record in good_set]
    for index, record in zip(positions, good, strict=True):
        mixed[index] = record
    env = service_env(
        tuning=FAULT_TUNING,
        bootstrap=kafka,
        simulator_url=simulator.url,
        topics=topics,
        group=f"fault-{run}",
        state_dir=tmp_path,
    )
    await simulator.set_faults()
    service = ServiceProcess("service", env, tmp_path)
    service.start()
    try:
        await produce(kafka, topics.commands, mixed)
        results = await wait_for_results(
            kafka, topics.results, {p.command_id for p in planned}, 180, [service]
        )
        dead = await read_topic(kafka, topics.dead_letter)
        for _ in range(20):
            if len(dead) >= 1000:
                break
            import asyncio

            await asyncio.sleep(0.5)
            dead = await read_topic(kafka, topics.dead_letter)
    finally:
        assert service.terminate() == 0
    assert len(dead) == 1000
    assert sorted(d.value for d in dead) == sorted(v for _, v in malformed), "byte for byte"
    assert all(dict(d.headers).get("error.code") for d in dead)
    not_succeeded = [
        results[p.command_id][-1]
        for p in planned
        if results[p.command_id][-1]["outcome"] != "succeeded"
    ]
    assert not_succeeded == []
    verdict = check_run(planned, results, await simulator.request_log())
    assert verdict.problems == []
    rejected = [json.loads(r.value) for r in await read_topic(kafka, topics.results)]
    assert sum(1 for r in rejected if r["outcome"] == "rejected") == 1000, "a result per record"
