"""Spans per OpenTelemetry's conventions (Kafka `process`, HTTP client), the standard OTEL_*
variables, and the ids on log lines: the flow with an in-memory span exporter."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import structlog
from opentelemetry import trace as trace_api
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from structlog.contextvars import clear_contextvars, merge_contextvars
from structlog.testing import capture_logs

from service.delivery.records import Record
from service.idempotency.store import MemoryStore
from service.ops.logging import add_span_ids, configure_logging
from service.ops.tracing import Tracing, _sdk_tracer
from service.settings import TracingSettings
from service.version import __version__
from tests.unit.flow.test_handler import FlakyStore, Harness, say

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PRODUCER_SPAN = "00f067aa0ba902b7"
TRACEPARENT = (("traceparent", f"00-{TRACE_ID}-{PRODUCER_SPAN}-01".encode()),)
OTEL_VARIABLES = (
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_SDK_DISABLED",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in OTEL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    yield
    clear_contextvars()


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


def traced_harness(exporter: InMemorySpanExporter, store: MemoryStore | None = None) -> Harness:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing = Tracing(TracingSettings(), consumer_group="cc", tracer_provider=provider)
    return Harness(store=store, tracing=tracing)


async def run_published(harness: Harness, command: dict[str, Any]) -> dict[str, Any]:
    """Run a command and do what delivery does once Kafka acknowledged its answer."""
    result = await harness.run(command, headers=TRACEPARENT)
    published = harness.answers[-1].published
    assert published is not None
    published()
    return result


def spans(exporter: InMemorySpanExporter, kind: SpanKind) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.kind is kind]


async def test_the_consumer_span_follows_the_kafka_process_conventions(
    exporter: InMemorySpanExporter,
) -> None:
    harness = traced_harness(exporter)
    assert (await run_published(harness, say()))["outcome"] == "succeeded"
    [span] = spans(exporter, SpanKind.CONSUMER)
    assert span.name == "process commands"
    assert span.parent is not None and format(span.parent.span_id, "016x") == PRODUCER_SPAN
    assert format(span.context.trace_id, "032x") == TRACE_ID, "the producer's trace goes on"
    attributes = dict(span.attributes or {})
    assert attributes["messaging.system"] == "kafka"
    assert attributes["messaging.operation.type"] == "process"
    assert attributes["messaging.operation.name"] == "process"
    assert attributes["messaging.destination.name"] == "commands"
    assert attributes["messaging.destination.partition.id"] == "0"
    assert attributes["messaging.kafka.offset"] == 0
    assert attributes["messaging.kafka.message.key"] == "call-1"
    assert attributes["messaging.consumer.group.name"] == "cc"
    assert attributes["callctl.outcome"] == "succeeded"
    assert "messaging.kafka.partition" not in attributes, "the deprecated name is gone"
    assert span.status.status_code is StatusCode.UNSET


async def test_the_sinch_span_follows_the_http_client_conventions(
    exporter: InMemorySpanExporter,
) -> None:
    harness = traced_harness(exporter)
    await run_published(harness, say())
    [consumer] = spans(exporter, SpanKind.CONSUMER)
    [client] = spans(exporter, SpanKind.CLIENT)
    assert client.name == "PATCH"
    assert client.parent is not None and client.parent.span_id == consumer.context.span_id
    attributes = dict(client.attributes or {})
    assert attributes == {
        "http.request.method": "PATCH",
        "url.full": "http://sinch.test/calling/v1/calls/id/call-1",
        "server.address": "sinch.test",
        "server.port": 80,
        "network.protocol.version": "1.1",
        "http.response.status_code": 204,
    }
    assert client.status.status_code is StatusCode.UNSET
    sent = harness.requests[0].headers["traceparent"]
    assert sent == f"00-{TRACE_ID}-{format(client.context.span_id, '016x')}-01", (
        "Sinch sees the attempt's span as its parent"
    )
    assert "authorization" not in {k.lower() for k in attributes}, "no header on the span"


async def test_a_4xx_answer_is_an_error_of_both_spans(exporter: InMemorySpanExporter) -> None:
    harness = traced_harness(exporter)
    harness.reply = lambda _: httpx.Response(
        404,
        json={"errorCode": 40400, "message": "Call not found", "reference": "ref-1"},
    )
    result = await run_published(harness, say())
    assert result["error"]["code"] == "call_not_found"
    [client] = spans(exporter, SpanKind.CLIENT)
    assert client.status.status_code is StatusCode.ERROR
    assert dict(client.attributes or {})["error.type"] == "404"
    assert dict(client.attributes or {})["http.response.status_code"] == 404
    [consumer] = spans(exporter, SpanKind.CONSUMER)
    assert consumer.status.status_code is StatusCode.ERROR
    assert dict(consumer.attributes or {})["error.type"] == "call_not_found"


async def test_each_resend_is_its_own_span_with_its_count(exporter: InMemorySpanExporter) -> None:
    harness = traced_harness(exporter)
    harness.status = 503
    await run_published(harness, say())
    clients = sorted(spans(exporter, SpanKind.CLIENT), key=lambda s: s.start_time or 0)
    assert len(clients) == 3 == len(harness.requests)
    counts = [dict(s.attributes or {}).get("http.request.resend_count") for s in clients]
    assert counts == [None, 1, 2], "absent on the first attempt, then 1, 2"
    assert all(s.status.status_code is StatusCode.ERROR for s in clients)
    assert {dict(s.attributes or {})["error.type"] for s in clients} == {"503"}


async def test_no_answer_names_the_transport_error(exporter: InMemorySpanExporter) -> None:
    harness = traced_harness(exporter)

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    harness.reply = refuse
    await run_published(harness, say())
    clients = spans(exporter, SpanKind.CLIENT)
    assert clients, "every attempt has its span"
    for span in clients:
        assert span.status.status_code is StatusCode.ERROR
        assert dict(span.attributes or {})["error.type"] == "ConnectError"
        assert "http.response.status_code" not in dict(span.attributes or {})


async def test_log_lines_carry_the_command_trace_and_the_attempt_span(
    exporter: InMemorySpanExporter,
) -> None:
    # a warning while the command runs (INFO and up: whatever level an earlier test configured)
    harness = traced_harness(exporter, store=FlakyStore(failures=2))
    with capture_logs(processors=[merge_contextvars, add_span_ids]) as logs:
        await run_published(harness, say())
    [consumer] = spans(exporter, SpanKind.CONSUMER)
    waits = [line for line in logs if line["event"] == "idempotency_store_unavailable"]
    assert len(waits) == 2, "the store's outage was logged"
    for line in waits:
        assert line["trace_id"] == TRACE_ID
        assert line["span_id"] == format(consumer.context.span_id, "016x")


def test_a_line_inside_an_attempt_span_names_that_span(exporter: InMemorySpanExporter) -> None:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing = Tracing(TracingSettings(), tracer_provider=provider)
    record = Record("commands", 3, 7, b"call-1", b"{}", TRACEPARENT)
    trace = tracing.start(record)
    with (
        capture_logs(processors=[merge_contextvars, add_span_ids]) as logs,
        trace.attempt("GET", "https://calling.api.sinch.com/calling/v1/calls/id/c", 0) as attempt,
    ):
        structlog.get_logger().info("inside")
        attempt.answered(200)
    [client] = spans(exporter, SpanKind.CLIENT)
    assert logs[0]["span_id"] == format(client.context.span_id, "016x")
    assert logs[0]["trace_id"] == TRACE_ID
    assert dict(client.attributes or {})["server.port"] == 443


async def test_tracing_off_costs_nothing_without_headers_and_passes_them_through() -> None:
    store = FlakyStore(failures=1)
    harness = Harness(store=store)
    with capture_logs(processors=[merge_contextvars, add_span_ids]) as logs:
        await harness.run(say())
    assert [line["event"] for line in logs] == ["idempotency_store_unavailable"]
    assert all("trace_id" not in line for line in logs), "no trace, no ids"
    assert "traceparent" not in harness.requests[0].headers
    clear_contextvars()

    store.failures = 1
    with capture_logs(processors=[merge_contextvars, add_span_ids]) as logs:
        await harness.run(say(command_id="c-2"), headers=TRACEPARENT)
    assert harness.requests[-1].headers["traceparent"] == TRACEPARENT[0][1].decode()
    [wait] = [line for line in logs if line["event"] == "idempotency_store_unavailable"]
    assert wait["trace_id"] == TRACE_ID, "the producer's trace, with tracing off"
    assert "span_id" not in wait, "no span of ours when off"


def test_otel_service_name_and_resource_attributes_win(monkeypatch: pytest.MonkeyPatch) -> None:
    provider, _ = _sdk_tracer(TracingSettings(enabled=True))
    assert provider.resource.attributes["service.name"] == "call-control", "the fallback"
    assert provider.resource.attributes["service.version"] == __version__
    provider.shutdown()

    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-otel-env")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=staging")
    provider, _ = _sdk_tracer(TracingSettings(enabled=True, service_name="ignored"))
    assert provider.resource.attributes["service.name"] == "from-otel-env"
    assert provider.resource.attributes["deployment.environment.name"] == "staging"
    provider.shutdown()

    monkeypatch.delenv("OTEL_SERVICE_NAME")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attributes")
    provider, _ = _sdk_tracer(TracingSettings(enabled=True))
    assert provider.resource.attributes["service.name"] == "from-attributes"
    provider.shutdown()


def test_otel_traces_sampler_wins_over_the_ratio(monkeypatch: pytest.MonkeyPatch) -> None:
    provider, _ = _sdk_tracer(TracingSettings(enabled=True, sample_ratio=0.25))
    assert "0.25" in provider.sampler.get_description(), "the fallback ratio"
    provider.shutdown()
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")
    provider, _ = _sdk_tracer(TracingSettings(enabled=True, sample_ratio=0.25))
    assert provider.sampler.get_description() == "AlwaysOffSampler"
    provider.shutdown()


async def test_otel_sdk_disabled_passes_the_context_through(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    tracing = Tracing(TracingSettings(enabled=True))
    assert not tracing.enabled
    trace = tracing.start(Record("commands", 0, 0, b"k", b"{}", TRACEPARENT))
    assert trace.headers()["traceparent"] == TRACEPARENT[0][1].decode()
    await tracing.shutdown()


@pytest.fixture
def restore_logging() -> Iterator[None]:
    config = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    structlog.configure(**config)
    root.handlers[:], root.level = handlers, level


@pytest.mark.parametrize("span_ids", [True, False])
def test_json_log_lines_carry_the_ids(
    span_ids: bool, capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    """The production renderer: a line inside an attempt span names it; without the processor
    (tracing off) only what the command bound is there."""
    configure_logging("INFO", "json", span_ids=span_ids)
    provider = TracerProvider()
    tracing = Tracing(TracingSettings(), tracer_provider=provider)
    trace = tracing.start(Record("commands", 0, 0, b"k", b"{}", TRACEPARENT))
    command_span = format(trace.span.get_span_context().span_id, "016x")
    with trace.attempt("PATCH", "http://sinch.test/calling/v1/calls/id/k", 0):
        structlog.get_logger(logger_name="test").info("inside_attempt")
        attempt_span = format(trace_api.get_current_span().get_span_context().span_id, "016x")
    structlog.get_logger(logger_name="test").info("after_attempt")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    inside, after = lines
    assert inside["trace_id"] == after["trace_id"] == TRACE_ID
    assert after["span_id"] == command_span
    assert inside["span_id"] == (attempt_span if span_ids else command_span)
