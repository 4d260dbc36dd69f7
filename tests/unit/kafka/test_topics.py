from __future__ import annotations

from service.kafka.topics import contract_topics
from service.settings import TopicSettings


def test_snapshots_are_compacted_and_the_rest_deleted() -> None:
    policies = {
        t.name: t.topic_configs["cleanup.policy"]
        for t in contract_topics(TopicSettings(), partitions=3, replication=1)
    }
    assert policies == {
        "call-control.commands.v1": "delete",
        "call-control.results.v1": "delete",
        "call-control.snapshots.v1": "compact",
        "call-control.dead-letter.v1": "delete",
        "call-control.events.v1": "delete",
        "call-control.conferences.v1": "compact",
    }
