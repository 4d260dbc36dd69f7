"""`callctl` as an operator runs it: a subprocess against the real broker, the simulator process
and the real service."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from callctl.kafka_io import key_partition
from service.kafka.topics import ensure_topics
from service.settings import Settings
from testkit.processes import ROOT, SimulatorProcess, free_port
from testkit.service import running_service, service_settings


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str
    seconds: float


async def callctl(
    settings: Settings, *args: str, bootstrap: str | None = None, **extra_env: str
) -> Run:
    """`python -m callctl ARGS` with the test's broker and topics in its environment."""
    topics = settings.topics
    env = {
        **os.environ,
        **extra_env,
        "CALLCTL_KAFKA__BOOTSTRAP_SERVERS": bootstrap or settings.kafka.bootstrap_servers,
        "CALLCTL_TOPICS__COMMANDS": topics.commands,
        "CALLCTL_TOPICS__RESULTS": topics.results,
        "CALLCTL_TOPICS__SNAPSHOTS": topics.snapshots,
        "CALLCTL_TOPICS__DEAD_LETTER": topics.dead_letter,
        "CALLCTL_TOPICS__EVENTS": topics.events,
        "CALLCTL_TOPICS__CONFERENCES": topics.conferences,
    }
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "callctl",
        *args,
        cwd=ROOT,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=90)
    assert process.returncode is not None
    return Run(process.returncode, out.decode(), err.decode(), time.monotonic() - started)


def new_call_id() -> str:
    return f"call-{uuid.uuid4().hex[:12]}"


def field(run: Run, name: str) -> str:
    """The value of a `name  value` line of the output."""
    match = re.search(rf"^{name}\s+(\S.*)$", run.out, re.MULTILINE)
    assert match, f"no {name} line in:\n{run.out}\n{run.err}"
    return match.group(1)


async def record_count(settings: Settings, topic: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka.bootstrap_servers, group_id=None)
    await consumer.start()
    try:
        partitions = range(settings.kafka.topic_partitions)
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in partitions])
        return sum(ends.values())
    finally:
        await consumer.stop()


async def test_send_wait_then_results_and_call_show_it(
    settings: Settings, simulator: SimulatorProcess
) -> None:
    call_id = new_call_id()
    await simulator.create_call(call_id)
    await ensure_topics(settings.kafka, settings.topics)
    async with running_service(settings):
        sent = await callctl(settings, "send", "hangup", "--call-id", call_id, "--wait")
        assert sent.code == 0, sent.err
        command_id = field(sent, "commandId")
        assert command_id.startswith("cli-")
        assert f"{settings.topics.commands} partition" in field(sent, "produced")
        assert field(sent, "outcome") == "succeeded"
        assert field(sent, "httpStatus") == "204"
        assert field(sent, "attempts") == "1"

        results = await callctl(settings, "results", "--call-id", call_id)
        assert results.code == 0, results.err
        [header, row] = results.out.splitlines()
        assert header.split()[:3] == ["TIME", "CALL", "ID"]
        assert row.split()[1:] == [call_id, command_id, "hangup", "succeeded", "-", "204", "1",
                                   "false"]  # fmt: skip

        as_json = await callctl(settings, "results", "--command-id", command_id, "-o", "json")
        assert as_json.code == 0, as_json.err
        [line] = as_json.out.splitlines()
        assert json.loads(line)["outcome"] == "succeeded"
        old_flag = await callctl(settings, "results", "--command-id", command_id, "--json")
        assert old_flag.out == as_json.out, "--json is kept as -o json"

        followed = await callctl(
            settings, "results", "--follow", "--since", "5m", "--call-id", call_id, "--limit", "1"
        )
        assert followed.code == 0, followed.err
        assert command_id in followed.out.splitlines()[1], "header, then the one result"

        deadline = time.monotonic() + 20  # the snapshot follows the result
        call = await callctl(settings, "call", call_id)
        while call.code != 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            call = await callctl(settings, "call", call_id)
        assert call.code == 0, call.err
        assert field(call, "callId") == call_id
        assert field(call, "status") == "FINAL"
        assert field(call, "reason") == "MANAGERHANGUP"
        assert field(call, "commandId") == command_id

        sent_json = await callctl(
            settings, "send", "getCallInfo", "--call-id", call_id, "--wait", "-o", "json"
        )
        assert sent_json.code == 0, sent_json.err
        [receipt] = sent_json.out.splitlines()
        answer = json.loads(receipt)
        assert answer["type"] == "getCallInfo"
        assert answer["topic"] == settings.topics.commands
        assert answer["result"]["commandId"] == answer["commandId"]
        assert answer["result"]["outcome"] == "succeeded"

    patches = [r for r in await simulator.requests(call_id) if r["method"] == "PATCH"]
    assert len(patches) == 1, "one command produced, one request made"
    assert patches[0]["body"] == '{"action":{"name":"hangup"}}'


