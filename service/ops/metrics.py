"""Prometheus metrics of one service instance, in its own registry (no module globals, so
tests can run several services in one process).

The metrics are counted where things happen, through small hooks those packages define
(delivery's `AnswerMeter`, the executor's `SinchMeter`), so neither imports this module. Gauges
that describe the engine's state are read at scrape time from delivery's `EngineState` rather
than updated on the hot path."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from service.delivery.answers import Answer
from service.delivery.engine import EngineState

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
# Stages take from microseconds (planning) to Sinch's time (the request): finer at the bottom.
STAGE_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5,
    1, 2.5, 10,
)  # fmt: skip
# Where a command's time goes (service.delivery.stages): each series exists from the start.
STAGES = (
    "fetch", "place_wait", "decode", "claim", "plan", "sign", "request", "snapshot", "store",
    "publish", "publish_ack", "loop_lag", "gc",
)  # fmt: skip


class Metrics:
    def __init__(
        self,
        *,
        version: str = "unknown",
        command_types: Iterable[str] = (),
        outcomes: Iterable[str] = (),
        dead_letter_codes: Iterable[str] = (),
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        # process_*, python_gc_* and python_info, as the default registry has them; each is a
        # stateless reader of this process, so sharing one instance between registries is safe
        for collector in (PROCESS_COLLECTOR, GC_COLLECTOR, PLATFORM_COLLECTOR):
            r.register(collector)
        Gauge(
            "callctl_build_info", "The running version (always 1)", ["version"], registry=r
        ).labels(version).set(1)
        self.commands = Counter(
            "callctl_commands",
            "Commands finished, by type and outcome",
            ["type", "outcome"],
            registry=r,
        )
        self.command_latency = Histogram(
            "callctl_command_latency_seconds",
            "From the command record's timestamp to its result acknowledged by Kafka",
            ["type"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.sinch_latency = Histogram(
            "callctl_sinch_request_seconds",
            "One HTTP attempt to Sinch",
            ["method"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.sinch_responses = Counter(
            "callctl_sinch_responses",
            "Sinch answers by HTTP status ('none' when no answer came)",
            ["status"],
            registry=r,
        )
        self.retries = Counter(
            "callctl_retries",
            "Attempts repeated, by the error that caused them",
            ["error"],
            registry=r,
        )
        self.duplicates = Counter(
            "callctl_idempotent_replays",
            "Results replayed for an already-seen commandId",
            registry=r,
        )
        self.dead_letters = Counter(
            "callctl_dead_letters", "Records sent to the dead-letter topic", ["code"], registry=r
        )
        # loops that retry rather than fail: each pass is counted, so an alert sees a stuck loop
        self.publish_failures = Counter(
            "callctl_publish_failures",
            "Result/snapshot/dead-letter publishes that Kafka refused (retried until they pass)",
            registry=r,
        )
        self.store_unavailable = Counter(
            "callctl_idempotency_store_errors",
            "Idempotency-store calls that failed (the command waits and retries)",
            registry=r,
        )
        self.stages = Histogram(
            "callctl_command_stage_seconds",
            "Time of one stage of a command: fetch (the record's age, from its Kafka timestamp "
            "to the engine), place_wait (for an in-flight place), decode, "
            "claim, plan, sign (building and signing the request), request (one attempt, "
            "signing included), snapshot, store, publish (queued), publish_ack (the broker's "
            "acknowledgement, after the place is given back), loop_lag (the event loop's "
            "delay of a 100 ms timer, sampled), gc (a full garbage collection, which stalls "
            "the event loop)",
            ["stage"],
            buckets=STAGE_BUCKETS,
            registry=r,
        )
        self._stage_series = {name: self.stages.labels(name) for name in STAGES}
        # series exist from the first scrape, at 0, so rate() and absent() work from the start
        for kind in command_types:
            self.command_latency.labels(kind)
            for outcome in outcomes:
                self.commands.labels(kind, outcome)
        for code in dead_letter_codes:
            self.dead_letters.labels(code)

    @classmethod
    def for_service(cls, version: str) -> Metrics:
        """With every known label value of the domain initialised to 0."""
        from service.domain.commands import COMMAND_TYPES
        from service.domain.results import ErrorCode, Outcome

        # the codes a record is dead-lettered with: it could not be decoded, or it crashed
        dead_letter_codes = (
            ErrorCode.NOT_JSON,
            ErrorCode.KEY_MISMATCH,
            ErrorCode.TOO_LARGE,
            ErrorCode.INVALID_COMMAND,
            ErrorCode.INTERNAL_ERROR,
        )
        return cls(
            version=version,
            command_types=(*COMMAND_TYPES, "unknown"),
            outcomes=[o.value for o in Outcome],
            dead_letter_codes=[c.value for c in dead_letter_codes],
        )

    def observe_state(self, read: Callable[[], EngineState]) -> None:
        self.registry.register(_StateCollector(read))

    # --- delivery's AnswerMeter ----------------------------------------------------------

    def answered(self, answer: Answer, age_s: float | None) -> None:
        kind = answer.kind or "unknown"
        self.commands.labels(kind, answer.outcome).inc()
        if answer.duplicate:
            self.duplicates.inc()
        if answer.dead_letter is not None:
            self.dead_letters.labels(answer.dead_letter.code).inc()
        if age_s is not None:
            self.command_latency.labels(kind).observe(age_s)

    # --- every stage (service.delivery.stages.StageMeter) -----------------------------------

    def stage(self, stage: str, seconds: float) -> None:
        series = self._stage_series.get(stage)
        if series is None:
            series = self._stage_series[stage] = self.stages.labels(stage)
        series.observe(seconds)

    # --- the executor's SinchMeter -------------------------------------------------------

    def sinch_answered(self, method: str, status: int | None, seconds: float) -> None:
        self.sinch_responses.labels(str(status) if status is not None else "none").inc()
        self.sinch_latency.labels(method).observe(seconds)

    def retried(self, error: str) -> None:
        self.retries.labels(error).inc()


class _StateCollector(Collector):
    def __init__(self, read: Callable[[], EngineState]) -> None:
        self._read = read

    def collect(self) -> Iterable[Metric]:
        state = self._read()
        yield GaugeMetricFamily(
            "callctl_in_flight", "Commands executing now", value=state.in_flight
        )
        yield GaugeMetricFamily(
            "callctl_active_lanes",
            "Calls with commands queued or running",
            value=state.active_lanes,
        )
        yield GaugeMetricFamily(
            "callctl_buffered", "Records read, waiting for their turn", value=state.buffered
        )
        yield GaugeMetricFamily(
            "callctl_fetch_paused",
            "Partitions whose fetching is paused for backpressure",
            value=state.paused,
        )
        yield GaugeMetricFamily(
            "callctl_assigned_partitions", "Partitions this instance owns", value=state.assigned
        )
        yield CounterMetricFamily(
            "callctl_commit_failures",
            "Offset commits that failed (a rebalance under way; the offsets are committed later)",
            value=state.commit_failures,
        )
        yield CounterMetricFamily(
            "callctl_rebalances",
            "Partition assignments and revocations received from the consumer group",
            value=state.rebalances,
        )
        lag = GaugeMetricFamily(
            "callctl_consumer_lag",
            "Records behind the partition's end, from the committed watermark",
            labels=["topic", "partition"],
        )
        for (topic, partition), value in sorted(state.lag.items()):
            lag.add_metric([topic, str(partition)], value)
        yield lag
