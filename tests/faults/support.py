"""Real processes for fault tests: the service as a subprocess (so it can be killed), load over
many calls, and a checker that reads the simulator's request log and the results topic."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from service.settings import TopicSettings

ROOT = Path(__file__).resolve().parents[2]
SIM_KEY = "sim-key"
SIM_SECRET = "c2ltLXNlY3JldC0xMjM0NTY="
HARMLESS_TYPES = {"hangup", "stopRecording", "getCallInfo"}


class ServiceProcess:
    """`python -m service` with its own environment; logs to a file for post-mortems."""

    def __init__(self, name: str, env: dict[str, str], workdir: Path) -> None:
        self.name = name
        self.env = env
        self.log_path = workdir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "service"],
            cwd=ROOT,
            env={**os.environ, **self.env},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )

    def kill(self) -> None:
        """kill -9: no shutdown, no final commit."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def terminate(self, timeout: float = 60) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def service_env(
    *,
    bootstrap: str,
    simulator_url: str,
    topics: TopicSettings,
    group: str,
    state_dir: Path,
    **extra: str,
) -> dict[str, str]:
    env = {
        "CALLCTL_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "CALLCTL_KAFKA__GROUP_ID": group,
        "CALLCTL_KAFKA__CREATE_TOPICS": "true",
        "CALLCTL_KAFKA__COMMIT_INTERVAL_MS": "200",
        "CALLCTL_KAFKA__SESSION_TIMEOUT_MS": "6000",
        "CALLCTL_TOPICS__COMMANDS": topics.commands,
        "CALLCTL_TOPICS__RESULTS": topics.results,
        "CALLCTL_TOPICS__SNAPSHOTS": topics.snapshots,
        "CALLCTL_TOPICS__DEAD_LETTER": topics.dead_letter,
        "CALLCTL_TOPICS__EVENTS": topics.events,
        "CALLCTL_SINCH__BASE_URL": simulator_url,
        "CALLCTL_SINCH__APPLICATION_KEY": SIM_KEY,
        "CALLCTL_SINCH__APPLICATION_SECRET": SIM_SECRET,
        "CALLCTL_SINCH__READ_TIMEOUT_S": "5",
        "CALLCTL_IDEMPOTENCY__SQLITE_PATH": str(state_dir / "idempotency.sqlite3"),
        "CALLCTL_IDEMPOTENCY__LEASE_S": "15",
        "CALLCTL_SNAPSHOT_DEFAULT": "false",
        "CALLCTL_SHUTDOWN_GRACE_S": "10",
        "CALLCTL_LOG_FORMAT": "json",
        "CALLCTL_HTTP_PORT": "0",
    }
    env.update(extra)
    return env


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


async def produce(
    bootstrap: str, topic: str, records: Sequence[tuple[bytes | None, bytes]]
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, linger_ms=5)
    await producer.start()
    try:
        futures = [await producer.send(topic, value, key=key) for key, value in records]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def produce_commands(bootstrap: str, topic: str, planned: list[Planned]) -> None:
    await produce(
        bootstrap,
        topic,
        [(p.call_id.encode(), json.dumps(p.command).encode()) for p in planned],
    )


async def read_topic(bootstrap: str, topic: str) -> list[Any]:
    """Every record of the topic, up to its end now."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        deadline = time.monotonic() + 10
        while not partitions and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:  # not created yet (a slow start): no records so far
            return []
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        records: list[Any] = []

        async def behind() -> bool:
            return any([await consumer.position(tp) < ends[tp] for tp in tps])

        while await behind():
            batch = await consumer.getmany(timeout_ms=500, max_records=10_000)
            for part in batch.values():
                records.extend(part)
        return records
    finally:
        await consumer.stop()


async def wait_for_results(
    bootstrap: str,
    topic: str,
    command_ids: set[str],
    timeout_s: float,
    processes: list[ServiceProcess],
) -> dict[str, list[dict[str, Any]]]:
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


def group_results(records: list[Any]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        result = json.loads(record.value)
        if result.get("commandId"):
            grouped[result["commandId"]].append(result)
    return grouped


async def count_results(bootstrap: str, topic: str) -> int:
    return len(await read_topic(bootstrap, topic))


async def simulator_log(url: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    since = 0
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        while True:
            response = await client.get("/_admin/requests", params={"since": since, "limit": 5000})
            response.raise_for_status()
            page = response.json()["requests"]
            if not page:
                return entries
            entries.extend(page)
            since = page[-1]["seq"]


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
            verdict.check(
                r["outcome"] in {"succeeded", "failed"}, f"{p.command_id}: outcome {r['outcome']}"
            )

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
    topics = unique_topics(run)
    env = service_env(
        bootstrap=bootstrap,
        simulator_url=simulator_url,
        topics=topics,
        group=f"fault-{run}",
        state_dir=state_dir,
        **extra,
    )
    return FaultRun(run, topics, plan_load(calls, per_call, run), env)


def unique_topics(run: str) -> TopicSettings:
    return TopicSettings(
        commands=f"fault.commands.{run}",
        results=f"fault.results.{run}",
        snapshots=f"fault.snapshots.{run}",
        dead_letter=f"fault.dead-letter.{run}",
        events=f"fault.events.{run}",
    )


def new_run() -> str:
    return uuid.uuid4().hex[:8]
