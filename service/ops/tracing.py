"""W3C trace context through a command: from the command record, through every Sinch attempt,
onto the result and snapshot records, and into the log lines.

Off (the default), the incoming `traceparent`/`tracestate` are passed through unchanged, so a
producer's trace still links to its results at no cost, and log lines carry its `trace_id`.
On (`CALLCTL_TRACING__ENABLED`), the service records a CONSUMER span per command and a CLIENT
span per Sinch attempt, exported over OTLP/HTTP, and what it passes on is its own spans'
context. Span names and attributes follow OpenTelemetry's semantic conventions: messaging (Kafka,
the `process` span) and HTTP client (stable); docs/runbook.md#traces lists them.

The SDK reads the standard variables itself (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES,
OTEL_TRACES_SAMPLER[_ARG], OTEL_EXPORTER_OTLP_*, OTEL_BSP_*, OTEL_SDK_DISABLED); the
`CALLCTL_TRACING__*` settings are only the fallbacks for what those leave unset.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import (
    INVALID_SPAN,
    NonRecordingSpan,
    NoOpTracer,
    Span,
    SpanKind,
    Status,
    StatusCode,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from structlog.contextvars import bind_contextvars

from service.delivery.records import Record
from service.settings import TracingSettings
from service.version import __version__

_PROPAGATOR = TraceContextTextMapPropagator()
TRACE_HEADERS = frozenset(_PROPAGATOR.fields)  # traceparent, tracestate
# A record key longer than this is left out of the span (it is the callId: short in practice).
_MAX_KEY_CHARS = 256


def _carrier(headers: tuple[tuple[str, bytes], ...]) -> dict[str, str]:
    return {
        key.lower(): (value or b"").decode("latin-1")  # a Kafka header value may be null
        for key, value in headers
        if key.lower() in TRACE_HEADERS
    }


class SinchAttempt:
    """One Sinch attempt's CLIENT span, as the executor sees it."""

    __slots__ = ("_span", "headers")

    def __init__(self, span: Span, headers: dict[str, str]) -> None:
        self._span = span
        self.headers = headers  # traceparent (and tracestate) for the HTTP request

    def answered(self, status_code: int) -> None:
        """HTTP client conventions: a 4xx or 5xx answer is an error of the client span."""
        self._span.set_attribute("http.response.status_code", status_code)
        if status_code >= 400:
            self._span.set_attribute("error.type", str(status_code))
            self._span.set_status(Status(StatusCode.ERROR))


class CommandTrace:
    """The trace of one command; `span` is non-recording when tracing is off."""

    __slots__ = ("_context", "_headers", "_tracer", "span")

    def __init__(self, tracer: trace.Tracer | None, context: Context, span: Span) -> None:
        self._tracer = tracer
        self._context = context
        self._headers: Mapping[str, str] | None = None
        self.span = span

    @property
    def recording(self) -> bool:
        return self._tracer is not None

    def headers(self) -> Mapping[str, str]:
        """`traceparent` (and `tracestate`) for the records and requests this command makes."""
        if self._headers is None:  # the same for every record and attempt of the command
            carrier: dict[str, str] = {}
            _PROPAGATOR.inject(carrier, context=trace.set_span_in_context(self.span, self._context))
            self._headers = carrier
        return self._headers

    @contextmanager
    def attempt(self, method: str, url: str, resend_count: int) -> Iterator[SinchAttempt]:
        """One Sinch attempt: a CLIENT span named after the method, per the HTTP client
        conventions. `url` is scheme, host and path: the service's URLs carry no user info and
        no query, so nothing secret reaches the span."""
        if self._tracer is None:
            yield SinchAttempt(INVALID_SPAN, dict(self.headers()))
            return
        address, port = _server(url)
        attributes: dict[str, Any] = {
            "http.request.method": method,
            "url.full": url,
            "server.address": address,
            "server.port": port,
            "network.protocol.version": "1.1",  # the client speaks HTTP/1.1 only
        }
        if resend_count:
            attributes["http.request.resend_count"] = resend_count
        parent = trace.set_span_in_context(self.span, self._context)
        with self._tracer.start_as_current_span(
            method, context=parent, kind=SpanKind.CLIENT, attributes=attributes
        ) as span:
            carrier: dict[str, str] = {}
            _PROPAGATOR.inject(carrier, context=trace.set_span_in_context(span, parent))
            try:
                yield SinchAttempt(span, carrier)
            except BaseException as error:  # no answer: the SDK records it and sets ERROR
                span.set_attribute(
                    "error.type", getattr(error, "error_type", None) or type(error).__qualname__
                )
                raise

    def finish(self, attributes: Mapping[str, Any], failed: bool) -> None:
        if self._tracer is None:
            return
        self.span.set_attributes({k: v for k, v in attributes.items() if v is not None})
        if failed:
            self.span.set_status(Status(StatusCode.ERROR))
        self.span.end()


