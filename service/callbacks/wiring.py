"""The callback side as one piece the application starts and stops, and the flow's lookup.

`Callbacks.call_route(call_id)` is what the command flow asks before a request: the region
learnt from the call's ICE, and whether DiCE said the call has ended
(`service.domain.calls.route_command` applies it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from prometheus_client import CollectorRegistry

from service.callbacks.calls import CallBook, open_call_book
from service.callbacks.policy import AnswerPolicy
from service.callbacks.server import CallbackServer
from service.callbacks.signature import CallbackVerifier
from service.delivery.publishing import Publisher
from service.domain.calls import CallRoute
from service.idempotency.store import IdempotencyStore
from service.settings import Settings
from service.sinch.auth import decode_secret

CallRouteLookup = Callable[[str], Awaitable[CallRoute | None]]


class Callbacks:
    def __init__(self, server: CallbackServer, book: CallBook) -> None:
        self.server = server
        self._book = book

    async def call_route(self, call_id: str) -> CallRoute | None:
        return await self._book.recall(call_id)

    @property
    def ready(self) -> bool:
        return self.server.listening

    async def start(self) -> None:
        await self.server.start()

    async def stop(self) -> None:
        await self.server.stop()

    async def close(self) -> None:
        await self.server.stop()
        await self._book.close()


async def open_callbacks(
    settings: Settings,
    *,
    store: IdempotencyStore,
    publisher: Publisher,
    registry: CollectorRegistry,
) -> Callbacks:
    """Everything the endpoint needs; the routing file is read (and checked) here, at start."""
    secret = settings.sinch.application_secret
    verifier = CallbackVerifier(
        settings.sinch.application_key or "",
        decode_secret(secret.get_secret_value() if secret else ""),
        max_skew_s=settings.callbacks.max_skew_s,
    )
    policy = AnswerPolicy.load(settings.callbacks.routes_file)
    book = await open_call_book(settings.idempotency)
    server = CallbackServer(
        settings.callbacks,
        settings.topics,
        verifier=verifier,
        policy=policy,
        store=store,
        calls=book,
        publisher=publisher,
        registry=registry,
    )
    return Callbacks(server, book)


EVENTS_DESCRIPTION = (
    "One event per Sinch callback (ICE, ACE, PIE, DiCE, Notify), keyed by callId, published "
    "before Sinch is answered. Received over HTTP: Sinch POSTs each callback, signed with the "
    "application key and secret, to the callback port (default 8090) at /sinch/callbacks; "
    "ICE, ACE and PIE are answered with the SVAML of the routing policy, DiCE and Notify with "
    "an empty 200; unsigned or stale 401, oversized 413, not a callback 400, Kafka not "
    "acknowledging in time 503."
)
