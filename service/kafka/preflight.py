"""One connection to the broker before any client starts, to tell a refusal from an outage,
and a look at the output topics, so a missing or forbidden one is named at start.

aiokafka logs why a bootstrap failed and then raises a bare "Unable to bootstrap"; this opens a
single connection with the same security options and asks the broker for its API versions, so
a wrong SASL password, an untrusted broker certificate or a refused client certificate becomes
a `Refused` naming the setting. A broker that does not answer at all is not judged
here: the clients' own connection handling reports it.
"""

from __future__ import annotations

import ssl
from typing import Any

import structlog
from aiokafka.conn import collect_hosts, create_conn
from aiokafka.errors import (
    IllegalSaslStateError,
    KafkaError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)
from aiokafka.protocol.admin import ApiVersionRequest, DescribeConfigsRequest
from aiokafka.protocol.metadata import MetadataRequest

from service.kafka.options import client_options
from service.ops.refusals import Refused
from service.settings import KafkaSettings

log = structlog.get_logger(logger_name="service.kafka.preflight")
PREFIX = "CALLCTL_KAFKA__"
TIMEOUT_MS = 10_000


async def check_broker(settings: KafkaSettings) -> None:
    """Raises `Refused` when a bootstrap server refuses this client's security."""
    options = {k: v for k, v in client_options(settings).items() if k != "bootstrap_servers"}
    for host, port, _ in collect_hosts(settings.bootstrap_servers, randomize=False):
        try:
            await _ask_versions(host, port, options)
        except Exception as error:  # sorted below: what is not a refusal is not ours to judge
            refused = _refusal(settings, error)
            if refused is not None:
                raise refused from None
            continue
        return


UNKNOWN_TOPIC = 3
TOPIC_AUTHORIZATION_FAILED = 29
BROKER_RESOURCE = 4
AUTO_CREATE = "auto.create.topics.enable"
MISSING = "topic does not exist (and is not created automatically)"


async def output_topic_problems(settings: KafkaSettings, names: list[str]) -> dict[str, str]:
    """What stops this service writing its output topics, by topic: missing (on a broker that
    does not create topics on first use), or not visible to this client. Empty when all are
    there, or when no broker answered (the clients report an outage). Metadata cannot show a
    WRITE permission: a denied write is reported when it happens
    (`service.delivery.publishing`)."""
    options = {k: v for k, v in client_options(settings).items() if k != "bootstrap_servers"}
    for host, port, _ in collect_hosts(settings.bootstrap_servers, randomize=False):
        try:
            conn = await create_conn(host, port, request_timeout_ms=TIMEOUT_MS, **options)
        except Exception as error:  # an outage or a refusal: `check_broker` judged it already
            log.info("topic_check_skipped", host=host, error=type(error).__name__)
            continue
        try:
            return await _problems(conn, names)
        except Exception as error:
            log.info("topic_check_skipped", host=host, error=type(error).__name__)
        finally:
            conn.close()
    return {}


async def _problems(conn: Any, names: list[str]) -> dict[str, str]:
    # Never auto-create: a check that creates what it checks would hide the problem.
    metadata = await conn.send(MetadataRequest(names, allow_auto_topic_creation=False))
    problems = topic_problems(metadata.topics)
    missing = [name for name, why in problems.items() if why == MISSING]
    if missing and metadata.brokers and await _creates_on_first_use(conn, metadata.brokers[0][0]):
        for name in missing:  # the first publish creates it, with the broker's defaults
            del problems[name]
        log.warning("output_topics_created_on_first_use", topics=missing)
    return problems


async def _creates_on_first_use(conn: Any, broker_id: int) -> bool:
    """The broker's `auto.create.topics.enable`; False when it cannot be read."""
    try:
        answer = await conn.send(
            DescribeConfigsRequest([(BROKER_RESOURCE, str(broker_id), [AUTO_CREATE])])
        )
        for error_code, _, _, _, entries in answer.resources:
            for name, value, *_ in entries if not error_code else ():
                if name == AUTO_CREATE:
                    return bool(value == "true")
    except Exception as error:  # e.g. DESCRIBE_CONFIGS not granted: assume it does not
        log.info("auto_create_unknown", error=type(error).__name__)
    return False


def topic_problems(described: list[tuple[Any, ...]]) -> dict[str, str]:
    """Problems named from a metadata response's topics: (error_code, name, ...)."""
    problems = {}
    for error_code, name, *_ in described:
        if error_code == UNKNOWN_TOPIC:
            problems[name] = MISSING
        elif error_code == TOPIC_AUTHORIZATION_FAILED:
            problems[name] = "not authorized: this client needs DESCRIBE and WRITE on the topic"
        elif error_code:
            problems[name] = f"broker error code {error_code} for the topic"
    return problems


async def _ask_versions(host: str, port: int, options: dict[str, Any]) -> None:
    conn = await create_conn(host, port, request_timeout_ms=TIMEOUT_MS, **options)
    try:
        await conn.send(ApiVersionRequest[0]())
    finally:
        conn.close()


def _refusal(settings: KafkaSettings, error: BaseException) -> Refused | None:
    if isinstance(error, SaslAuthenticationFailed):
        return Refused(
            f"{PREFIX}SASL_USERNAME / {PREFIX}SASL_PASSWORD",
            f"the broker refused the {settings.sasl_mechanism} credentials (wrong user or "
            "password)",
        )
    if isinstance(error, UnsupportedSaslMechanismError | IllegalSaslStateError):
        return Refused(
            f"{PREFIX}SASL_MECHANISM", f"the broker does not accept {settings.sasl_mechanism}"
        )
    if isinstance(error, ssl.SSLCertVerificationError):
        return Refused(
            f"{PREFIX}SSL_CAFILE",
            f"the broker's certificate is not trusted ({error.verify_message})",
        )
    if isinstance(error, ssl.SSLError):  # the broker ended the handshake: our certificate
        unset = "" if settings.ssl_certfile else " (unset)"
        return Refused(
            f"{PREFIX}SSL_CERTFILE{unset}",
            f"the broker refused the TLS handshake ({error.reason or error})",
        )
    if isinstance(error, KafkaError) and isinstance(error.__cause__, ssl.SSLError):
        return _refusal(settings, error.__cause__)
    return None
