"""One connection to the broker before any client starts, to tell a refusal from an outage.

aiokafka logs why a bootstrap failed and then raises a bare "Unable to bootstrap"; this opens a
single connection with the same security options and asks the broker for its API versions, so
a wrong SASL password, an untrusted broker certificate or a refused client certificate becomes
a `Refused` naming the setting. A broker that does not answer at all is not judged
here: the clients' own connection handling reports it.
"""

from __future__ import annotations

import ssl
from typing import Any

from aiokafka.conn import collect_hosts, create_conn
from aiokafka.errors import (
    IllegalSaslStateError,
    KafkaError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)
from aiokafka.protocol.admin import ApiVersionRequest

from service.kafka.options import client_options
from service.ops.refusals import Refused
from service.settings import KafkaSettings

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
