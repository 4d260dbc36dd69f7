"""How a failed first connection is judged: a refusal names the setting, an outage is not ours."""

from __future__ import annotations

import ssl
from pathlib import Path
from types import SimpleNamespace

import pytest
from aiokafka.errors import KafkaConnectionError, SaslAuthenticationFailed
from pydantic import SecretStr

from service.kafka.options import tls_context
from service.kafka.preflight import MISSING, _problems, _refusal, topic_problems
from service.ops.refusals import Refused
from service.settings import KafkaSettings

SASL = KafkaSettings(
    security_protocol="SASL_SSL", sasl_username="u", sasl_password=SecretStr("pw-xyz")
)


def test_a_refused_password_names_both_sasl_settings() -> None:
    refused = _refusal(SASL, SaslAuthenticationFailed())
    assert refused is not None
    assert refused.setting == "CALLCTL_KAFKA__SASL_USERNAME / CALLCTL_KAFKA__SASL_PASSWORD"
    assert "pw-xyz" not in str(refused)


def test_an_untrusted_certificate_names_the_ca_file() -> None:
    error = ssl.SSLCertVerificationError(1, "certificate verify failed")
    error.verify_message = "self-signed certificate in certificate chain"
    refused = _refusal(SASL, error)
    assert refused is not None
    assert refused.setting == "CALLCTL_KAFKA__SSL_CAFILE"
    assert "self-signed certificate" in refused.reason


def test_an_outage_is_not_a_refusal() -> None:
    assert _refusal(SASL, ConnectionRefusedError(111, "Connection refused")) is None
    assert _refusal(SASL, KafkaConnectionError("Unable to bootstrap")) is None


def test_a_missing_ca_file_is_refused_by_name(tmp_path: Path) -> None:
    settings = KafkaSettings(security_protocol="SSL", ssl_cafile=tmp_path / "absent.pem")
    with pytest.raises(Refused) as refused:
        tls_context(settings)
    assert refused.value.setting == "CALLCTL_KAFKA__SSL_CAFILE"
    assert str(tmp_path) not in str(refused.value)


def test_a_missing_client_certificate_file_is_refused_by_name(tmp_path: Path) -> None:
    settings = KafkaSettings(security_protocol="SSL", ssl_certfile=tmp_path / "absent.pem")
    with pytest.raises(Refused) as refused:
        tls_context(settings)
    assert refused.value.setting == "CALLCTL_KAFKA__SSL_CERTFILE"


def test_missing_and_forbidden_output_topics_are_named_with_the_permission() -> None:
    problems = topic_problems(
        [(0, "results", False, []), (3, "dead", False, []), (29, "snapshots", False, [])]
    )
    assert set(problems) == {"dead", "snapshots"}
    assert "does not exist" in problems["dead"]
    assert "WRITE" in problems["snapshots"] and "DESCRIBE" in problems["snapshots"]


class FakeConn:
    """Answers a metadata request, then a broker-config request (auto-creation on or off)."""

    def __init__(self, auto_create: str | None) -> None:
        self.auto_create = auto_create

    async def send(self, request: object) -> object:
        if type(request).__name__ == "MetadataRequest":
            topics: list[tuple[object, ...]] = [(0, "results", False, []), (3, "dead", False, [])]
            return SimpleNamespace(topics=topics, brokers=[(1, "h", 9092, None)])
        if self.auto_create is None:
            raise PermissionError("DESCRIBE_CONFIGS denied")
        entries: list[tuple[object, ...]] = [
            ("auto.create.topics.enable", self.auto_create, True, 4, False, [])
        ]
        return SimpleNamespace(resources=[(0, "", 4, "1", entries)])


async def test_a_missing_topic_counts_only_where_the_broker_will_not_create_it() -> None:
    assert await _problems(FakeConn("false"), ["results", "dead"]) == {"dead": MISSING}
    assert await _problems(FakeConn(None), ["results", "dead"]) == {"dead": MISSING}
    assert await _problems(FakeConn("true"), ["results", "dead"]) == {}
