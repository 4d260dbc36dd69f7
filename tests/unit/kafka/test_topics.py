from __future__ import annotations

from pydantic import SecretStr

from service.kafka.topics import client_options, contract_topics
from service.settings import KafkaSettings, TopicSettings


def test_plain_clients_connect_like_the_broker() -> None:
    assert client_options(KafkaSettings(bootstrap_servers="k:9092")) == {
        "bootstrap_servers": "k:9092"
    }
    sasl = client_options(
        KafkaSettings(
            security_protocol="SASL_SSL",
            sasl_mechanism="SCRAM-SHA-256",
            sasl_username="svc",
            sasl_password=SecretStr("pw"),
        )
    )
    assert sasl["security_protocol"] == "SASL_SSL"
    assert sasl["sasl_mechanism"] == "SCRAM-SHA-256"
    assert sasl["sasl_plain_username"] == "svc"
    assert sasl["sasl_plain_password"] == "pw"
    assert sasl["ssl_context"] is not None


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
    }