async def test_send_wait_exits_1_when_the_command_fails(
    settings: Settings, simulator: SimulatorProcess
) -> None:
    unknown = new_call_id()  # never created in the simulator: Sinch answers 404
    await ensure_topics(settings.kafka, settings.topics)
    async with running_service(settings):
        sent = await callctl(settings, "send", "hangup", "--call-id", unknown, "--wait", "30")
        missing = await callctl(settings, "call", unknown)
    assert sent.code == 1, sent.err
    assert field(sent, "outcome") == "failed"
    assert field(sent, "error").startswith("call_not_found:")
    assert missing.code == 1
    assert f"no snapshot for call {unknown}" in missing.err


async def test_send_wait_times_out_with_exit_3_when_no_service_answers(
    settings: Settings,
) -> None:
    await ensure_topics(settings.kafka, settings.topics)
    sent = await callctl(settings, "send", "hangup", "--call-id", new_call_id(), "--wait", "2")
    assert sent.code == 3, sent.err
    assert "no result for commandId" in sent.err
    assert "Traceback" not in sent.err
    assert await record_count(settings, settings.topics.commands) == 1, "it was produced"


async def test_invalid_command_exits_2_naming_the_field_and_produces_nothing(
    settings: Settings,
) -> None:
    await ensure_topics(settings.kafka, settings.topics)
    sent = await callctl(settings, "send", "say", "--call-id", new_call_id(), "--text", "Hi")
    assert sent.code == 2
    assert "locale" in sent.err
    assert "Traceback" not in sent.err
    assert sent.out == ""
    assert await record_count(settings, settings.topics.commands) == 0


async def test_unreachable_kafka_exits_4_quickly_with_a_clear_message(
    settings: Settings,
) -> None:
    nowhere = f"127.0.0.1:{free_port()}"
    run = await callctl(settings, "results", bootstrap=nowhere)
    assert run.code == 4
    assert run.seconds < 15
    assert f"cannot reach Kafka: no broker answered at {nowhere}" in run.err
    assert "deploy/kafka.sh start" in run.err
    assert "Traceback" not in run.err
    assert run.out == ""


