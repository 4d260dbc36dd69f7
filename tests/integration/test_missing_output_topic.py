"""A missing output topic on a broker that does not create topics on first use: the service is
not ready and says which topic, and it becomes ready once an operator creates the topic,
without a restart. A private broker (auto-create off), never the shared one."""

from __future__ import annotations

from pathlib import Path

import pytest

import service.app
from service.settings import Settings
from testkit.kafka import create_topics
from testkit.processes import SimulatorProcess
from testkit.service import running_service, service_settings, unique_topics
from testkit.waiting import eventually
from tests.integration.private_kafka import PrivateKafka


async def test_a_missing_output_topic_keeps_the_service_not_ready_until_it_exists(
    tmp_path: Path, simulator: SimulatorProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service.app, "TOPIC_RECHECK_S", 0.5)  # the operator's fix, seen soon
    broker = PrivateKafka(tmp_path / "kafka", properties={"auto.create.topics.enable": "false"})
    broker.start()
    try:
        topics = unique_topics("it")
        present = [topics.commands, topics.snapshots, topics.dead_letter, topics.conferences]
        await create_topics(broker.bootstrap, present, 1)
        base = service_settings(broker.bootstrap, simulator.url, tmp_path, topics=topics)
        settings: Settings = base.model_copy(
            update={"kafka": base.kafka.model_copy(update={"create_topics": False})}
        )
        async with running_service(settings) as running:

            def names_the_missing_topic() -> None:
                reasons = running.not_ready_reasons()
                named = [r for r in reasons if r.startswith(f"topic {topics.results}: ")]
                assert named and "does not exist" in named[0], reasons
                assert "not created automatically" in named[0], reasons
                assert not running.ready()

            await eventually(names_the_missing_topic, timeout_s=30)
            await create_topics(broker.bootstrap, [topics.results], 1)

            def ready_again() -> None:
                assert running.ready(), running.not_ready_reasons()

            await eventually(ready_again, timeout_s=30)
    finally:
        broker.stop()
