"""Fault tests' load and verdict: commands over many calls whose requests can be traced back to
them, and a checker that reads the simulator's request log and the results topic. Processes,
topics and Kafka helpers come from `testkit`."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from service.settings import TopicSettings
from testkit.kafka import Received, produce, read_topic
from testkit.service import ServiceProcess, service_env, unique_topics

HARMLESS_TYPES = {"hangup", "stopRecording", "getCallInfo"}
# `service_env(tuning=FAULT_TUNING, ...)`: fast commits, a short session (a killed replica's
# partitions move on within seconds), a lease short enough to wait out, and a grace that a
# SIGTERM test can afford.
FAULT_TUNING = {
    "CALLCTL_KAFKA__CREATE_TOPICS": "true",
    "CALLCTL_KAFKA__COMMIT_INTERVAL_MS": "200",
    "CALLCTL_KAFKA__SESSION_TIMEOUT_MS": "6000",
    "CALLCTL_SINCH__READ_TIMEOUT_S": "5",
    "CALLCTL_IDEMPOTENCY__LEASE_S": "15",
    "CALLCTL_SHUTDOWN_GRACE_S": "10",
}


@dataclass
class Planned:
    command: dict[str, Any]
    position: int  # order within its call

    @property
    def command_id(self) -> str:
        return str(self.command["commandId"])

    @property
    def call_id(self) -> str:
        return str(self.command["callId"])


def plan_load(calls: int, per_call: int, run: str) -> list[Planned]:
    """Commands whose request bodies name their commandId, so the simulator's log can be
    mapped back to commands: say and playFiles (not harmless), stopRecording (harmless),
    hangup last."""
    planned: list[Planned] = []
    for c in range(calls):
        call_id = f"{run}-call-{c}"
        for i in range(per_call):
            command_id = f"{run}-{c}-{i}"
            base: dict[str, Any] = {"commandId": command_id, "callId": call_id}
            if i == per_call - 1:
                command = {**base, "type": "hangup"}
            elif i % 3 == 0:
                command = {**base, "type": "say", "text": f"say {command_id}", "locale": "en-US"}
            elif i % 3 == 1:
                command = {
                    **base,
                    "type": "playFiles",
                    "ids": [f"#tts[{command_id}]"],
                    "locale": "en-US",
                }
            else:
                command = {**base, "type": "stopRecording"}
            planned.append(Planned(command, i))
    # interleave calls, keeping each call's own order
    planned.sort(key=lambda p: (p.position, p.call_id))
    return planned


async def produce_commands(bootstrap: str, topic: str, planned: list[Planned]) -> None:
    await produce(
        bootstrap,
        topic,
        [(p.call_id.encode(), json.dumps(p.command).encode()) for p in planned],
    )


async def wait_for_results(
    bootstrap: str,
    topic: str,
    command_ids: set[str],
    timeout_s: float,
    processes: list[ServiceProcess],
) -> dict[str, list[dict[str, Any]]]:
    """Every command's results, read again each second until all are there."""
    deadline = time.monotonic() + timeout_s
    while True:
        results = group_results(await read_topic(bootstrap, topic))
        missing = command_ids - set(results)
        if not missing:
            return results
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {p.name}\n{p.logs()[-3000:]}" for p in processes)
            raise AssertionError(
                f"{len(missing)} commands without a result, e.g. {sorted(missing)[:5]}\n{tails}"
            )
        await asyncio.sleep(1)


