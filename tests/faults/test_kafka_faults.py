"""Network faults between the service and Kafka, from a real fault proxy: a private broker
(own ports and state directory) whose advertised listener is Toxiproxy's port, so every
connection a client opens, bootstrap or partition leader, goes through the proxy. The shared
broker is never touched.

The commands are produced before the faults start and the results read after they end (the
test's own clients share the proxy); meanwhile the service meets latency, connection resets
and a black hole shorter than its session. Checks as in the fault suite (`check_run`): a result
for every command, none executed twice unless harmless or owned up to, order per call."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from testkit.kafka import count_records
from testkit.processes import SimulatorProcess, free_port
from testkit.service import ServiceProcess
from testkit.toxiproxy import toxiproxy
from tests.faults.support import (
    check_run,
    prepare_run,
    produce_commands,
    started,
    wait_for_results,
)
from tests.integration.private_kafka import PrivateKafka

PHASE_S = 4.0


def summary(finals: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in finals:
        key = r["outcome"] + (f"/{r['error']['code']}" if r["error"] else "")
        counts[key] = counts.get(key, 0) + 1
    return counts


async def test_kafka_behind_latency_resets_and_a_black_hole(
    simulator: SimulatorProcess, tmp_path: Path
) -> None:
    with toxiproxy(tmp_path / "toxiproxy.log") as toxi:
        proxy_port = free_port()
        broker = PrivateKafka(tmp_path / "broker", advertised_port=proxy_port)
        toxi.api.post(
            "/proxies",
            json={
                "name": "kafka",
                "listen": f"127.0.0.1:{proxy_port}",
                "upstream": f"127.0.0.1:{broker.port}",
                "enabled": True,
            },
        ).raise_for_status()
        kafka = toxi.proxy_named("kafka", proxy_port)
        broker.start()
        try:
            load = prepare_run(
                broker.bootstrap,
                simulator.url,
                tmp_path,
                calls=20,
                per_call=10,
                CALLCTL_MAX_IN_FLIGHT="4",
            )
            # 200 commands, 4 at a time, 250 ms each: the load outlasts the faults
            await simulator.set_faults(latencyMs=250)
            service = ServiceProcess("service", load.env, tmp_path)
            service.start()
            try:
                await started(service)
                await produce_commands(broker.bootstrap, load.topics.commands, load.planned)
                phases: list[Callable[[], str]] = [
                    lambda: kafka.add("latency", latency=300, jitter=100),
                    lambda: kafka.add("latency", name="up", stream="upstream", latency=300),
                    lambda: kafka.add("reset_peer", timeout=300),
                    lambda: kafka.add("timeout", timeout=0),  # a black hole under the session
                ]
                before = await count_records(broker.bootstrap, load.topics.results)
                for phase in phases:
                    toxic = phase()
                    await asyncio.sleep(PHASE_S)
                    kafka.remove(toxic)
                during = await count_records(broker.bootstrap, load.topics.results) - before
                assert service.alive(), service.logs()[-3000:]
                assert before + during < len(load.planned), "the faults met work in progress"
                results = await wait_for_results(
                    broker.bootstrap, load.topics.results, load.command_ids, 180, [service]
                )
            finally:
                kafka.clear()
                assert service.terminate() == 0, service.logs()[-3000:]
            verdict = check_run(load.planned, results, await simulator.request_log())
            assert verdict.problems == []
            finals = [rs[-1] for rs in results.values()]
            repeats = sum(len(rs) - 1 for rs in results.values())
            print(
                f"kafka faults: {len(finals)} commands ({before} answered before the faults, "
                f"{during} during), {summary(finals)}, {repeats} repeats"
            )
        finally:
            await simulator.set_faults()
            broker.stop()
