"""The Redis idempotency store and the service against a Redis that takes TLS only and wants a
password; a wrong password or an untrusted certificate stops the start with one clear line."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from pydantic import SecretStr

from service.idempotency.redis_store import RedisStore
from service.idempotency.store import IdempotencyStore
from service.ops.refusals import Refused
from service.settings import IdempotencySettings, Settings
from testkit.kafka import KafkaClient, command
from testkit.processes import SimulatorProcess
from testkit.service import running_service, service_settings
from tests.integration.secured.support import SecuredRedis
from tests.store_contract import CHECKS, StoreFactory


def with_redis(settings: Settings, url: str, key_prefix: str = "it:") -> Settings:
    redis_store = IdempotencySettings(
        backend="redis", redis_url=SecretStr(url), key_prefix=key_prefix
    )
    return settings.model_copy(update={"idempotency": redis_store})


def tls_store_factory(server: SecuredRedis) -> StoreFactory:
    prefix = f"test:{uuid.uuid4().hex}:"

    async def make(clock: Callable[[], float]) -> IdempotencyStore:
        store = RedisStore(
            server.url(), key_prefix=prefix, lease_s=10, retention_s=3600, clock=clock
        )
        await store.open()
        return store

    return make


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
async def test_the_store_contract_holds_over_tls(
    check: Callable[[StoreFactory], object], tls_redis: SecuredRedis
) -> None:
    await check(tls_store_factory(tls_redis))  # type: ignore[misc]


async def test_the_service_keeps_its_claims_in_the_tls_redis(
    kafka: str, simulator: SimulatorProcess, tls_redis: SecuredRedis, tmp_path: Path
) -> None:
    prefix = f"it:{uuid.uuid4().hex[:8]}:"
    settings = with_redis(
        service_settings(kafka, simulator.url, tmp_path), tls_redis.url(), key_prefix=prefix
    )
    call_id = f"call-{uuid.uuid4().hex[:12]}"
    await simulator.create_call(call_id)
    cmd = command(call_id, "hangup")
    async with running_service(settings), KafkaClient(kafka, settings.topics) as client:
        await client.send(cmd)
        await client.send(cmd)  # the same command again: answered from Redis
        await client.collect(lambda _: len(client.results()) == 2)
    first, second = client.results()
    assert first["outcome"] == second["outcome"] == "succeeded"
    patches = [r for r in await simulator.requests(call_id) if r["method"] == "PATCH"]
    assert len(patches) == 1, "the repeated command was answered from Redis, not re-run"

    with redis.Redis.from_url(tls_redis.url()) as direct:
        assert direct.hget(prefix + cmd["commandId"], "result") is not None


@pytest.mark.parametrize("problem", ["wrong password", "untrusted certificate"])
async def test_a_refused_redis_stops_the_start_naming_the_url_setting(
    problem: str, kafka: str, simulator: SimulatorProcess, tls_redis: SecuredRedis, tmp_path: Path
) -> None:
    wrong = secrets.token_hex(8)
    url = (
        tls_redis.url(password=wrong)
        if problem == "wrong password"
        else tls_redis.url(ca=tls_redis.pki.untrusted_ca)
    )
    settings = with_redis(service_settings(kafka, simulator.url, tmp_path), url)
    with pytest.raises(Refused) as refused:
        async with running_service(settings):
            pytest.fail(f"the service started with a {problem}")
    assert refused.value.setting == "CALLCTL_IDEMPOTENCY__REDIS_URL"
    expected = "refused the password" if problem == "wrong password" else "is not trusted"
    assert expected in refused.value.reason
    assert wrong not in str(refused.value)
    assert tls_redis.password not in str(refused.value)