def group_results(records: list[Received]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        result = json.loads(record.value)
        if result.get("commandId"):
            grouped[result["commandId"]].append(result)
    return grouped


@dataclass
class Verdict:
    problems: list[str] = field(default_factory=list)

    def check(self, ok: bool, message: str) -> None:
        if not ok and len(self.problems) < 30:
            self.problems.append(message)


def check_run(
    planned: list[Planned],
    results: dict[str, list[dict[str, Any]]],
    log: list[dict[str, Any]],
    *,
    max_attempts: int | None = None,
    outcomes: frozenset[str] = frozenset({"succeeded", "failed"}),
) -> Verdict:
    """The fault tests' assertions, in one place:
    - every command has a result, and at most one that is not a replay (duplicate: true);
    - within each call, requests reached the simulator in offset order;
    - no command that is not harmless reached the simulator twice (processed), unless its
      result owns up with outcome_unknown;
    - with a budget, no command made more attempts than allowed.
    """
    verdict = Verdict()
    by_id = {p.command_id: p for p in planned}
    for p in planned:
        got = results.get(p.command_id, [])
        verdict.check(bool(got), f"{p.command_id}: no result")
        originals = [r for r in got if not r["duplicate"]]
        verdict.check(len(originals) <= 1, f"{p.command_id}: {len(originals)} non-replayed results")
        for r in got:
            verdict.check(r["outcome"] in outcomes, f"{p.command_id}: outcome {r['outcome']}")

    processed: dict[str, int] = defaultdict(int)
    attempts: dict[str, int] = defaultdict(int)
    sequence: dict[str, list[int]] = defaultdict(list)
    # Arrival order: the log is kept in completion order, and a request the service gave up on
    # (read timeout) completes after the call's next one arrived. Ties (same millisecond) are
    # sequential requests, which complete in arrival order.
    for entry in sorted(log, key=lambda e: (e["receivedAt"], e["seq"])):
        command_id = _command_in(entry["body"])
        if command_id is None or command_id not in by_id:
            continue
        attempts[command_id] += 1
        if 200 <= entry["status"] < 300 or entry.get("faultAfterProcessing"):
            processed[command_id] += 1
        sequence[by_id[command_id].call_id].append(by_id[command_id].position)

    for call_id, positions in sequence.items():
        collapsed = [pos for i, pos in enumerate(positions) if i == 0 or pos != positions[i - 1]]
        verdict.check(
            collapsed == sorted(collapsed), f"{call_id}: requests out of order {positions}"
        )
    for command_id, count in processed.items():
        if count > 1:
            owned = any(
                r["error"] and r["error"]["code"] == "outcome_unknown"
                for r in results.get(command_id, [])
            )
            verdict.check(owned, f"{command_id}: reached the simulator {count} times")
    if max_attempts is not None:
        for command_id, count in attempts.items():
            verdict.check(count <= max_attempts, f"{command_id}: {count} attempts > {max_attempts}")
    return verdict


def _command_in(body: str) -> str | None:
    """say text `say <id>` or playFiles `#tts[<id>]`."""
    if not body:
        return None
    try:
        svaml = json.loads(body)
    except ValueError:
        return None
    for instruction in svaml.get("instructions", []):
        if instruction.get("name") == "say":
            return str(instruction["text"]).removeprefix("say ")
        if instruction.get("name") == "playFiles":
            return str(instruction["ids"][0])[5:-1]
    return None


@dataclass
class FaultRun:
    """One fault test's load: its own topics and group, the planned commands, the service env."""

    run: str
    topics: TopicSettings
    planned: list[Planned]
    env: dict[str, str]

    @property
    def command_ids(self) -> set[str]:
        return {p.command_id for p in self.planned}


def prepare_run(
    bootstrap: str, simulator_url: str, state_dir: Path, *, calls: int, per_call: int, **extra: str
) -> FaultRun:
    run = new_run()
    topics = unique_topics("fault", run)
    env = service_env(
        tuning=FAULT_TUNING,
        bootstrap=bootstrap,
        simulator_url=simulator_url,
        topics=topics,
        group=f"fault-{run}",
        state_dir=state_dir,
        **extra,
    )
    return FaultRun(run, topics, plan_load(calls, per_call, run), env)


def new_run() -> str:
    return uuid.uuid4().hex[:8]


async def started(service: ServiceProcess, timeout_s: float = 90) -> None:
    """Wait for the start-up line: on a busy machine starting takes a while."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while "service_started" not in service.logs():
        assert service.alive(), service.logs()[-3000:]
        assert asyncio.get_running_loop().time() < deadline, "the service did not start"
        await asyncio.sleep(0.2)