# Tracing off and a record without trace headers: nothing to carry, one shared object.
_UNTRACED = CommandTrace(None, Context(), INVALID_SPAN)
_UNTRACED._headers = MappingProxyType({})


class Tracing:
    def __init__(
        self,
        settings: TracingSettings,
        *,
        consumer_group: str = "",
        tracer_provider: trace.TracerProvider | None = None,
    ) -> None:
        """`tracer_provider` replaces the exporting SDK provider that `settings` would build
        (tests give one with an in-memory exporter); it is not shut down here."""
        self._provider: Any = None
        self._tracer: trace.Tracer | None = None
        self._consumer_group = consumer_group
        if tracer_provider is not None:
            self._tracer = tracer_provider.get_tracer("call-control", __version__)
        elif settings.enabled:
            self._provider, tracer = _sdk_tracer(settings)
            # OTEL_SDK_DISABLED=true: the SDK hands out a no-op tracer; behave as off (pass
            # the producer's context through) rather than drop it.
            self._tracer = None if isinstance(tracer, NoOpTracer) else tracer

    @property
    def enabled(self) -> bool:
        return self._tracer is not None

    def start(self, record: Record) -> CommandTrace:
        """The command's trace, continued from the record's headers. Its ids are bound to the
        log context, so every line about the command carries `trace_id` (and `span_id` when
        the span is ours)."""
        if self._tracer is None:
            if not record.headers:
                return _UNTRACED
            incoming = _PROPAGATOR.extract(_carrier(record.headers))
            parent = trace.get_current_span(incoming).get_span_context()
            if parent.is_valid:
                bind_contextvars(trace_id=format(parent.trace_id, "032x"))
            return CommandTrace(None, incoming, NonRecordingSpan(parent))
        incoming = _PROPAGATOR.extract(_carrier(record.headers))
        span = self._tracer.start_span(
            f"process {record.topic}",
            context=incoming,
            kind=SpanKind.CONSUMER,
            attributes=self._consumer_attributes(record),
        )
        context = span.get_span_context()
        bind_contextvars(
            trace_id=format(context.trace_id, "032x"), span_id=format(context.span_id, "016x")
        )
        return CommandTrace(self._tracer, incoming, span)

    def _consumer_attributes(self, record: Record) -> dict[str, Any]:
        """Messaging conventions for a Kafka `process` span."""
        attributes: dict[str, Any] = {
            "messaging.system": "kafka",
            "messaging.operation.type": "process",
            "messaging.operation.name": "process",
            "messaging.destination.name": record.topic,
            "messaging.destination.partition.id": str(record.partition),
            "messaging.kafka.offset": record.offset,
            "messaging.message.body.size": len(record.value or b""),
        }
        if self._consumer_group:
            attributes["messaging.consumer.group.name"] = self._consumer_group
        key = _key_text(record.key)
        if key is not None:
            attributes["messaging.kafka.message.key"] = key
        return attributes

    async def shutdown(self) -> None:
        """Flush and stop the exporter in a thread: its last export is a blocking HTTP call,
        and the collector may be served by this very event loop."""
        if self._provider is not None:
            await asyncio.to_thread(self._provider.shutdown)


def _key_text(key: bytes | None) -> str | None:
    """The key as text, when it has one unambiguous form (the conventions' rule): UTF-8."""
    if key is None or len(key) > _MAX_KEY_CHARS:
        return None
    try:
        return key.decode("utf-8")
    except UnicodeDecodeError:
        return None


@functools.lru_cache(maxsize=64)
def _server(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)


# What the SDK takes from OTEL_* itself; CALLCTL_TRACING__* fill in only what these leave unset.
_SAMPLER_VARIABLE = "OTEL_TRACES_SAMPLER"
_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")


def _sdk_tracer(settings: TracingSettings) -> tuple[Any, trace.Tracer]:
    # Imported only when tracing is on: the SDK and exporter are not on the default path.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter,
    )
    from opentelemetry.sdk.resources import (
        SERVICE_NAME,
        SERVICE_VERSION,
        OTELResourceDetector,
        Resource,
    )
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBasedTraceIdRatio

    from_env = OTELResourceDetector().detect().attributes  # OTEL_RESOURCE_ATTRIBUTES, ..._NAME
    fallbacks = {SERVICE_NAME: settings.service_name, SERVICE_VERSION: __version__}
    provider = TracerProvider(
        resource=Resource.create({k: v for k, v in fallbacks.items() if k not in from_env}),
        # None: the SDK's own reading of OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG
        sampler=None
        if os.environ.get(_SAMPLER_VARIABLE)
        else ParentBasedTraceIdRatio(settings.sample_ratio),
    )
    use_env = settings.otlp_endpoint is None or any(os.environ.get(v) for v in _ENDPOINT_VARIABLES)
    exporter = OTLPSpanExporter() if use_env else OTLPSpanExporter(endpoint=settings.otlp_endpoint)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider, provider.get_tracer("call-control", __version__)
