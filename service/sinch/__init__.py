"""Client for the Sinch Voice Calling API v1 (the Calls endpoints).

Modules: ``auth`` (signed and Basic), ``errors`` (the taxonomy), ``hosts`` (regions),
``client`` (one attempt per ``send``). Nothing here imports Kafka or the rest of ``service``.
"""

from service.sinch.auth import (
    CONTENT_TYPE,
    Authenticator,
    BasicAuth,
    SignedAuth,
    content_md5,
    decode_secret,
    sign,
    string_to_sign,
    utc_timestamp,
)
from service.sinch.client import (
    CALL_LEGS,
    SinchClient,
    SinchRequest,
    SinchResponse,
    build_http_client,
    call_path,
)
from service.sinch.errors import (
    SinchError,
    SinchErrorBody,
    SinchInvalidRequestError,
    SinchResponseDecodeError,
    SinchTransportError,
    header_reference,
    parse_error_body,
)
from service.sinch.hosts import (
    DEFAULT_REGIONAL_TEMPLATE,
    GLOBAL_BASE_URL,
    REGIONS,
    base_url_for,
)

__all__ = [
    "CALL_LEGS",
    "CONTENT_TYPE",
    "DEFAULT_REGIONAL_TEMPLATE",
    "GLOBAL_BASE_URL",
    "REGIONS",
    "Authenticator",
    "BasicAuth",
    "SignedAuth",
    "SinchClient",
    "SinchError",
    "SinchErrorBody",
    "SinchInvalidRequestError",
    "SinchRequest",
    "SinchResponse",
    "SinchResponseDecodeError",
    "SinchTransportError",
    "base_url_for",
    "build_http_client",
    "call_path",
    "content_md5",
    "decode_secret",
    "header_reference",
    "parse_error_body",
    "sign",
    "string_to_sign",
    "utc_timestamp",
]
