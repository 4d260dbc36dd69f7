"""The composition root: settings in, a FastStream app out, every resource owned by one stack.

`create_app(settings)` declares the broker, the commands subscriber and the output topics (they
are what the AsyncAPI document shows). `Service` opens the tracing, the HTTP client, the
idempotency store and its lease renewal, the health server and the engine at start, each
registered on one `AsyncExitStack` (`Resources`) as it opens; at stop they close in reverse,
the engine first, while the broker can still publish its last answers and commit. A close that
raises is logged and the others still close.

Just past 400 lines, kept whole: a composition root reads best as one list of what is opened
and in which order.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack

import structlog
from faststream import FastStream
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.middlewares import AckPolicy
from faststream.specification import AsyncAPI

from service.callbacks.wiring import EVENTS_DESCRIPTION, Callbacks, open_callbacks
from service.delivery.answers import OutputTopics
from service.delivery.engine import Engine
from service.delivery.publishing import Publisher, Refusal
from service.delivery.records import TopicPartition
from service.domain.calls import no_route
from service.domain.events import CallEvent
from service.domain.results import ConferenceSnapshot, Result, Snapshot
from service.flow.executor import Executor
from service.flow.handler import CommandHandler, HandlerConfig
from service.idempotency.health import StoreHealth
from service.idempotency.leases import Leases
from service.idempotency.sqlite_store import SqliteStore
from service.idempotency.store import IdempotencyStore, MemoryStore
from service.kafka.adapter import (
    BrokerProducer,
    ConsumerAdapter,
    RebalanceListener,
    build_broker,
    guard_fetches,
    no_decoder,
    publish_refusal,
    raw_batch_parser,
    subscriber_consumer,
    to_record,
)
from service.kafka.preflight import check_broker, output_topic_problems
from service.kafka.topics import ensure_topics
from service.ops.gc_pauses import freeze_and_time_collections
from service.ops.health import HealthServer
from service.ops.metrics import Metrics
from service.ops.tracing import Tracing
from service.retry import Backoff, RetryPolicy
from service.settings import Settings, loggable_settings
from service.sinch import Authenticator, BasicAuth, SignedAuth, SinchClient, build_http_client
from service.version import __version__

log = structlog.get_logger(logger_name="service.app")
# FastStream logs through the stdlib; without a logger of ours it installs its own coloured
# handler, which would break the one-JSON-object-per-line output.
FASTSTREAM_LOGGER = logging.getLogger("service.faststream")
TOPIC_RECHECK_S = 30.0  # while an output topic is missing or forbidden


def build_auth(settings: Settings) -> Authenticator:
    key = settings.sinch.application_key or ""
    secret = (
        settings.sinch.application_secret.get_secret_value()
        if settings.sinch.application_secret
        else ""
    )
    return SignedAuth(key, secret) if settings.sinch.auth == "signed" else BasicAuth(key, secret)


async def open_store(settings: Settings) -> IdempotencyStore:
    idem = settings.idempotency
    if idem.backend == "memory":
        return MemoryStore(lease_s=idem.lease_s, retention_s=idem.retention_s)
    if idem.backend == "redis":
        from service.idempotency.redis_store import RedisStore

        redis_store = RedisStore(
            idem.redis_url.get_secret_value(),
            key_prefix=idem.key_prefix,
            lease_s=idem.lease_s,
            retention_s=idem.retention_s,
            connect_timeout_s=idem.redis_connect_timeout_s,
            socket_timeout_s=idem.redis_socket_timeout_s,
            liveness_s=idem.liveness_s,
        )
        await redis_store.open()
        return redis_store
    sqlite_store = SqliteStore(idem.sqlite_path, lease_s=idem.lease_s, retention_s=idem.retention_s)
    await sqlite_store.open()
    return sqlite_store


class Resources:
    """What the service opened, closed in reverse by one `AsyncExitStack`. Each close that
    raises is logged and the rest still close: a stuck store must not leave the HTTP client,
    the health port or the trace exporter open."""

    def __init__(self) -> None:
        self._stack = AsyncExitStack()

    def on_close(self, name: str, close: Callable[[], Awaitable[None] | None]) -> None:
        self._stack.push_async_callback(_close_logged, name, close)

    async def aclose(self) -> None:
        await self._stack.aclose()


async def _close_logged(name: str, close: Callable[[], Awaitable[None] | None]) -> None:
    try:
        closing = close()
        if inspect.isawaitable(closing):
            await closing
    except Exception:
        log.exception("close_failed", resource=name)


class Service:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.broker: KafkaBroker = build_broker(settings.kafka, logger=FASTSTREAM_LOGGER)
        self.engine: Engine | None = None
        self.metrics = Metrics.for_service(__version__)
        self.tracing = Tracing(settings.tracing, consumer_group=settings.kafka.group_id)
        self.health = HealthServer(
            settings.http_host,
            settings.http_port,
            not_ready=self.not_ready_reasons,
            registry=self.metrics.registry,
        )
        self.resources = Resources()
        self.callbacks: Callbacks | None = None
        self.store_health: StoreHealth | None = None
        # Output topics this service cannot write, by name: why (readiness says it).
        self.topic_problems: dict[str, str] = {}
        topics = settings.topics
        self.subscriber = self.broker.subscriber(
            topics.commands,
            group_id=settings.kafka.group_id,
            batch=True,
            max_records=settings.kafka.max_poll_records,
            # How long one poll waits for records; it returns as soon as one is fetched, and
            # no sleep follows an empty poll (`guard_fetches`), so this costs no latency; it
            # only bounds the wake-ups of an idle consumer (FastStream cancels it on stop).
            batch_timeout_ms=100,
            auto_offset_reset=settings.kafka.auto_offset_reset,
            isolation_level="read_committed",  # commands of aborted transactions never run
            session_timeout_ms=settings.kafka.session_timeout_ms,
            # At least once: offsets are committed by the engine's watermarks, never by FastStream.
            ack_policy=AckPolicy.MANUAL,
            listener=RebalanceListener(self),
            parser=raw_batch_parser,
            decoder=no_decoder,
            title="commands",
            description="Call-control commands, keyed by callId.",
        )
        guard_fetches(self.subscriber)  # a record the client cannot read is answered, not lost
        self.subscriber(self.on_commands)
        self.broker.publisher(
            topics.results,
            schema=Result,
            title="results",
            description="One result per command record, keyed by callId.",
        )
        self.broker.publisher(
            topics.snapshots,
            schema=Snapshot,
            title="snapshots",
            description="Latest state of each call (compacted), keyed by callId.",
        )
        self.broker.publisher(
            topics.conferences,
            schema=ConferenceSnapshot,
            title="conferences",
            description="Latest participants of each conference (compacted), keyed by "
            "conferenceId.",
        )
        self.broker.publisher(
            topics.dead_letter,
            schema=bytes,
            title="dead-letter",
            description="Rejected command records, byte for byte, with reason headers.",
        )
        self.broker.publisher(
            topics.events,
            schema=CallEvent,
            title="events",
            description=EVENTS_DESCRIPTION,
        )

    async def on_commands(self, message: KafkaMessage) -> None:
        """Hand the batch to the engine and return at once: lanes run it."""
        assert self.engine is not None
        self.engine.submit(to_record(raw) for raw in message.raw_message)

    def ready(self) -> bool:
        return not self.not_ready_reasons()

    def not_ready_reasons(self) -> list[str]:
        if self.engine is None:
            return ["starting"]
        reasons = list(self.engine.not_ready_reasons())
        if self.callbacks is not None and not self.callbacks.ready:
            reasons.append("callback endpoint not listening")
        if self.store_health is not None and not self.store_health.healthy:
            reasons.append("idempotency store not answering")
        reasons += [f"topic {t}: {why}" for t, why in sorted(self.topic_problems.items())]
        return reasons

    def _topic_refused(self, topic: str, refusal: Refusal | None) -> None:
        if refusal is None:
            self.topic_problems.pop(topic, None)
        else:
            self.topic_problems[topic] = refusal.value

    def _publisher(self) -> Publisher:
        return Publisher(
            BrokerProducer(self.broker),
            classify=publish_refusal,
            on_failure=self.metrics.publish_failures.inc,
            on_refused=self._topic_refused,
        )

    def _output_topics(self) -> list[str]:
        topics = self.settings.topics
        names = [topics.results, topics.snapshots, topics.dead_letter, topics.conferences]
        return [*names, topics.events] if self.settings.callbacks.enabled else names

    async def _check_topics(self) -> None:
        """Name the output topics this service cannot use; look again until none is left."""
        s = self.settings
        while True:
            self.topic_problems = await output_topic_problems(s.kafka, self._output_topics())
            for topic, why in sorted(self.topic_problems.items()):
                log.error("output_topic_unusable", topic=topic, reason=why)
            if not self.topic_problems:
                return
            await asyncio.sleep(TOPIC_RECHECK_S)

    # --- partition ownership (called by the rebalance listener) ----------------------

    async def revoke(self, tps: set[TopicPartition]) -> None:
        if self.engine is not None:
            await self.engine.revoke(tps)

    async def assign(self, tps: set[TopicPartition]) -> None:
        if self.engine is not None:
            # The first assignment comes before `after_startup` starts the engine: the
            # subscriber's consumer (the one assigning) reads the previous owner's metadata.
            await self.engine.assign(tps, ConsumerAdapter(subscriber_consumer(self.subscriber)))

    # --- lifespan --------------------------------------------------------------------

    async def startup(self) -> None:
        try:
            await self._open()
        except BaseException:
            await self.resources.aclose()
            raise

    async def _open(self) -> None:
        s = self.settings
        # Before anything connects, so a start that fails still says what it was given.
        log.info("service_starting", version=__version__, config=loggable_settings(s))
        resources = self.resources
        resources.on_close("tracing", self.tracing.shutdown)
        await check_broker(s.kafka)  # a refused password or certificate: one clear line
        if s.kafka.create_topics:
            await ensure_topics(s.kafka, s.topics)
        self.topic_problems = await output_topic_problems(s.kafka, self._output_topics())
        if self.topic_problems:  # not fatal: readiness says why until an operator fixes it
            checking = asyncio.create_task(self._check_topics(), name="topic check")

            def stop_checking() -> None:
                checking.cancel()

            resources.on_close("topic check", stop_checking)
        http = build_http_client(
            connect_timeout=s.sinch.connect_timeout_s,
            read_timeout=s.sinch.read_timeout_s,
            write_timeout=s.sinch.write_timeout_s,
            pool_timeout=s.sinch.pool_timeout_s,
            max_connections=s.http_max_connections,
            proxy=s.sinch.proxy_url,
        )
        resources.on_close("http client", http.aclose)
        sinch = SinchClient(
            http,
            build_auth(s),
            base_url=s.sinch.base_url,
            regional_url_template=s.sinch.regional_template(),
            on_signed=lambda seconds: self.metrics.stage("sign", seconds),
            attempt_timeout_s=s.sinch.attempt_timeout_s,
            # aiohttp has no write timeout: writing and waiting for the answer share a bound.
            head_timeout_s=s.sinch.write_timeout_s + s.sinch.read_timeout_s,
        )
        store = await open_store(s)
        resources.on_close("idempotency store", store.close)
        leases = Leases(store, renew_every_s=s.idempotency.lease_s / 3)
        leases.start()
        resources.on_close("lease renewal", leases.stop)
        self.store_health = StoreHealth(store)
        self.store_health.start()
        resources.on_close("store health", self.store_health.stop)
        executor = Executor(
            sinch,
            policy=RetryPolicy(
                Backoff(s.retry.base_delay_s, s.retry.max_delay_s),
                max_attempts=s.retry.max_attempts,
                max_retry_after_s=s.retry.max_retry_after_s,
            ),
            meter=self.metrics,
            stage=self.metrics.stage,
        )
        if s.callbacks.enabled:
            self.callbacks = await open_callbacks(
                s,
                store=store,
                publisher=self._publisher(),
                registry=self.metrics.registry,
            )
            resources.on_close("callbacks", self.callbacks.close)
        handler = CommandHandler(
            HandlerConfig(
                s.max_command_bytes,
                s.snapshot_default,
                s.snapshot_off_types,
                s.tts_max_chars,
            ),
            leases=leases,
            executor=executor,
            tracing=self.tracing,
            on_store_error=self.metrics.store_unavailable.inc,
            call_route=self.callbacks.call_route if self.callbacks else no_route,
            stage=self.metrics.stage,
        )
        self.engine = Engine(
            handler,
            self._publisher(),
            topics=OutputTopics(
                s.topics.results, s.topics.snapshots, s.topics.dead_letter, s.topics.conferences
            ),
            meter=self.metrics,
            max_in_flight=s.max_in_flight,
            max_buffered=s.max_buffered,
            max_buffered_bytes=s.max_buffered_bytes,
            commit_interval_s=s.kafka.commit_interval_ms / 1000,
            revoke_timeout_s=min(s.shutdown_grace_s, s.kafka.session_timeout_ms / 2000),
            stage=self.metrics.stage,
        )
        self.metrics.observe_state(self.engine.state)
        await self.health.start()
        resources.on_close("health server", self.health.stop)

    async def after_startup(self) -> None:
        engine = self.engine
        assert engine is not None
        engine.start(ConsumerAdapter(subscriber_consumer(self.subscriber)))
        # Closed first: running commands finish or are abandoned with a result, and the
        # watermarks are committed, while the broker is still up (FastStream stops it next).
        self.resources.on_close("engine", lambda: engine.stop(self.settings.shutdown_grace_s))
        if self.callbacks is not None:  # after the broker: its producer publishes the events
            await self.callbacks.start()
        # Everything made so far lives as long as the process: out of full collections' way.
        frozen, stop_gc_timer = freeze_and_time_collections(self.metrics.stage)
        self.resources.on_close("gc timer", stop_gc_timer)
        log.info(
            "service_started",
            gc_frozen_objects=frozen,
            version=__version__,
            tracing=self.tracing.enabled,
            topic=self.settings.topics.commands,
            group=self.settings.kafka.group_id,
            max_in_flight=self.settings.max_in_flight,
        )

    async def shutdown(self) -> None:
        if self.callbacks is not None:  # no new callback while the engine stops
            await self.callbacks.stop()
        await self.resources.aclose()

    def application(self) -> FastStream:
        return FastStream(
            self.broker,
            logger=FASTSTREAM_LOGGER,
            on_startup=[self.startup],
            after_startup=[self.after_startup],
            on_shutdown=[self.shutdown],
            after_shutdown=[self.after_shutdown],
            specification=AsyncAPI(
                title="call-control",
                version=__version__,
                description="Kafka commands in, Sinch Calling API requests out, results and "
                "snapshots back.",
            ),
        )

    async def after_shutdown(self) -> None:
        log.info("service_stopped")


def create_app(settings: Settings) -> FastStream:
    return Service(settings).application()
