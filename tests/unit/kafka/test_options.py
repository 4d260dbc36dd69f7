"""Kafka client options are built once from the settings; the broker's FastStream security
object is a translation of the same options."""

from __future__ import annotations

from faststream.security import BaseSecurity, SASLScram256
from pydantic import SecretStr

from service.kafka.adapter import security
from service.kafka.options import client_options
from service.settings import KafkaSettings

SCRAM = KafkaSettings(
    security_protocol="SASL_SSL",
    sasl_mechanism="SCRAM-SHA-256",
    sasl_username="svc",
    sasl_password=SecretStr("pw"),
)


def test_plain_clients_connect_like_the_broker() -> None:
    assert client_options(KafkaSettings(bootstrap_servers="k:9092")) == {
        "bootstrap_servers": "k:9092"
    }
    sasl = client_options(SCRAM)
    assert sasl["security_protocol"] == "SASL_SSL"
    assert sasl["sasl_mechanism"] == "SCRAM-SHA-256"
    assert sasl["sasl_plain_username"] == "svc"
    assert sasl["sasl_plain_password"] == "pw"
    assert sasl["ssl_context"] is not None


def test_sasl_without_tls_has_no_ssl_context() -> None:
    plain = client_options(
        KafkaSettings(
            security_protocol="SASL_PLAINTEXT",
            sasl_mechanism="PLAIN",
            sasl_username="svc",
            sasl_password=SecretStr("pw"),
        )
    )
    assert plain["security_protocol"] == "SASL_PLAINTEXT"
    assert plain["sasl_mechanism"] == "PLAIN"
    assert plain["ssl_context"] is None


def test_the_broker_security_is_the_same_options() -> None:
    assert security(KafkaSettings()) is None
    scram = security(SCRAM)
    assert isinstance(scram, SASLScram256)
    assert (scram.username, scram.password, scram.use_ssl) == ("svc", "pw", True)
    assert scram.ssl_context is not None
    tls = security(KafkaSettings(security_protocol="SSL"))
    assert type(tls) is BaseSecurity
    assert tls.use_ssl
    assert tls.ssl_context is not None
