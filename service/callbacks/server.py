"""`POST /sinch/callbacks`: Sinch's callbacks in, one event each on Kafka, SVAML answers out.

    size > limit ─────────────────────────────→ 413
    signature missing, wrong or stale ────────→ 401 (nothing published)
    not a callback ───────────────────────────→ 400 naming the problem
    claim "callback/<hash>" ─ seen before ────→ the stored answer again (no second event)
      └ new ─ answer from the policy
              remember ICE's route / DiCE's end
              publish event (+ DiCE's final snapshot), wait for Kafka's ack
                ─────────────────────────────────→ 200 + SVAML (ICE, ACE, PIE) or empty
              store the answer (after answering)

Sinch is answered only once Kafka has acknowledged the event; if it does not within
`publish_timeout_s`, the claim is given back and Sinch gets 503. Runs on the service's event
loop (aiohttp, like the health port) and holds no state of its own: replicas scale freely.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime
from typing import TypeVar

import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram

from service.callbacks.calls import CallBook, RecentCalls
from service.callbacks.policy import AnswerPolicy
from service.callbacks.signature import CallbackVerifier, Unauthorized
from service.delivery.publishing import Outgoing, Publisher
from service.domain.calls import CallRoute
from service.domain.events import (
    NotACallback,
    build_event,
    call_id_of,
    callback_identity,
    called_number,
    event_type,
    parse_callback,
)
from service.domain.results import Snapshot
from service.domain.wire import utc_now
from service.idempotency.store import ClaimKind, IdempotencyStore
from service.settings import CallbackSettings, TopicSettings

log = structlog.get_logger(logger_name="service.callbacks")
JSON = "application/json"
CLAIM_PREFIX = "callback/"
# A twin is usually only waiting for the first's answer to be stored: a few ms.
BUSY_POLL_S = 0.02
T = TypeVar("T")


class CallbackMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.callbacks = Counter(
            "callctl_callbacks",
            "Sinch callbacks by event type and HTTP status answered",
            ["event", "status"],
            registry=registry,
        )
        self.answer_seconds = Histogram(
            "callctl_callback_answer_seconds",
            "Request in to answer out, Kafka acknowledgement included",
            ["event"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=registry,
        )


class CallbackServer:
    def __init__(
        self,
        settings: CallbackSettings,
        topics: TopicSettings,
        *,
        verifier: CallbackVerifier,
        policy: AnswerPolicy,
        store: IdempotencyStore,
        calls: CallBook,
        publisher: Publisher,
        registry: CollectorRegistry,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._settings = settings
        self._topics = topics
        self._verifier = verifier
        self._policy = policy
        self._store = store
        self._calls = RecentCalls(calls)  # ICE's facts, kept for the call's later callbacks
        self._publisher = publisher
        self._metrics = CallbackMetrics(registry)
        self._clock = clock
        self._runner: web.AppRunner | None = None
        self._pending: set[asyncio.Task[None]] = set()
        self.port: int | None = None

    @property
    def listening(self) -> bool:
        return self._runner is not None

    async def start(self) -> None:
        app = web.Application(client_max_size=self._settings.max_body_bytes)
        app.router.add_post(self._settings.path, self._handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self._settings.host, self._settings.port, backlog=1024)
        await site.start()
        self.port = runner.addresses[0][1] if runner.addresses else self._settings.port
        self._runner = runner
        log.info("callbacks_listening", port=self.port, path=self._settings.path)

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
        if self._pending:  # answers still being stored
            await asyncio.gather(*self._pending, return_exceptions=True)

    async def _handle(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        kind, call_id, duplicate = "none", None, False
        stages: dict[str, float] = {}
        try:
            body = await request.read()
            self._verifier.verify(
                method=request.method,
                path=request.raw_path.partition("?")[0],
                headers=request.headers,
                body=body,
                now=self._clock(),
            )
            callback = parse_callback(body)
            kind, call_id = event_type(callback), call_id_of(callback)
            response, duplicate = await self._answer(callback, stages)
        except web.HTTPRequestEntityTooLarge:
            response = _error(413, f"body: larger than {self._settings.max_body_bytes} bytes")
        except Unauthorized as error:
            response = _error(401, str(error))
        except NotACallback as error:
            response = _error(400, str(error))
        except _Unavailable as error:
            response = _error(503, str(error))
        except Exception as error:  # a bug: Sinch gets a 500, the log gets its type
            log.error("callback_failed", error=type(error).__name__)
            response = _error(500, "internal error")
        elapsed = time.perf_counter() - started
        self._metrics.callbacks.labels(kind, str(response.status)).inc()
        if response.status == 200:
            self._metrics.answer_seconds.labels(kind).observe(elapsed)
        log.info(
            "callback",
            event_type=kind,
            call_id=call_id,
            status=response.status,
            duplicate=duplicate,
            duration_ms=round(elapsed * 1000, 3),
            **stages,
            error=response.text if response.status != 200 else None,
        )
        return response

    async def _answer(
        self, callback: dict[str, object], stages: dict[str, float]
    ) -> tuple[web.Response, bool]:
        """The answer, and whether it was a duplicate's; `stages` gets the milliseconds spent
        waiting for the store (`claim_ms`) and for Kafka (`publish_ms`), for the log line."""
        started = time.perf_counter()
        identity = callback_identity(callback)
        key = CLAIM_PREFIX + identity
        deadline = time.monotonic() + self._settings.publish_timeout_s
        kind, call_id = event_type(callback), call_id_of(callback)
        recalled: CallRoute | BaseException | None = None
        if kind == "ice" or (recalled := self._calls.known(call_id)) is not None:
            claim = await self._guard(self._store.claim(key, identity))
        else:  # the claim and what the call's ICE taught, asked at once: one wait, not two
            claimed, recalled = await asyncio.gather(
                self._guard(self._store.claim(key, identity)),
                self._guard(self._calls.recall(call_id)),
                return_exceptions=True,
            )
            if isinstance(claimed, BaseException):
                raise claimed
            claim = claimed
        while claim.kind is ClaimKind.BUSY:  # the same callback, being answered (or stored)
            if time.monotonic() + BUSY_POLL_S > deadline:
                raise _Unavailable("the same callback is still being answered")
            await asyncio.sleep(BUSY_POLL_S)
            claim = await self._guard(self._store.claim(key, identity))
        claimed_at = time.perf_counter()
        stages["claim_ms"] = _ms(claimed_at - started)
        if claim.kind is ClaimKind.DUPLICATE:
            return _answer_response(claim.result or b""), True
        try:
            if isinstance(recalled, BaseException):
                raise recalled
            answer = await self._publish(callback, identity, recalled, deadline)
            stages["publish_ms"] = _ms(time.perf_counter() - claimed_at)
        except BaseException:
            await asyncio.shield(self._release(key))  # Sinch's redelivery is answered at once
            raise
        # Stored after Sinch has its answer: a crash in between only means that a redelivery
        # after the lease publishes again (at least once); the answer does not wait for a write.
        self._spawn(self._store_answer(key, identity, answer))
        return _answer_response(answer), False

    async def _publish(
        self,
        callback: dict[str, object],
        identity: str,
        known: CallRoute | None,
        deadline: float,
    ) -> bytes:
        """Publish the event (and remember what the call taught, meanwhile); returns the
        answer's bytes once Kafka has acknowledged."""
        kind, call_id = event_type(callback), call_id_of(callback)
        called = called_number(callback) or (known.called_number if known else None)
        rendered = self._policy.rendered(kind, called)
        answer = rendered.body if rendered is not None else b""
        received_at = self._clock()
        event = build_event(
            callback,
            received_at=received_at,
            answer=rendered.as_json if rendered is not None else None,
            identity=identity,
        )
        key = call_id.encode()
        messages = [Outgoing(self._topics.events, key, event.to_bytes())]
        route: CallRoute | None = None
        if kind == "ice":
            route = CallRoute(event.region, event.call_resource_url, called)
        elif kind == "dice":
            route = (known or CallRoute()).ending(event.reason)
            snapshot = Snapshot(
                call_id=call_id,
                observed_at=received_at,
                command_id=None,
                call=event.final_call_state(),
            )
            messages.append(Outgoing(self._topics.snapshots, key, snapshot.to_bytes()))
        if route is None:
            await self._acknowledged(messages, deadline)
            return answer
        outcomes = await asyncio.gather(
            self._acknowledged(messages, deadline),
            self._guard(self._calls.remember(call_id, route)),
            return_exceptions=True,
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        return answer

    async def _acknowledged(self, messages: list[Outgoing], deadline: float) -> None:
        remaining = deadline - time.monotonic()
        try:
            async with asyncio.timeout(
                max(remaining, 0.001)
            ):  # no task of its own, unlike wait_for
                await self._publisher.publish(messages)
        except TimeoutError:
            raise _Unavailable("Kafka did not acknowledge the event in time") from None

    async def _store_answer(self, key: str, identity: str, answer: bytes) -> None:
        try:
            await self._store.complete(key, identity, answer)
        except Exception as error:
            log.warning("callback_answer_not_stored", error=type(error).__name__)

    def _spawn(self, work: Coroutine[object, object, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _release(self, key: str) -> None:
        try:
            await self._store.release(key)
        except Exception as error:  # the lease runs out on its own
            log.warning("callback_release_failed", error=type(error).__name__)

    @staticmethod
    async def _guard(operation: Awaitable[T]) -> T:
        try:
            return await operation
        except Exception as error:
            log.warning("callback_store_unavailable", error=type(error).__name__)
            raise _Unavailable("the idempotency store is unavailable") from None


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


class _Unavailable(Exception):
    """A dependency could not do its part in time; Sinch gets 503 and nothing is half-done."""


def _answer_response(answer: bytes) -> web.Response:
    if not answer:
        return web.Response(status=200)
    return web.Response(status=200, body=answer, content_type=JSON)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)
