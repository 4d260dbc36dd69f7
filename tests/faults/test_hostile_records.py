"""Hostile records through the real broker and the service as a process: every class of record
that broke a lane or the consume loop before (deep nesting under the size limit, huge numbers,
invalid UTF-8, lone surrogates, NULs and control characters in field names, duplicate keys,
timestamps without a UTC form, header keys that are not UTF-8), mixed with valid commands of the
same calls on several partitions. Every valid command gets its result in order, every hostile
record a rejected result and a dead letter, the committed offset reaches the end of every
partition, and the service stays up."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition

from testkit.kafka import produce, read_topic
from testkit.processes import SimulatorProcess
from testkit.raw_producer import produce_bad_header
from testkit.service import ServiceProcess
from tests.faults.support import (
    check_run,
    prepare_run,
    started,
    wait_for_results,
)

PARTITIONS = 6


def hostile(call_id: str, n: int) -> list[bytes]:
    base = json.dumps({"commandId": f"h-{call_id}-{n}", "callId": call_id, "type": "hangup"})
    open_ = base[:-1]
    return [
        b"[" * 5_000,
        (open_ + ',"metadata":{"a":' + "[" * 3_000 + "]" * 3_000 + "}}").encode(),
        (open_ + ',"metadata":{"a":' + "9" * 5_000 + "}}").encode(),
        (open_ + ',"metadata":{"a":1e400}}').encode(),
        (open_ + ',"metadata":{"a":"\\ud800"}}').encode(),
        open_.encode() + b',"metadata":{"a":"\xff\xfe"}}',
        (open_ + ',"\\u0000\\r\\n\\u001b[2J' + "x" * 10_000 + '":1}').encode(),
        (open_ + ',"commandId":"again"}').encode(),
        (open_ + ',"issuedAt":"0001-01-01T00:00:00+01:00"}').encode(),
        (open_ + ',"expiresAt":"9999-12-31T23:59:59-01:00"}').encode(),
        json.dumps({"commandId": "bad id\r\n", "callId": call_id, "type": "hangup"}).encode(),
    ]


async def committed_and_ends(
    bootstrap: str, topic: str, group: str
) -> tuple[dict[int, int], dict[int, int]]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        ends = await consumer.end_offsets(tps)
        # An empty partition has nothing to commit: its end, 0, stands for it.
        return (
            {tp.partition: await consumer.committed(tp) or 0 for tp in tps},
            {tp.partition: ends[tp] for tp in tps},
        )
    finally:
        await consumer.stop()


async def test_hostile_records_are_answered_and_nothing_else_is_disturbed(
    kafka: str, simulator: SimulatorProcess, tmp_path: Path
) -> None:
    load = prepare_run(kafka, simulator.url, tmp_path, calls=12, per_call=4)
    planned = load.planned
    calls = sorted({p.call_id for p in planned})
    # Each call: its first command, hostile records keyed by the call, then the rest.
    records: list[tuple[bytes | None, bytes]] = []
    hostile_values: list[bytes] = []
    for p in planned:
        records.append((p.call_id.encode(), json.dumps(p.command).encode()))
        if p.position == 0 and p.call_id in calls[:3]:
            for value in hostile(p.call_id, len(hostile_values)):
                records.append((p.call_id.encode(), value))
                hostile_values.append(value)
    await simulator.set_faults()
    service = ServiceProcess("service", load.env, tmp_path)
    service.start()
    try:
        await started(service)  # it creates the topics, with their partitions
        await produce(kafka, load.topics.commands, records[: len(records) // 2])
        for partition in (0, 1):
            produce_bad_header(
                kafka, load.topics.commands, partition, b"hostile", b"\xff\xfe", b'{"x":1}'
            )
        await produce(kafka, load.topics.commands, records[len(records) // 2 :])
        results = await wait_for_results(
            kafka, load.topics.results, load.command_ids, 120, [service]
        )
        expected_rejections = len(hostile_values) + 2
        for _ in range(60):
            everything = [json.loads(r.value) for r in await read_topic(kafka, load.topics.results)]
            rejected = [r for r in everything if r["outcome"] == "rejected"]
            dead = await read_topic(kafka, load.topics.dead_letter)
            committed, ends = await committed_and_ends(
                kafka, load.topics.commands, f"fault-{load.run}"
            )
            if len(rejected) >= expected_rejections and committed == ends:
                break
            await asyncio.sleep(0.5)
        assert service.alive(), "the service stays up"
    finally:
        assert service.terminate() == 0, service.logs()[-3000:]

    verdict = check_run(planned, results, await simulator.request_log())
    assert verdict.problems == []
    assert {results[p.command_id][-1]["outcome"] for p in planned} == {"succeeded"}
    assert len(rejected) == expected_rejections, [r["error"]["message"][:80] for r in rejected]
    assert len(dead) == expected_rejections
    assert sorted(d.value for d in dead if d.value) == sorted(v for v in hostile_values)
    for letter in dead:
        message = dict(letter.headers)["error.message"]
        assert len(message) <= 1024 and message.decode().isprintable(), message[:200]
    assert committed == ends, "every offset answered and committed"
    echoed = [r for r in rejected if r["commandId"] == "bad id\\r\\n"]
    assert len(echoed) == 3, "an invalid commandId is echoed, escaped, for correlation"