async def produce(
    settings: Settings,
    topic: str,
    value: dict[str, Any] | bytes,
    key: str,
    *,
    partition: int | None = None,
) -> int:
    """Produce one record (to the key's partition unless told); returns its partition."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers)
    await producer.start()
    try:
        raw = value if isinstance(value, bytes) else json.dumps(value).encode()
        sent = await producer.send_and_wait(topic, raw, key=key.encode(), partition=partition)
        return int(sent.partition)
    finally:
        await producer.stop()


async def test_results_and_call_read_only_the_partition_of_the_call(settings: Settings) -> None:
    """A record of the call placed in another partition by hand is not seen: only the key's
    partition is read. The partition is the one the producer chose (murmur2 agrees)."""
    await ensure_topics(settings.kafka, settings.topics)
    topics = settings.topics
    call_id = new_call_id()
    home = key_partition(call_id.encode(), range(settings.kafka.topic_partitions))
    away = (home + 1) % settings.kafka.topic_partitions
    right = {"commandId": "right", "callId": call_id, "type": "hangup", "outcome": "succeeded"}
    stray = {**right, "commandId": "stray"}
    assert await produce(settings, topics.results, right, call_id) == home
    await produce(settings, topics.results, stray, call_id, partition=away)
    ongoing = {"callId": call_id, "call": {"status": "ONGOING"}, "commandId": "right"}
    assert await produce(settings, topics.snapshots, ongoing, call_id) == home
    final = {**ongoing, "call": {"status": "FINAL"}, "commandId": "stray"}
    await produce(settings, topics.snapshots, final, call_id, partition=away)

    mine = await callctl(settings, "results", "--call-id", call_id, "-o", "json")
    assert mine.code == 0, mine.err
    assert [json.loads(line)["commandId"] for line in mine.out.splitlines()] == ["right"]
    assert f"reading partition {home} of {topics.results} (that of key {call_id})" in mine.err
    everything = await callctl(settings, "results", "-o", "json")
    assert {json.loads(line)["commandId"] for line in everything.out.splitlines()} == {
        "right",
        "stray",
    }

    snapshot = await callctl(settings, "call", call_id, "-o", "json")
    assert snapshot.code == 0, snapshot.err
    assert json.loads(snapshot.out)["call"]["status"] == "ONGOING"
    assert f"reading partition {home} of {topics.snapshots}" in snapshot.err


async def test_dead_letters_list_show_and_replay_after_the_fix(
    kafka: str, simulator: SimulatorProcess, tmp_path: Path
) -> None:
    """A command over the service's size limit is dead-lettered; once the limit is raised, the
    operator replays it and the service runs it."""
    small = service_settings(kafka, simulator.url, tmp_path, max_command_bytes=300)
    await ensure_topics(small.kafka, small.topics)
    topics = small.topics
    call_id = new_call_id()
    await simulator.create_call(call_id)
    command = {"type": "hangup", "callId": call_id, "commandId": f"big-{call_id}",
               "metadata": {"note": "x" * 300}}  # fmt: skip
    async with running_service(small):
        await produce(small, topics.commands, command, call_id)
        listed = await callctl(small, "dead-letters", "list", "-o", "json")
        deadline = time.monotonic() + 20
        while listed.code != 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            listed = await callctl(small, "dead-letters", "list", "-o", "json")
    assert listed.code == 0, listed.err
    [line] = listed.out.splitlines()
    letter = json.loads(line)
    assert letter["key"] == call_id
    assert letter["error"]["code"] == "too_large"
    assert letter["source"]["topic"] == topics.commands
    assert isinstance(letter["source"]["offset"], int), "a number, as the letter's own offset"
    at = f"{letter['partition']}:{letter['offset']}"
    assert small.kafka.topic_partitions > 1
    alone = await callctl(small, "dead-letters", "show", str(letter["offset"]))
    # the real aiokafka consumer, stopped right after assign(): a message, not a traceback
    assert (alone.code, "Traceback" in alone.err) == (2, False), alone.err
    assert "partitions: name one (PARTITION:OFFSET" in alone.err

    table = await callctl(small, "dead-letters", "list", "--call-id", call_id)
    assert table.code == 0, table.err
    assert "too_large" in table.out.splitlines()[1]
    shown = await callctl(small, "dead-letters", "show", at, "-o", "json")
    assert shown.code == 0, shown.err
    assert json.loads(shown.out)["value"] == command

    unasked = await callctl(small, "dead-letters", "replay", at)
    assert unasked.code == 2
    assert "pass --yes" in unasked.err
    still_small = await callctl(
        small, "dead-letters", "replay", at, "--yes", CALLCTL_MAX_COMMAND_BYTES="300"
    )
    assert still_small.code == 2
    assert "would be refused again" in still_small.err
    assert await record_count(small, topics.commands) == 1, "nothing replayed yet"

    fixed = small.model_copy(update={"max_command_bytes": 65_536})
    async with running_service(fixed):
        replayed = await callctl(fixed, "dead-letters", "replay", at, "--yes", "-o", "json")
        assert replayed.code == 0, replayed.err
        receipt = json.loads(replayed.out)
        assert receipt["topic"] == topics.commands
        waited = await callctl(fixed, "results", "--call-id", call_id, "--follow", "--since",
                               "5m", "--limit", "2", "-o", "json")  # fmt: skip
    assert waited.code == 0, waited.err
    outcomes = [json.loads(line) for line in waited.out.splitlines()]
    # too large: refused unread, so the rejected result knows the call (the key), not the command
    assert [(r["commandId"], r["outcome"]) for r in outcomes] == [
        (None, "rejected"),
        (command["commandId"], "succeeded"),
    ]
    assert outcomes[0]["error"]["code"] == "too_large"
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka, group_id=None)
    await consumer.start()
    try:
        tp = TopicPartition(topics.commands, receipt["partition"])
        consumer.assign([tp])
        consumer.seek(tp, receipt["offset"])
        again = await consumer.getone()
    finally:
        await consumer.stop()
    assert again.key == call_id.encode()
    assert again.value == json.dumps(command).encode(), "the original bytes"
    assert (
        dict(again.headers)["callctl.replayed-from"]
        == f"{topics.dead_letter}/{at.replace(':', '@')}".encode()
    )


def readme_conference_lines() -> list[str]:
    """The command lines of the README's "Place calls, run conferences" block."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Place calls, run conferences") :]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block is not None, "no bash block under 'Place calls, run conferences'"
    return [line for line in block.group(1).splitlines() if line.strip()]


async def test_readme_conference_lines_work_as_written(
    kafka: str, simulator: SimulatorProcess, tmp_path: Path
) -> None:
    settings = service_settings(kafka, simulator.url, tmp_path)
    await simulator.create_call("demo-3")
    outputs: list[Run] = []
    async with running_service(settings):
        for line in readme_conference_lines():
            words = shlex.split(line, comments=True)
            assert words[0] == "callctl", line
            run = await callctl(settings, *words[1:])
            assert run.code == 0, f"{line}\n{run.out}{run.err}"
            outputs.append(run)
    placed = field(outputs[0], "callId")
    assert (await simulator.admin.get(f"/_admin/calls/{placed}")).status_code == 200
    shown = outputs[5].out
    assert "demo-3" in shown and placed in shown, shown
    [demo] = [row.split() for row in shown.splitlines() if row.startswith("demo-3")]
    assert demo[-2:] == ["true", "true"], shown  # muted, on hold
    rooms = (await simulator.admin.get("/_admin/conferences")).json()["conferences"]
    [room] = [r for r in rooms if r["conferenceId"] == "room-1"]
    kicked = [p for p in room["participants"] if p["id"] == "demo-3"]
    assert kicked == [], "demo-3 was kicked"
