"""httpx's transport interface over aiohttp's connection pool, doing the least work per request.

Why not ``httpx_aiohttp.AiohttpTransport`` (the bridge used before): per request it re-parsed
the URL from text, copied httpx's headers into aiohttp's through a generic mapping, built a
``ClientTimeout`` and a proxy description, and wrapped every body read in a context manager
that scans an exception table. Measured with ``python -m bench.transport`` (figures in
docs/decisions/0006-transport-loop-and-serializer.md); this module does the same mapping once
where it can (timeouts, proxy) and otherwise hands aiohttp what it would build itself.

What callers rely on (tests/unit/sinch/test_transport_socket.py, test_attempt_deadline.py):

* an aiohttp failure comes out as the httpx error of the same meaning, with the aiohttp error
  as ``__cause__`` (``service.sinch.errors`` reads it to tell "not sent" from "maybe sent");
  one aiohttp does not map (a header over its size limit, an OS or TLS error) is raised as it
  is, and ``library_error_from`` classifies it;
* the response is streamed: the body is read only as the caller iterates, so a size cap or a
  deadline can stop a large or trickled body; closing it before the end closes the connection
  rather than pooling one with unread bytes (aiohttp's ``release`` does that).
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Final

import aiohttp
import httpx
from yarl import URL

__all__ = ["AiohttpPoolTransport", "map_aiohttp_error"]

# Most specific first: the first match wins. Anything else from aiohttp is raised unmapped.
_ERRORS: Final[tuple[tuple[type[Exception], type[httpx.TransportError]], ...]] = (
    (aiohttp.ClientProxyConnectionError, httpx.ProxyError),
    (aiohttp.ClientHttpProxyError, httpx.ProxyError),
    (aiohttp.ClientConnectorError, httpx.ConnectError),
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),
    (aiohttp.SocketTimeoutError, httpx.ReadTimeout),
    (aiohttp.ServerTimeoutError, httpx.ReadTimeout),
    (aiohttp.ClientPayloadError, httpx.ReadError),
    (aiohttp.InvalidUrlClientError, httpx.UnsupportedProtocol),
    (aiohttp.NonHttpUrlClientError, httpx.UnsupportedProtocol),
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
    (aiohttp.ClientConnectionError, httpx.ReadError),
)


def map_aiohttp_error(exc: Exception) -> Exception:
    """The httpx error for an aiohttp one (raise it ``from exc``), or ``exc`` itself."""
    for aiohttp_type, httpx_type in _ERRORS:
        if isinstance(exc, aiohttp_type):
            return httpx_type(str(exc))
    return exc


class _Body(httpx.AsyncByteStream):
    """The response body as aiohttp delivers it, chunk by chunk as it arrives."""

    __slots__ = ("_response",)

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        content = self._response.content
        try:
            while chunk := await content.readany():
                yield chunk
        except aiohttp.ClientError as exc:
            raise map_aiohttp_error(exc) from exc

    async def aclose(self) -> None:
        # Back to the pool if the body was read to its end, else the connection is closed.
        self._response.release()


class AiohttpPoolTransport(httpx.AsyncBaseTransport):
    """One ``aiohttp.ClientSession`` (made on first use, inside the running loop) under httpx.

    ``session`` builds it: the caller decides the connector (pool size, keep-alive, TLS) and
    the cookie jar. ``proxy`` is an egress proxy URL for every request, or None.
    """

    def __init__(
        self,
        session: Callable[[], aiohttp.ClientSession],
        *,
        limits: httpx.Limits,
        proxy: str | None = None,
    ) -> None:
        self._make_session = session
        self._session: aiohttp.ClientSession | None = None
        self.limits = limits
        proxy_url = httpx.URL(proxy) if proxy else None
        self._proxy: URL | None = None
        # Credentials in the proxy URL go in Proxy-Authorization, never in a logged URL:
        # aiohttp moves the proxy request's Authorization there, on the CONNECT for https and
        # on the request itself for http (what its deprecated `proxy_auth` did).
        self._proxy_headers: dict[str, str] | None = None
        if proxy_url is not None:
            self._proxy = URL(str(proxy_url.copy_with(username=None, password=None)))
            if proxy_url.username:
                basic = aiohttp.encode_basic_auth(proxy_url.username, proxy_url.password)
                self._proxy_headers = {"Authorization": basic}
        # httpx gives the same timeouts on every request: one ClientTimeout per distinct set.
        self._timeouts: dict[tuple[float | None, ...], aiohttp.ClientTimeout] = {}

    def _timeout(self, extension: Mapping[str, float | None]) -> aiohttp.ClientTimeout:
        key = (extension.get("connect"), extension.get("read"), extension.get("pool"))
        found = self._timeouts.get(key)
        if found is None:
            # aiohttp's `connect` covers waiting for a pooled connection as well as opening
            # one, so httpx's pool timeout goes there; aiohttp has no write timeout (the
            # client's own deadline around the head bounds the write instead).
            found = aiohttp.ClientTimeout(sock_connect=key[0], sock_read=key[1], connect=key[2])
            if len(self._timeouts) < 16:
                self._timeouts[key] = found
        return found

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._session
        if session is None:
            session = self._session = self._make_session()
        try:
            body = request.content  # SinchClient's requests carry their bytes, read
        except httpx.RequestNotRead:
            body = await request.aread()
        extensions = request.extensions
        sni_hostname = extensions.get("sni_hostname")
        try:
            response = await session.request(
                request.method,
                # httpx has already parsed and normalised it: no second quoting pass.
                URL(str(request.url), encoded=True),
                headers=[
                    (k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw
                ],
                data=body or None,
                allow_redirects=False,
                auto_decompress=False,
                compress=False,
                timeout=self._timeout(extensions.get("timeout", {})),
                server_hostname=sni_hostname if isinstance(sni_hostname, str) else None,
                proxy=self._proxy,
                proxy_headers=self._proxy_headers,
            )
        except aiohttp.ClientError as exc:
            raise map_aiohttp_error(exc) from exc
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=_Body(response),
            request=request,
            extensions={"http_version": b"HTTP/1.1"},
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


def client_session(
    limits: httpx.Limits, ssl_context: ssl.SSLContext
) -> Callable[[], aiohttp.ClientSession]:
    """aiohttp's pool sized by httpx's limits, with no cookie jar (Sinch's API is stateless)."""

    def session() -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=limits.max_connections or 0,
            keepalive_timeout=limits.keepalive_expiry,
            ssl=ssl_context,
        )
        return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())

    return session
