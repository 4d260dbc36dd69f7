"""Creating the contract's topics when they are missing (`CALLCTL_KAFKA__CREATE_TOPICS`).

Off by default: in production, topics belong to whoever runs the cluster. On for local runs and
tests, where it gets the cleanup policies right (the snapshots topic is compacted), which a
broker's auto-creation would not.
"""

from __future__ import annotations

import contextlib

import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from service.kafka.options import client_options
from service.settings import KafkaSettings, TopicSettings

log = structlog.get_logger(logger_name="service.kafka.topics")


def contract_topics(topics: TopicSettings, *, partitions: int, replication: int) -> list[NewTopic]:
    def topic(name: str, cleanup: str) -> NewTopic:
        return NewTopic(name, partitions, replication, topic_configs={"cleanup.policy": cleanup})

    return [
        topic(topics.commands, "delete"),
        topic(topics.results, "delete"),
        topic(topics.snapshots, "compact"),
        topic(topics.dead_letter, "delete"),
        topic(topics.events, "delete"),
        topic(topics.conferences, "compact"),
    ]


async def ensure_topics(kafka: KafkaSettings, topics: TopicSettings) -> list[str]:
    """Create the missing topics; returns the names created."""
    admin = AIOKafkaAdminClient(client_id=f"{kafka.client_id}-admin", **client_options(kafka))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = contract_topics(
            topics, partitions=kafka.topic_partitions, replication=kafka.topic_replication_factor
        )
        missing = [t for t in wanted if t.name not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another replica won the race
                await admin.create_topics(missing)
            log.info("topics_created", topics=[t.name for t in missing])
        return [t.name for t in missing]
    finally:
        await admin.close()
