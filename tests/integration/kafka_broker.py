"""Which Kafka broker the integration tests use, in this order:

1. the one named by `CALLCTL_TEST_KAFKA` (host:port), e.g. `deploy/kafka.sh start`'s 127.0.0.1:9092;
2. a Kafka container, when a Docker engine answers: `CALLCTL_TEST_KAFKA_IMAGE`, by default the
   local `call-control-kafka:dev` of `make images` (run by `call_control_testing.KafkaContainer`);
   another image name is taken for a registry image and run by testcontainers' own
   `KafkaContainer`;
3. none: the tests fail (never skip) with a message saying how to start one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

ENV_BROKER = "CALLCTL_TEST_KAFKA"
ENV_IMAGE = "CALLCTL_TEST_KAFKA_IMAGE"
LOCAL_IMAGE = "call-control-kafka:dev"
HOW_TO = (
    "no Kafka broker for the integration tests: run `deploy/kafka.sh start` and set "
    f"{ENV_BROKER}=127.0.0.1:9092 (`make test` does both), or start a Docker engine so that "
    "testcontainers can run one (`make images` builds the local Kafka image)"
)


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
    except Exception:
        return False
    return True


@contextmanager
def kafka_broker() -> Iterator[str]:
    named = os.environ.get(ENV_BROKER)
    if named:
        yield named
        return
    if _docker_answers():
        image = os.environ.get(ENV_IMAGE, LOCAL_IMAGE)
        if image.split(":")[0].endswith(LOCAL_IMAGE.split(":")[0]):
            # built here, no registry: nothing to pull, not even testcontainers' reaper
            os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
            from call_control_testing import KafkaContainer as LocalKafka

            with LocalKafka(image) as local:
                yield local.get_bootstrap_server()
            return
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer(image).with_kraft() as container:
            yield container.get_bootstrap_server()
        return
    pytest.fail(HOW_TO, pytrace=False)
