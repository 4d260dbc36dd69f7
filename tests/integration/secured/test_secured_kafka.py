"""The service, `callctl` and the topic admin against a broker that demands SASL_SSL with
SCRAM-SHA-512 on one listener and a client certificate on another; and what a wrong password,
an untrusted certificate or a missing client certificate does at start."""

from __future__ import annotations

import secrets
import uuid
from pathlib import Path

import pytest
from pydantic import SecretStr

from service.__main__ import EXIT_REFUSED
from service.kafka.options import client_options, tls_context
from service.kafka.preflight import check_broker
from service.kafka.topics import ensure_topics
from service.ops.refusals import Refused
from testkit.kafka import KafkaClient, command
from testkit.processes import SIM_KEY, SIM_SECRET, SimulatorProcess
from testkit.service import running_service, service_settings
from tests.integration.secured.support import (
    SecuredKafka,
    callctl_program,
    kafka_settings,
    mtls_env,
    run_program,
    sasl_env,
    service_program,
    with_kafka,
)

SASL_NAMES = "CALLCTL_KAFKA__SASL_USERNAME / CALLCTL_KAFKA__SASL_PASSWORD"
CALLCTL_EXIT_KAFKA = 4  # callctl's exit code for a Kafka problem (callctl --help)


def topic_env(settings_topics: object) -> dict[str, str]:
    return {
        f"CALLCTL_TOPICS__{name.upper()}": value
        for name, value in vars(settings_topics).items()
        if isinstance(value, str)
    }


async def test_service_over_mtls_with_callctl_and_topic_admin_over_sasl_ssl(
    sasl_broker: SecuredKafka, simulator: SimulatorProcess, tmp_path: Path
) -> None:
    base = service_settings(sasl_broker.mtls, simulator.url, tmp_path)
    service = with_kafka(base, kafka_settings(mtls_env(sasl_broker)))
    sasl = kafka_settings(sasl_env(sasl_broker), create_topics=True, topic_partitions=3)

    created = await ensure_topics(sasl, base.topics)
    assert sorted(created) == sorted(base.topics.model_dump().values())

    call_id = f"call-{uuid.uuid4().hex[:12]}"
    await simulator.create_call(call_id)
    async with running_service(service):
        env = {**sasl_env(sasl_broker), **topic_env(base.topics)}
        sent = await run_program(
            [callctl_program()], "send", "hangup", "--call-id", call_id, "--wait", env=env
        )
        assert sent.code == 0, sent.err
        assert "succeeded" in sent.out

        security = {k: v for k, v in client_options(sasl).items() if k != "bootstrap_servers"}
        async with KafkaClient(sasl_broker.sasl_ssl, base.topics, security=security) as client:
            other = f"call-{uuid.uuid4().hex[:12]}"
            await simulator.create_call(other)
            cmd = command(other, "hangup")
            await client.send(cmd)
            [result] = (await client.results_for([cmd["commandId"]])).values()
            assert result["outcome"] == "succeeded"

    hangups = [r for r in await simulator.requests() if r["method"] == "PATCH"]
    assert {r["callId"] for r in hangups} == {call_id, other}


async def test_a_wrong_sasl_password_stops_the_service_with_one_line(
    sasl_broker: SecuredKafka, tmp_path: Path
) -> None:
    wrong = secrets.token_hex(8)
    env = {
        **sasl_env(sasl_broker, CALLCTL_KAFKA__SASL_PASSWORD=wrong),
        "CALLCTL_SINCH__APPLICATION_KEY": SIM_KEY,
        "CALLCTL_SINCH__APPLICATION_SECRET": SIM_SECRET,
        "CALLCTL_IDEMPOTENCY__SQLITE_PATH": str(tmp_path / "idem.sqlite3"),
        "CALLCTL_HTTP_PORT": "0",
        "CALLCTL_LOG_FORMAT": "json",
    }
    run = await run_program(service_program(), env=env)
    assert run.code == EXIT_REFUSED, run.err
    assert run.err.strip().splitlines()[-1] == (
        f"call-control: cannot start: {SASL_NAMES}: the broker refused the SCRAM-SHA-512 "
        "credentials (wrong user or password)"
    )
    assert "Traceback" not in run.err
    assert wrong not in run.out + run.err
    assert sasl_broker.password not in run.out + run.err


async def test_callctl_names_the_setting_for_a_wrong_password_or_an_untrusted_ca(
    sasl_broker: SecuredKafka,
) -> None:
    wrong = secrets.token_hex(8)
    env = sasl_env(sasl_broker, CALLCTL_KAFKA__SASL_PASSWORD=wrong)
    run = await run_program([callctl_program()], "results", "--limit", "1", env=env)
    assert run.code == CALLCTL_EXIT_KAFKA
    assert f"{SASL_NAMES}: the broker refused" in run.err
    assert wrong not in run.out + run.err

    env = sasl_env(sasl_broker, CALLCTL_KAFKA__SSL_CAFILE=str(sasl_broker.pki.untrusted_ca))
    run = await run_program([callctl_program()], "results", "--limit", "1", env=env)
    assert run.code == CALLCTL_EXIT_KAFKA
    assert "CALLCTL_KAFKA__SSL_CAFILE: the broker's certificate is not trusted" in run.err
    assert sasl_broker.password not in run.out + run.err


async def test_an_untrusted_broker_certificate_stops_the_start(
    sasl_broker: SecuredKafka, simulator: SimulatorProcess, tmp_path: Path
) -> None:
    untrusted = str(sasl_broker.pki.untrusted_ca)
    kafka = kafka_settings(sasl_env(sasl_broker, CALLCTL_KAFKA__SSL_CAFILE=untrusted))
    settings = with_kafka(service_settings(sasl_broker.sasl_ssl, simulator.url, tmp_path), kafka)
    with pytest.raises(Refused) as refused:
        async with running_service(settings):
            pytest.fail("the service started with an untrusted broker certificate")
    assert str(refused.value) == (
        "CALLCTL_KAFKA__SSL_CAFILE: the broker's certificate is not trusted "
        "(self-signed certificate in certificate chain)"
    )


async def test_the_mtls_listener_refuses_a_client_without_its_certificate(
    sasl_broker: SecuredKafka,
) -> None:
    no_certificate = kafka_settings(
        mtls_env(sasl_broker),
        ssl_certfile=None,
        ssl_keyfile=None,
        ssl_key_password=None,
    )
    with pytest.raises(Refused) as refused:
        await check_broker(no_certificate)
    assert refused.value.setting == "CALLCTL_KAFKA__SSL_CERTFILE (unset)"
    assert "the broker refused the TLS handshake" in refused.value.reason

    await check_broker(kafka_settings(mtls_env(sasl_broker)))  # with it: accepted


def test_a_wrong_client_key_password_names_the_settings_not_the_value(
    sasl_broker: SecuredKafka,
) -> None:
    wrong = secrets.token_hex(8)
    settings = kafka_settings(mtls_env(sasl_broker), ssl_key_password=SecretStr(wrong))
    with pytest.raises(Refused) as refused:
        tls_context(settings)
    assert "CALLCTL_KAFKA__SSL_KEY_PASSWORD" in refused.value.setting
    assert "do not load" in refused.value.reason
    assert wrong not in str(refused.value)
