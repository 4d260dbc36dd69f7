"""W3C trace context through a command: from the command record, through every Sinch attempt,
onto the result and snapshot records.

Off (the default), the incoming `traceparent`/`tracestate` are passed through unchanged, so a
producer's trace still links to its results at no cost. On (`CALLCTL_TRACING__ENABLED`), the
service records a CONSUMER span per command and a CLIENT span per Sinch attempt, exported over
OTLP/HTTP, and what it passes on is its own spans' context.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import NonRecordingSpan, Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from service.settings import TracingSettings

_PROPAGATOR = TraceContextTextMapPropagator()
TRACE_HEADERS = frozenset(_PROPAGATOR.fields)  # traceparent, tracestate


def current_span() -> Span:
    return trace.get_current_span()


def _carrier(headers: tuple[tuple[str, bytes], ...]) -> dict[str, str]:
    return {
        key.lower(): (value or b"").decode("latin-1")  # a Kafka header value may be null
        for key, value in headers
        if key.lower() in TRACE_HEADERS
    }


class CommandTrace:
    """The trace of one command; `span` is non-recording when tracing is off."""

    __slots__ = ("_context", "_tracer", "span")

    def __init__(self, tracer: trace.Tracer | None, context: Context, span: Span) -> None:
        self._tracer = tracer
        self._context = context
        self.span = span

    def headers(self) -> dict[str, str]:
        """`traceparent` (and `tracestate`) for the records this command produces."""
        carrier: dict[str, str] = {}
        _PROPAGATOR.inject(carrier, context=trace.set_span_in_context(self.span, self._context))
        return carrier

    @contextmanager
    def attempt(self, method: str, path: str) -> Iterator[dict[str, str]]:
        """One Sinch attempt: yields the trace headers for its HTTP request."""
        if self._tracer is None:
            yield self.headers()
            return
        parent = trace.set_span_in_context(self.span, self._context)
        with self._tracer.start_as_current_span(
            f"{method} sinch", context=parent, kind=SpanKind.CLIENT,
            attributes={"http.request.method": method, "url.path": path},
        ) as span:  # fmt: skip
            carrier: dict[str, str] = {}
            _PROPAGATOR.inject(carrier, context=trace.set_span_in_context(span, parent))
            yield carrier

    def finish(self, attributes: Mapping[str, Any], failed: bool) -> None:
        if self._tracer is None:
            return
        self.span.set_attributes({k: v for k, v in attributes.items() if v is not None})
        if failed:
            self.span.set_status(Status(StatusCode.ERROR))
        self.span.end()


class Tracing:
    def __init__(self, settings: TracingSettings) -> None:
        self._provider: Any = None
        self._tracer: trace.Tracer | None = None
        if settings.enabled:
            self._provider, self._tracer = _sdk_tracer(settings)

    def start(
        self, headers: tuple[tuple[str, bytes], ...], attributes: Mapping[str, Any]
    ) -> CommandTrace:
        incoming = _PROPAGATOR.extract(_carrier(headers))
        if self._tracer is None:
            parent = trace.get_current_span(incoming)
            return CommandTrace(None, incoming, NonRecordingSpan(parent.get_span_context()))
        span = self._tracer.start_span(
            "call-control command", context=incoming, kind=SpanKind.CONSUMER,
            attributes=dict(attributes),
        )  # fmt: skip
        return CommandTrace(self._tracer, incoming, span)

    async def shutdown(self) -> None:
        """Flush and stop the exporter in a thread: its last export is a blocking HTTP call,
        and the collector may be served by this very event loop."""
        if self._provider is not None:
            await asyncio.to_thread(self._provider.shutdown)


def _sdk_tracer(settings: TracingSettings) -> tuple[Any, trace.Tracer]:
    # Imported only when tracing is on: the SDK and exporter are not on the default path.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter,
    )
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBasedTraceIdRatio

    provider = TracerProvider(
        resource=Resource.create({"service.name": settings.service_name}),
        sampler=ParentBasedTraceIdRatio(settings.sample_ratio),
    )
    exporter = (
        OTLPSpanExporter(endpoint=settings.otlp_endpoint)
        if settings.otlp_endpoint
        else OTLPSpanExporter()
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider, provider.get_tracer("call-control")
