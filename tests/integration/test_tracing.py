"""W3C trace context from the command record, through the Sinch request, onto the result and
snapshot records: passed through when tracing is off, continued by our spans when it is on."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from service.settings import Settings, TracingSettings
from testkit.kafka import KafkaClient, command
from testkit.processes import SimulatorProcess
from testkit.service import running_service

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


def trace_id(traceparent: str) -> str:
    return traceparent.split("-")[1]


def span_id(traceparent: str) -> str:
    return traceparent.split("-")[2]


async def send_traced(kafka_client: KafkaClient, body: dict[str, object]) -> None:
    assert kafka_client._producer is not None
    await kafka_client._producer.send_and_wait(
        kafka_client.topics.commands,
        json.dumps(body).encode(),
        key=str(body["callId"]).encode(),
        headers=[("traceparent", PARENT.encode())],
    )


async def test_trace_context_passes_through_when_tracing_is_off(
    settings: Settings, simulator: SimulatorProcess, kafka_client: KafkaClient
) -> None:
    call_id = f"call-{uuid.uuid4().hex[:10]}"
    await simulator.create_call(call_id)
    hangup = command(call_id, "hangup")
    async with running_service(settings):
        await send_traced(kafka_client, hangup)
        await kafka_client.results_for([hangup["commandId"]])
        await kafka_client.collect(lambda _: len(kafka_client.on(settings.topics.snapshots)) >= 1)

    result = kafka_client.on(settings.topics.results)[0]
    snapshot = kafka_client.on(settings.topics.snapshots)[0]
    assert result.headers["traceparent"].decode() == PARENT
    assert snapshot.headers["traceparent"].decode() == PARENT
    sent = [r["traceparent"] for r in await simulator.requests(call_id)]
    assert sent == [PARENT, PARENT], "the PATCH and the snapshot's GET both carry it"


@pytest.fixture
async def otlp_receiver() -> AsyncIterator[tuple[str, list[ExportTraceServiceRequest]]]:
    received: list[ExportTraceServiceRequest] = []

    async def traces(request: web.Request) -> web.Response:
        message = ExportTraceServiceRequest()
        message.ParseFromString(await request.read())
        received.append(message)
        return web.Response(status=200, body=b"", content_type="application/x-protobuf")

    app = web.Application()
    app.router.add_post("/v1/traces", traces)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}/v1/traces", received
    await runner.cleanup()


async def test_tracing_on_continues_the_trace_with_our_spans(
    settings: Settings,
    simulator: SimulatorProcess,
    kafka_client: KafkaClient,
    otlp_receiver: tuple[str, list[ExportTraceServiceRequest]],
) -> None:
    endpoint, received = otlp_receiver
    traced = settings.model_copy(
        update={"tracing": TracingSettings(enabled=True, otlp_endpoint=endpoint)}
    )
    call_id = f"call-{uuid.uuid4().hex[:10]}"
    await simulator.create_call(call_id)
    say = command(call_id, "say", text="traced", locale="en-US", snapshot=False)
    async with running_service(traced):
        await send_traced(kafka_client, say)
        await kafka_client.results_for([say["commandId"]])
    # leaving the service flushed the span processor

    result_parent = kafka_client.on(settings.topics.results)[0].headers["traceparent"].decode()
    assert trace_id(result_parent) == TRACE_ID, "the producer's trace goes on"
    assert span_id(result_parent) != span_id(PARENT), "...from our command span"
    [sinch_parent] = [r["traceparent"] for r in await simulator.requests(call_id)]
    assert trace_id(sinch_parent) == TRACE_ID

    spans = [
        span
        for message in received
        for resource in message.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]
    by_id = {span.span_id.hex(): span for span in spans}
    command_span = by_id[span_id(result_parent)]
    assert command_span.parent_span_id.hex() == span_id(PARENT)
    attempt_span = by_id[span_id(sinch_parent)]
    assert attempt_span.parent_span_id.hex() == span_id(result_parent)
    attributes = {a.key: a.value for a in command_span.attributes}
    assert attributes["callctl.outcome"].string_value == "succeeded"
    # OpenTelemetry's conventions: a Kafka `process` span and an HTTP client span
    assert command_span.name == f"process {settings.topics.commands}"
    assert command_span.kind == Span.SpanKind.SPAN_KIND_CONSUMER
    assert attributes["messaging.system"].string_value == "kafka"
    assert attributes["messaging.operation.type"].string_value == "process"
    assert attributes["messaging.destination.name"].string_value == settings.topics.commands
    assert attributes["messaging.consumer.group.name"].string_value == settings.kafka.group_id
    assert attributes["messaging.kafka.message.key"].string_value == call_id
    assert attributes["messaging.destination.partition.id"].string_value.isdigit()
    assert attributes["messaging.kafka.offset"].int_value >= 0
    assert attempt_span.name == "PATCH"
    assert attempt_span.kind == Span.SpanKind.SPAN_KIND_CLIENT
    client = {a.key: a.value for a in attempt_span.attributes}
    assert client["url.full"].string_value == f"{simulator.url}/calling/v1/calls/id/{call_id}"
    assert client["server.address"].string_value == "127.0.0.1"
    assert client["server.port"].int_value == int(simulator.url.rsplit(":", 1)[1])
    assert client["http.response.status_code"].int_value == 204
    [resource] = {
        a.value.string_value
        for message in received
        for r in message.resource_spans
        for a in r.resource.attributes
        if a.key == "service.name"
    }
    assert resource == "call-control"


async def test_otel_variables_choose_the_exporter_and_the_service_name(
    settings: Settings,
    simulator: SimulatorProcess,
    kafka_client: KafkaClient,
    otlp_receiver: tuple[str, list[ExportTraceServiceRequest]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The standard variables win over CALLCTL_TRACING__*: the endpoint setting points nowhere,
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT at the collector, and OTEL_SERVICE_NAME names us."""
    endpoint, received = otlp_receiver
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", endpoint)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "call-control-from-otel")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=test")
    traced = settings.model_copy(
        update={
            "tracing": TracingSettings(enabled=True, otlp_endpoint="http://127.0.0.1:9/v1/traces")
        }
    )
    call_id = f"call-{uuid.uuid4().hex[:10]}"
    await simulator.create_call(call_id)
    hangup = command(call_id, "hangup", snapshot=False)
    async with running_service(traced):
        await send_traced(kafka_client, hangup)
        await kafka_client.results_for([hangup["commandId"]])

    resources = [
        {a.key: a.value.string_value for a in r.resource.attributes}
        for message in received
        for r in message.resource_spans
    ]
    assert resources, "the spans reached the collector named by OTEL_EXPORTER_OTLP_*"
    for attributes in resources:
        assert attributes["service.name"] == "call-control-from-otel"
        assert attributes["deployment.environment.name"] == "test"
        assert attributes["service.version"]
