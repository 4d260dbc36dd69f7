"""Errors of the Sinch Calling API client.

The whole tree, drawn once::

    SinchError                          base; never raised itself
    ├── SinchTransportError             no HTTP response arrived
    │   │                               .request_sent  could Sinch have acted on it?
    │   │                               .timeout       was it a timeout?
    │   │                               .error_type    the httpx exception's class name
    │   └── SinchInvalidRequestError    we could not put it on the wire at all (bad URL,
    │                                   header or scheme): request_sent=False, and a
    │                                   retry will fail the same way
    └── SinchResponseDecodeError        a response arrived, but its body is not the complete
                                        JSON the caller asked for (SinchResponse.json());
                                        also a ValueError, as json.JSONDecodeError is

    ValueError                          bad arguments or settings (call ids, regions, base URLs,
                                        secrets): a bug or a bad configuration, not an outcome

An HTTP error status is not an exception: ``SinchClient.send`` returns a ``SinchResponse`` for
every status (3xx included, since redirects are never followed), and ``parse_error_body`` turns
an error body into a ``SinchErrorBody``. What to retry is the retry policy's decision.

Which httpx failure means "maybe sent" (request_sent=True) — the question that decides whether
a non-idempotent PATCH (``say``, ``playFiles``) may be replayed:

    httpx exception        request_sent  why
    ConnectError           False         TCP or TLS set-up failed; no request byte left
    ConnectTimeout         False         same, timed out
    PoolTimeout            False         waited for a pooled connection; nothing written
    ProxyError             False         the proxy refused the CONNECT tunnel to Sinch
    UnsupportedProtocol,
    LocalProtocolError,
    InvalidURL             False         refused locally before writing (SinchInvalidRequestError)
    WriteTimeout           True          asyncio buffers the whole write and the timeout only
                                         covers waiting for the buffer to drain, so the full
                                         request may still leave while the socket is closed
    WriteError             True          part or all of the request was written; the peer may
                                         have answered early and closed
    ReadTimeout, ReadError True          the request was written; only the answer is missing
    RemoteProtocolError    True          includes "server disconnected without a response",
                                         which is ambiguous (it may have processed the request)
    CloseError and any
    other TransportError   True          unknown, so assume the worst

A keep-alive race (Sinch closing an idle connection as we reuse it) shows up as ReadError or
RemoteProtocolError and is therefore reported as maybe-sent, although Sinch most likely did
not act: the price of never replaying a PATCH that could have been applied.
"""

from __future__ import annotations

import asyncio
import http
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp
import httpx

__all__ = [
    "SinchError",
    "SinchErrorBody",
    "SinchInvalidRequestError",
    "SinchResponseDecodeError",
    "SinchTransportError",
    "deadline_error",
    "library_error_from",
    "parse_error_body",
    "transport_error_from",
]


class SinchError(Exception):
    """Base of every error raised by ``service.sinch``."""


class SinchTransportError(SinchError):
    """No HTTP response arrived.

    ``request_sent`` is False only when Sinch provably cannot have acted on the request, so a
    non-idempotent PATCH may be retried; True means the outcome is unknown. The message names
    the method, path and host, never a header or credential.
    """

    def __init__(self, message: str, *, request_sent: bool, timeout: bool, error_type: str) -> None:
        super().__init__(message)
        self.request_sent = request_sent
        self.timeout = timeout
        self.error_type = error_type

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({str(self)!r}, request_sent={self.request_sent}, "
            f"timeout={self.timeout}, error_type={self.error_type!r})"
        )


class SinchInvalidRequestError(SinchTransportError):
    """The request was refused locally before any byte was written; retrying cannot help."""

    def __init__(self, message: str, *, error_type: str) -> None:
        super().__init__(message, request_sent=False, timeout=False, error_type=error_type)


class SinchResponseDecodeError(SinchError, ValueError):
    """The response body is incomplete or is not valid JSON."""


# Order matters: ConnectTimeout and PoolTimeout are TimeoutExceptions, ConnectError a NetworkError.
_NOT_SENT: tuple[type[httpx.TransportError], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.ProxyError,
)
_INVALID: tuple[type[Exception], ...] = (
    httpx.UnsupportedProtocol,
    httpx.LocalProtocolError,
    httpx.InvalidURL,
)

_MAX_CAUSE_CHARS = 200


def _from_aiohttp(cause: BaseException | None) -> tuple[bool, bool] | None:
    """(request_sent, timeout) read from the aiohttp error behind an httpx one.

    The httpx error a transport chose is coarser than aiohttp's (the `httpx_aiohttp` bridge
    mapped every `ClientConnectionError` to `httpx.ConnectTimeout`, even a connection dropped
    after the request was written, which taken at its word would repeat a PATCH Sinch may
    have acted on). The original error says what happened, whatever the transport.
    """
    if not isinstance(cause, aiohttp.ClientError | asyncio.TimeoutError):
        return None
    if isinstance(cause, aiohttp.ClientConnectorError):
        return False, False  # no connection: nothing was written
    if isinstance(cause, aiohttp.ConnectionTimeoutError):
        return False, True  # waiting for a pooled or new connection
    if isinstance(cause, aiohttp.ServerTimeoutError | asyncio.TimeoutError):
        return True, True  # the request was written; the answer did not come in time
    return True, False


