"""A secured broker and a secured Redis for this folder's tests: started once per session on
free ports, each with its own state dir under pytest's temporary folder, and stopped after."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.secured.support import (
    Pki,
    SecuredKafka,
    SecuredRedis,
    make_pki,
    secured_kafka,
    secured_redis,
)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def sasl_broker(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[SecuredKafka]:
    with secured_kafka(tmp_path_factory.mktemp("secured-kafka"), pki) as broker:
        yield broker


@pytest.fixture(scope="session")
def tls_redis(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[SecuredRedis]:
    with secured_redis(tmp_path_factory.mktemp("secured-redis"), pki) as server:
        yield server
