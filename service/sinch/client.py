"""One HTTP attempt against the Sinch Calling API.

``SinchClient.send`` makes exactly one attempt: retries, backoff and budgets are a policy owned
by the caller, which calls ``send`` again (and so re-signs with a fresh timestamp).
One module, past 400 lines, on purpose: the attempt, its redirect rule and the mapping of
every transport failure to "may Sinch have acted" belong together and are tested together.

Outcomes of ``send``:

* a ``SinchResponse`` for every HTTP status. A 307/308 to a Sinch calling host is followed
  (signed afresh); any other 3xx is returned, and the caller treats it as an error.
  If the body exceeds ``max_response_bytes``, or the connection fails after the status line,
  the response is still returned, with the body read so far and ``incomplete`` saying why:
  the status decides whether Sinch acted, so a 2xx PATCH must not turn into an error.
* ``SinchTransportError`` when no response arrived (see ``errors`` for ``request_sent``).
* ``asyncio.CancelledError`` propagates; a cancelled PATCH may have been sent.

The client borrows the ``httpx.AsyncClient``; the application's lifespan opens and closes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import enum
import importlib.metadata
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Final, Literal
from urllib.parse import urljoin, urlsplit

import aiohttp
import httpx

# Paths are pure (the planner builds them); the client re-exports them and checks against them.
from service.domain.paths import CALL_LEGS, CALLING_PREFIX, call_path
from service.sinch.auth import CONTENT_TYPE, Authenticator
from service.sinch.errors import (
    SinchErrorBody,
    SinchInvalidRequestError,
    SinchResponseDecodeError,
    deadline_error,
    library_error_from,
    parse_error_body,
    transport_error_from,
)
from service.sinch.hosts import (
    GLOBAL_BASE_URL,
    REGIONS,
    base_url_for,
    default_regional_template,
    is_sinch_calling_host,
    validate_base_url,
)
from service.sinch.transport import AiohttpPoolTransport, client_session

__all__ = [
    "CALL_LEGS",
    "SinchClient",
    "SinchRequest",
    "SinchResponse",
    "build_http_client",
    "call_path",
]

_PATH_PREFIX = CALLING_PREFIX
# RFC 3986 pchar plus "/": what httpx sends unchanged, so the signed path is the sent path.
_PATH = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-Fa-f]{2})+")
_DELTA_SECONDS = re.compile(r"[0-9]{1,10}(?:\.[0-9]{1,6})?")
# Headers a caller may need; nothing else is kept.
_KEPT_HEADERS = frozenset(
    {b"content-type", b"content-length", b"date", b"location", b"retry-after", b"x-request-id"}
)
# Ours on every request; a client default or a trace header of the same name gives way.
_OWN_HEADERS = frozenset(
    {b"host", b"content-type", b"content-length", b"accept", b"accept-encoding"}
    | {b"authorization", b"x-timestamp"}
)
_FIXED_HEADERS = (
    (b"Content-Type", CONTENT_TYPE.encode("ascii")),
    (b"Accept", b"application/json"),
    # Bodies are small; identity keeps the size cap honest and spares the CPU.
    (b"Accept-Encoding", b"identity"),
)


@dataclass(frozen=True, slots=True)
class SinchRequest:
    """One request: ``path`` is already percent-encoded and is signed exactly as given."""

    method: Literal["GET", "PATCH", "POST", "DELETE"]
    path: str
    body: bytes = b""
    region: str | None = None
    # The host Sinch named for the call (callResourceUrl); checked, used when talking to Sinch.
    host: str | None = None
    # Propagation headers (W3C traceparent); they never override auth or content headers.
    trace_headers: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.method not in ("GET", "PATCH", "POST", "DELETE"):
            raise ValueError(f"method must be GET, PATCH, POST or DELETE, got {self.method!r}")
        if not isinstance(self.body, bytes):
            raise TypeError("body must be the exact bytes to send and sign")
        if self.method in ("GET", "DELETE") and self.body:
            raise ValueError(f"a {self.method} request has no body")
        if not self.path.startswith(_PATH_PREFIX) or not _PATH.fullmatch(self.path):
            raise ValueError(
                f"path must start with {_PATH_PREFIX} and be percent-encoded, "
                f"got {self.path[:80]!r}"
            )
        if any(segment in (".", "..") for segment in self.path.split("/")):
            # httpx removes dot segments, which would make the sent path differ from the signed.
            raise ValueError(f"path must not contain dot segments, got {self.path[:80]!r}")
        if self.host is not None and not _is_bare_sinch_host(self.host):
            raise ValueError(f"host must be a Sinch calling host, got {self.host[:80]!r}")
        if self.region is not None and self.region not in REGIONS:
            raise ValueError(
                f"unknown Sinch region {self.region[:20]!r}; expected one of {REGIONS}"
            )


@dataclass(frozen=True, slots=True)
class SinchResponse:
    """The response to one attempt.

    ``headers`` keeps only content-type, content-length, date, location, retry-after and
    x-request-id, with lower-case names. ``incomplete`` is None when ``body`` is the whole
    body, else why it is not: ``"size_limit"`` or the name of the httpx error that cut it.
    """

    status_code: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    elapsed_ms: float = 0.0
    incomplete: str | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def retry_after_seconds(self) -> float | None:
        """``Retry-After`` (RFC 9110 §10.2.3) as seconds from now, or None.

        Delta-seconds or an HTTP-date. A date is measured against the response's ``Date``
        header when there is one (immune to our clock's skew), else against our clock; a date
        in the past gives 0. Negative or unparsable values give None.
        """
        value = self.headers.get("retry-after")
        if value is None:
            return None
        value = value.strip()
        if _DELTA_SECONDS.fullmatch(value):
            return float(value)
        retry_at = _http_date(value)
        if retry_at is None:
            return None
        now = _http_date(self.headers.get("date", "")) or datetime.now(UTC)
        return max(0.0, (retry_at - now).total_seconds())

    @property
    def error(self) -> SinchErrorBody | None:
        """The parsed error body when the status is not 2xx (3xx included)."""
        return None if self.ok else parse_error_body(self.status_code, self.body)

    def json(self) -> object:
        """The body as JSON; ``SinchResponseDecodeError`` if it is incomplete or not JSON."""
        if self.incomplete is not None:
            raise SinchResponseDecodeError(
                f"response body is incomplete ({self.incomplete}) after {len(self.body)} bytes"
            )
        try:
            return json.loads(self.body)
        except (ValueError, RecursionError) as exc:
            raise SinchResponseDecodeError(
                f"response body is not JSON ({type(exc).__name__}, {len(self.body)} bytes)"
            ) from None


def _is_bare_sinch_host(url: str) -> bool:
    """``https://calling[-<region>].api.sinch.com``, nothing after it."""
    parts = urlsplit(url)
    return is_sinch_calling_host(url) and not (parts.path or parts.query or parts.fragment)


# Regional hosts plus the Sinch hosts named for calls: a few; past this, parsed every time.
_MAX_BASE_URLS = 64
MAX_REDIRECTS = 3
_REDIRECTS = frozenset({307, 308})  # method and body kept: safe to repeat as the same PATCH


def _redirect_target(response: SinchResponse, url: str) -> tuple[str, str] | None:
    """(host, path) of a 307/308 to a Sinch calling host and a calling path, else None."""
    location = response.headers.get("location")
    if response.status_code not in _REDIRECTS or not location:
        return None
    target = urlsplit(urljoin(url, location.strip()))
    host = f"{target.scheme}://{target.netloc}"
    if not is_sinch_calling_host(host) or target.query or target.fragment:
        return None
    path = target.path
    if not path.startswith(_PATH_PREFIX) or not _PATH.fullmatch(path):
        return None
    if any(segment in (".", "..") for segment in path.split("/")):
        return None
    return host, path


def _kept_headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """`_KEPT_HEADERS` from the raw list, lower-case names, in one pass (the first of each)."""
    kept: dict[str, str] = {}
    for name, value in raw:
        lower = name.lower()
        if lower in _KEPT_HEADERS:
            kept.setdefault(lower.decode("latin-1"), value.decode("latin-1"))
    return kept


def _http_date(value: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    # RFC 9110 dates are GMT; a zone-less one (asctime form) is GMT too.
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _user_agent() -> str:
    try:
        version = importlib.metadata.version("call-control")
    except importlib.metadata.PackageNotFoundError:
        version = "0+unknown"
    return f"call-control/{version}"


def build_http_client(
    *,
    connect_timeout: float,
    read_timeout: float,
    write_timeout: float,
    pool_timeout: float,
    max_connections: int,
    keepalive_expiry: float = 5.0,
    transport: httpx.AsyncBaseTransport | None = None,
    trust_env: bool = True,
    proxy: str | None = None,
) -> httpx.AsyncClient:
    """The process-wide ``AsyncClient`` for Sinch, tuned explicitly.

    * every timeout set on purpose; the read timeout applies per socket read, so a total
      deadline is the caller's (``asyncio.timeout``);
    * ``max_keepalive_connections = max_connections``: below that, bursts close and re-open
      TLS connections; keep ``keepalive_expiry`` under the peer's idle timeout to avoid
      reusing a connection the server is closing (reported as maybe-sent);
    * no redirects, HTTP/1.1 only;
    * the connections are aiohttp's (``service.sinch.transport``): httpcore's pool scans
      every connection on every request, which at a few hundred connections cost more CPU
      than the rest of a command (docs/decisions/0003 and 0006);
    * ``trust_env=True`` by default so ``SSL_CERT_FILE``/``SSL_CERT_DIR`` are honoured; an
      egress proxy is given as ``proxy`` (``CALLCTL_SINCH__PROXY_URL``), not read from the
      environment on every request. A given ``transport`` (tests) replaces all of this.
    """
    for name, value in (
        ("connect_timeout", connect_timeout),
        ("read_timeout", read_timeout),
        ("write_timeout", write_timeout),
        ("pool_timeout", pool_timeout),
        ("keepalive_expiry", keepalive_expiry),
    ):
        if not value > 0:
            raise ValueError(f"{name} must be positive, got {value!r}")
    if max_connections < 1:
        raise ValueError(f"max_connections must be at least 1, got {max_connections!r}")
    limits = httpx.Limits(
        max_connections=max_connections,
        max_keepalive_connections=max_connections,
        keepalive_expiry=keepalive_expiry,
    )
    client = httpx.AsyncClient(
        timeout=httpx.Timeout(
            connect=connect_timeout, read=read_timeout, write=write_timeout, pool=pool_timeout
        ),
        limits=limits,
        follow_redirects=False,
        http2=False,
        headers={"User-Agent": _user_agent()},
        transport=transport or _aiohttp_transport(limits, trust_env=trust_env, proxy=proxy),
        trust_env=trust_env,
    )
    _drop_cookie_jar(client)
    return client


def _drop_cookie_jar(client: httpx.AsyncClient) -> None:
    """httpx internal, on purpose and only here: swap in a jar that keeps nothing (see
    `_NoCookies`). httpx has no switch for it, and both the `cookies=` argument and the public
    `cookies` setter copy into a plain `Cookies`, which would go on extracting."""
    client._cookies = _NoCookies()


def _aiohttp_transport(
    limits: httpx.Limits, *, trust_env: bool, proxy: str | None
) -> AiohttpPoolTransport:
    """aiohttp's pool under httpx (`service.sinch.transport`), with no cookie jar. An egress
    proxy is named explicitly: aiohttp's `trust_env` re-reads the proxy environment on every
    request, which cost more CPU than the request itself (bench/)."""
    ssl_context = httpx.create_ssl_context(trust_env=trust_env)
    return AiohttpPoolTransport(client_session(limits, ssl_context), limits=limits, proxy=proxy)


class _NoCookies(httpx.Cookies):
    """Sinch's API is stateless: a cookie it set would be replayed on every later request,
    and reading each response for cookies costs CPU on every command for nothing (bench/)."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


class _Default(enum.Enum):
    TEMPLATE = enum.auto()


_DEFAULT_TEMPLATE: Final = _Default.TEMPLATE


class SinchClient:
    """Sends one ``SinchRequest`` per call to ``send``; see the module docstring."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        auth: Authenticator,
        *,
        base_url: str = GLOBAL_BASE_URL,
        regional_url_template: str | Literal[_Default.TEMPLATE] | None = _DEFAULT_TEMPLATE,
        max_response_bytes: int = 1_048_576,
        on_signed: Callable[[float], None] = lambda seconds: None,
        attempt_timeout_s: float = 30.0,
        head_timeout_s: float | None = None,
    ) -> None:
        """``regional_url_template`` defaults to Sinch's regional hosts when ``base_url`` is
        the global host, and to None otherwise (a simulator or proxy takes every region)."""
        if max_response_bytes < 1:
            raise ValueError(f"max_response_bytes must be at least 1, got {max_response_bytes!r}")
        if regional_url_template is _DEFAULT_TEMPLATE:
            regional_url_template = default_regional_template(validate_base_url(base_url))
        # Hosts Sinch names (callResourceUrl) are used only when talking to Sinch itself: a
        # simulator or an egress proxy takes every call, as it takes every region.
        self._sinch_hosts = regional_url_template is not None and is_sinch_calling_host(
            regional_url_template.format(region="use1")
        )
        self._http = http
        # Read once: requests are built without `build_request` (see `_http_request`).
        self._default_headers = tuple(
            (name, value) for name, value in http.headers.raw if name.lower() not in _OWN_HEADERS
        )
        self._timeouts = http.timeout.as_dict()
        self._base_urls: dict[str, httpx.URL] = {}
        self._auth = auth
        self._on_signed = on_signed  # seconds spent building and signing one request
        self._max_response_bytes = max_response_bytes
        # A total per attempt: a peer trickling its answer byte by byte never trips the read
        # timeout (it applies per read), and would hold the in-flight place past expiresAt.
        self._attempt_timeout_s = attempt_timeout_s
        # Writing the request and reading the answer's head: aiohttp has no write timeout, so
        # this is how the write timeout is honoured (`build_http_client`'s caller sets it to
        # write + read timeouts).
        self._head_timeout_s = head_timeout_s or attempt_timeout_s
        # Resolved once: a bad base URL or template fails at start-up.
        self._hosts: dict[str | None, str] = {
            region: base_url_for(
                region, base_url=base_url, regional_url_template=regional_url_template
            )
            for region in (None, *REGIONS)
        }

    def host_for(self, region: str | None, sinch_host: str | None = None) -> str:
        """The base URL that serves ``region``, or the Sinch host named for the call."""
        if sinch_host is not None and self._sinch_hosts:
            return sinch_host
        try:
            return self._hosts[region]
        except KeyError:
            raise ValueError(f"unknown Sinch region {region!r}") from None

    async def send(self, request: SinchRequest) -> SinchResponse:
        """One attempt, freshly signed. Raises only ``SinchTransportError``.

        A 307/308 to a Sinch calling host (the global host may send a call to its region) is
        followed, signed afresh for the new path, up to ``MAX_REDIRECTS`` times; any other 3xx
        is returned as it came."""
        host = self.host_for(request.region, request.host)
        for _ in range(MAX_REDIRECTS):
            response = await self._send_once(request, host)
            target = _redirect_target(response, host + request.path)
            if target is None:
                return response
            host, path = target
            request = replace(request, path=path)
        return await self._send_once(request, host)

    async def _send_once(self, request: SinchRequest, host: str) -> SinchResponse:
        signing = time.perf_counter()
        http_request = self._http_request(request, host)
        started = time.perf_counter()
        self._on_signed(started - signing)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._attempt_timeout_s
        try:
            async with asyncio.timeout_at(min(deadline, loop.time() + self._head_timeout_s)):
                response = await self._exchange(http_request)
        except httpx.TransportError as exc:
            # "from None": the httpcore/h11 frames behind the httpx error hold the raw header
            # bytes; tracebacks rendered with locals (structlog's default) must not show them.
            raise transport_error_from(
                exc, method=request.method, path=request.path, host=host
            ) from None
        except TimeoutError:
            raise deadline_error(method=request.method, path=request.path, host=host) from None
        except Exception as exc:  # what the transport does not map to httpx (aiohttp, OS, TLS)
            raise library_error_from(
                exc, method=request.method, path=request.path, host=host
            ) from None
        try:
            async with asyncio.timeout_at(deadline):
                body, incomplete = await self._read_body(response)
        except TimeoutError:  # the status came: it is the answer, with what body arrived
            body, incomplete = b"", "attempt_deadline"
        finally:
            with contextlib.suppress(Exception):
                await response.aclose()
        return SinchResponse(
            status_code=response.status_code,
            body=body,
            headers=_kept_headers(response.headers.raw),
            elapsed_ms=(time.perf_counter() - started) * 1000.0,
            incomplete=incomplete,
        )

    async def _exchange(self, request: httpx.Request) -> httpx.Response:
        """``AsyncClient.send(stream=True, follow_redirects=False)`` less what a Sinch request
        never uses (auth flows, redirect bookkeeping, cookies, event hooks, the elapsed-time
        stream wrapper): about 0.1 ms of CPU a request, 5 % of a command (bench/results/
        2026-12-01-cpu.md). Still httpx's interface: the client's own transport for the URL (a
        mount for an environment proxy included) is given the ``httpx.Request``."""
        if self._http.is_closed:
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        response = await self._http._transport_for_url(request.url).handle_async_request(request)
        response.request = request
        return response

    def _http_request(self, request: SinchRequest, host: str) -> httpx.Request:
        # A separate frame so the Authorization value is never a local of ``send``.
        # Built directly rather than with ``AsyncClient.build_request``, which re-parses the
        # URL, merges header and cookie sets and re-encodes the body on every call (bench/):
        # the client's default headers and timeouts are taken once, in ``__init__``.
        url = self._url(host, request.path)
        if url.raw_path != request.path.encode("ascii"):
            raise SinchInvalidRequestError(
                f"{request.method} {request.path} on {host}: httpx would send a different path",
                error_type="PathMismatch",
            )
        body = request.body
        headers = [(b"Host", url.netloc), *self._default_headers, *_FIXED_HEADERS]
        if body or request.method in ("POST", "PATCH"):
            headers.append((b"Content-Length", str(len(body)).encode("ascii")))
        for name, value in self._auth.headers(request.method, request.path, body).items():
            headers.append((name.encode("ascii"), value.encode("ascii")))
        for name, value in request.trace_headers.items():
            encoded = name.encode("ascii")
            if encoded.lower() not in _OWN_HEADERS:
                headers.append((encoded, value.encode("ascii")))
        prepared = httpx.Request(
            request.method,
            url,
            headers=headers,
            stream=httpx.ByteStream(body),
            extensions={"timeout": self._timeouts},
        )
        prepared.read()  # ``content`` readable, as for a request built from bytes
        return prepared

    def _url(self, host: str, path: str) -> httpx.URL:
        """``httpx.URL(host + path)`` without parsing the text again on every request.

        Parsing took ~7 % of the service's CPU (py-spy, bench/results/2026-12-01-cpu.md). The
        host is parsed once; the path, already checked to be characters httpx leaves as they
        are (``SinchRequest``), replaces the host URL's path in httpx's parsed form.
        tests/unit/sinch/test_prepared_url.py holds this equal to the parsed URL."""
        base = self._base_urls.get(host)
        if base is None:
            base = httpx.URL(host)
            if len(self._base_urls) < _MAX_BASE_URLS:
                self._base_urls[host] = base
        reference = getattr(base, "_uri_reference", None)
        if reference is None or base.raw_path not in (b"", b"/") or base.query:
            return httpx.URL(host + path)  # an httpx whose URL is built otherwise: parse
        url = httpx.URL.__new__(httpx.URL)
        url._uri_reference = reference._replace(path=path)
        return url

    async def _read_body(self, response: httpx.Response) -> tuple[bytes, str | None]:
        body = bytearray()
        # Without a content coding the bytes are the body: httpx's decoder and re-chunking
        # (``aiter_bytes``) would only copy them. (A body already read is served by it.)
        raw = not response.is_stream_consumed and "content-encoding" not in response.headers
        try:
            async for chunk in response.aiter_raw() if raw else response.aiter_bytes():
                room = self._max_response_bytes - len(body)
                if len(chunk) > room:
                    body += chunk[:room]
                    return bytes(body), "size_limit"
                body += chunk
        except (httpx.TransportError, httpx.DecodingError) as exc:
            return bytes(body), type(exc).__name__
        except (aiohttp.ClientError, OSError, ValueError) as exc:  # not mapped to httpx
            return bytes(body), type(exc).__name__
        return bytes(body), None