def transport_error_from(
    exc: Exception, *, method: str, path: str, host: str
) -> SinchTransportError:
    """Classify an httpx failure that happened before any response status arrived."""
    error_type = type(exc).__name__
    # The httpx text comes from the network stack, never from headers; capped all the same.
    detail = _printable(str(exc), _MAX_CAUSE_CHARS) or "no detail"
    message = f"{method} {path} on {host}: {error_type}: {detail}"
    if isinstance(exc, _INVALID):
        return SinchInvalidRequestError(message, error_type=error_type)
    underlying = _from_aiohttp(exc.__cause__)
    if underlying is not None:
        sent, timed_out = underlying
        cause_type = type(exc.__cause__).__name__
        return SinchTransportError(
            f"{method} {path} on {host}: {cause_type}: {detail}",
            request_sent=sent,
            timeout=timed_out,
            error_type=cause_type,
        )
    return SinchTransportError(
        message,
        request_sent=not isinstance(exc, _NOT_SENT),
        timeout=isinstance(exc, httpx.TimeoutException),
        error_type=error_type,
    )


def deadline_error(*, method: str, path: str, host: str) -> SinchTransportError:
    """The attempt's own deadline passed before an answer's head arrived: the request may be
    written, so it may have been acted on."""
    return SinchTransportError(
        f"{method} {path} on {host}: no answer within the attempt's deadline",
        request_sent=True,
        timeout=True,
        error_type="AttemptDeadline",
    )


def library_error_from(exc: Exception, *, method: str, path: str, host: str) -> SinchTransportError:
    """Classify a failure the transport did not turn into an httpx error (an aiohttp error it
    does not map, such as a response header over aiohttp's limit; an OS or TLS error). Only
    a failure to connect proves nothing was sent."""
    error_type = type(exc).__name__
    detail = _printable(str(exc), _MAX_CAUSE_CHARS) or "no detail"
    underlying = _from_aiohttp(exc)
    if underlying is None:
        not_sent = isinstance(exc, ConnectionRefusedError)
        underlying = (not not_sent, isinstance(exc, TimeoutError))
    sent, timed_out = underlying
    return SinchTransportError(
        f"{method} {path} on {host}: {error_type}: {detail}",
        request_sent=sent,
        timeout=timed_out,
        error_type=error_type,
    )


@dataclass(frozen=True, slots=True)
class SinchErrorBody:
    """What an error response says, as far as it can be read.

    Sinch's documented shape is ``{"status", "errorCode", "message", "reference"}``; every field
    is optional here. ``error_code`` is the numeric code (from an int or a numeric string);
    ``error_code_raw`` keeps whatever was sent, so a non-numeric code is not lost.
    """

    status_code: int
    error_code: int | None = None
    error_code_raw: str | None = None
    message: str | None = None
    reference: str | None = None
    status_text: str | None = None


# Sinch error bodies are a few hundred bytes; past this we do not try to parse JSON at all.
_MAX_JSON_BYTES = 64 * 1024
_MAX_EXCERPT_INPUT = 4096
_MAX_MESSAGE_CHARS = 300
_MAX_FIELD_CHARS = 120
_ERROR_CODE = re.compile(r"[0-9]{1,9}")
_TAG = re.compile(r"<[^<>]{0,512}>")
# Lone surrogates (JSON's "\ud800") are not printable either: they cannot be written as UTF-8.
_NOT_PRINTABLE = re.compile(r"[^\x20-\x7e\u00a0-\ud7ff\ue000-\U0010ffff]+")
_SPACES = re.compile(r"\s+")


def parse_error_body(status_code: int, body: bytes) -> SinchErrorBody:
    """Read an error response body. Tolerates anything and never raises.

    The message is, in order of preference: the JSON ``message``; a short printable excerpt
    of the body (HTML tags dropped); the HTTP reason phrase; None.
    """
    document = _json_object(body)
    raw_code = document.get("errorCode")
    error_code_raw = _scalar_text(raw_code)
    message = _text(document.get("message"), _MAX_MESSAGE_CHARS)
    if message is None:
        message = _excerpt(body) or _reason_phrase(status_code)
    return SinchErrorBody(
        status_code=status_code,
        error_code=_error_code(raw_code),
        error_code_raw=error_code_raw,
        message=message,
        reference=_text(document.get("reference"), _MAX_FIELD_CHARS),
        status_text=_text(document.get("status"), _MAX_FIELD_CHARS),
    )


def header_reference(headers: Mapping[str, str]) -> str | None:
    """An ``x-request-id`` response header, printable and capped: the id to give Sinch support
    when an error body has no ``reference`` (DOC-ERR documents only the body's)."""
    return _text(headers.get("x-request-id"), _MAX_FIELD_CHARS)


def _json_object(body: bytes) -> dict[str, object]:
    if not body.strip() or len(body) > _MAX_JSON_BYTES:
        return {}
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return {}
    return document if isinstance(document, dict) else {}


def _error_code(value: object) -> int | None:
    if isinstance(value, bool):  # JSON true is an int to Python
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e9:
        return int(value)
    if isinstance(value, str) and _ERROR_CODE.fullmatch(value.strip()):
        return int(value.strip())
    return None


def _scalar_text(value: object) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return _printable(str(value), _MAX_FIELD_CHARS) or None


def _text(value: object, limit: int) -> str | None:
    if not isinstance(value, str):
        return None
    return _printable(value, limit) or None


def _excerpt(body: bytes) -> str | None:
    text = body[:_MAX_EXCERPT_INPUT].decode("utf-8", errors="replace")
    return _printable(_TAG.sub(" ", text), _MAX_MESSAGE_CHARS) or None


def _printable(text: str, limit: int) -> str:
    """One line, no control characters (log injection), at most ``limit`` characters."""
    text = _NOT_PRINTABLE.sub(" ", text[: limit * 4])
    if not text.isprintable():  # format characters (U+202E reorders a line), private use
        text = "".join(char if char.isprintable() else " " for char in text)
    text = _SPACES.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _reason_phrase(status_code: int) -> str | None:
    try:
        return http.HTTPStatus(status_code).phrase
    except ValueError:
        return None
