"""`callctl` as an operator runs it: a subprocess against the real broker, the simulator process
and the real service."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import time
import uuid
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition

from service.kafka.topics import ensure_topics
from service.settings import Settings
from tests.integration.harness import ROOT, SimulatorProcess, free_port, running_service


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str
    seconds: float


async def callctl(settings: Settings, *args: str, bootstrap: str | None = None) -> Run:
    """`python -m callctl.cli ARGS` with the test's broker and topics in its environment."""
    topics = settings.topics
    env = {
        **os.environ,
        "CALLCTL_KAFKA__BOOTSTRAP_SERVERS": bootstrap or settings.kafka.bootstrap_servers,
        "CALLCTL_TOPICS__COMMANDS": topics.commands,
        "CALLCTL_TOPICS__RESULTS": topics.results,
        "CALLCTL_TOPICS__SNAPSHOTS": topics.snapshots,
        "CALLCTL_TOPICS__DEAD_LETTER": topics.dead_letter,
        "CALLCTL_TOPICS__EVENTS": topics.events,
    }
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "callctl.cli",
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

        as_json = await callctl(settings, "results", "--command-id", command_id, "--json")
        assert as_json.code == 0, as_json.err
        [line] = as_json.out.splitlines()
        assert json.loads(line)["outcome"] == "succeeded"

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
