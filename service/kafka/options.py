"""aiokafka client options (connection and security) from `KafkaSettings`, without FastStream.

Every Kafka client of the project connects through these: the topic admin, the start-up
preflight, `callctl`'s producers and readers, and (translated in `service.kafka.adapter`) the
FastStream broker. One translation of the settings, so no client can connect differently.
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from typing import Any

from service.ops.refusals import Refused
from service.settings import KafkaSettings

PREFIX = "CALLCTL_KAFKA__"


def tls_context(settings: KafkaSettings) -> ssl.SSLContext:
    """Verifies the broker against `ssl_cafile` (else the system's CAs); with `ssl_certfile`,
    presents that client certificate too (mutual TLS). A file that does not load is `Refused`,
    naming its setting."""
    try:
        context = ssl.create_default_context(cafile=_path(settings.ssl_cafile))
    except (OSError, ssl.SSLError) as error:
        raise Refused(f"{PREFIX}SSL_CAFILE", f"cannot load it ({_why(error)})") from None
    if settings.ssl_certfile is None:
        return context
    password = settings.ssl_key_password
    for name, value in (
        ("SSL_CERTFILE", settings.ssl_certfile),
        ("SSL_KEYFILE", settings.ssl_keyfile),
    ):
        if value is not None and not os.access(value, os.R_OK):
            raise Refused(f"{PREFIX}{name}", "no readable file there")
    try:
        # a callable password: OpenSSL never prompts on a terminal for an encrypted key
        context.load_cert_chain(
            str(settings.ssl_certfile),
            _path(settings.ssl_keyfile),
            password=lambda: password.get_secret_value() if password else "",
        )
    except ssl.SSLError as error:
        raise Refused(
            f"{PREFIX}SSL_CERTFILE / {PREFIX}SSL_KEYFILE / {PREFIX}SSL_KEY_PASSWORD",
            f"the client certificate and key do not load ({_why(error)}: a wrong key "
            "password, or a key that is not the certificate's)",
        ) from None
    return context


def _path(value: Path | None) -> str | None:
    return str(value) if value else None


def _why(error: OSError) -> str:
    return str(error.strerror or getattr(error, "reason", None) or type(error).__name__)


def client_options(settings: KafkaSettings) -> dict[str, Any]:
    """Keyword arguments for any aiokafka client (producer, consumer, admin, connection).
    Raises `Refused` when a TLS file does not load."""
    options: dict[str, Any] = {"bootstrap_servers": settings.bootstrap_servers}
    protocol = settings.security_protocol
    if protocol == "PLAINTEXT":
        return options
    options["security_protocol"] = protocol
    options["ssl_context"] = tls_context(settings) if protocol.endswith("SSL") else None
    if protocol.startswith("SASL"):
        password = settings.sasl_password.get_secret_value() if settings.sasl_password else ""
        options["sasl_mechanism"] = settings.sasl_mechanism
        options["sasl_plain_username"] = settings.sasl_username or ""
        options["sasl_plain_password"] = password
    return options
