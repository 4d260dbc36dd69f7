"""The operations port during a load: liveness, readiness, and metrics that add up."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from prometheus_client.parser import text_string_to_metric_families

from service.settings import Settings
from testkit.kafka import KafkaClient, command
from testkit.processes import SimulatorProcess
from testkit.service import running_service


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_health_readiness_and_metrics_under_load(
    settings: Settings, simulator: SimulatorProcess, kafka_client: KafkaClient
) -> None:
    await simulator.set_faults(latencyMs=20)
    calls = [f"call-{uuid.uuid4().hex[:8]}" for _ in range(20)]
    for call_id in calls:
        await simulator.create_call(call_id)
    commands = [
        command(call_id, "say", text=f"n{i}", locale="en-US", snapshot=False)
        for i in range(10)
        for call_id in calls
    ]
    bad = b"not json"
    async with running_service(settings) as service:
        base = f"http://127.0.0.1:{service.health.port}"
        async with httpx.AsyncClient(base_url=base, timeout=5) as http:
            assert (await http.get("/healthz")).status_code == 200
            for _ in range(50):
                if (await http.get("/readyz")).status_code == 200:
                    break
                await asyncio.sleep(0.1)
            ready = (await http.get("/readyz")).json()
            assert ready == {"status": "ready", "ready": True, "reasons": []}
            for cmd in commands:
                await kafka_client.send(cmd)
            await kafka_client.send(bad, key=calls[0])
            during = (await http.get("/metrics")).text
            await kafka_client.results_for([c["commandId"] for c in commands])
            await kafka_client.collect(lambda r: len(r) >= len(commands) + 2)  # + rejected, DLQ
            await asyncio.sleep(0.3)  # the commit loop runs every 100 ms here
            after = samples((await http.get("/metrics")).text)

    assert "callctl_in_flight" in during
    assert after[("callctl_commands_total", (("outcome", "succeeded"), ("type", "say")))] == 200
    assert after[("callctl_commands_total", (("outcome", "rejected"), ("type", "unknown")))] == 1
    assert after[("callctl_dead_letters_total", (("code", "not_json"),))] == 1
    assert after[("callctl_sinch_responses_total", (("status", "204"),))] == 200
    assert after[("callctl_sinch_request_seconds_count", (("method", "PATCH"),))] == 200
    assert after[("callctl_command_latency_seconds_count", (("type", "say"),))] == 200
    assert after[("callctl_in_flight", ())] == 0
    # initialised to 0 before any event, so rate() and alerts see them from the first scrape
    assert after[("callctl_commands_total", (("outcome", "failed"), ("type", "hangup")))] == 0
    assert after[("callctl_dead_letters_total", (("code", "too_large"),))] == 0
    for name in (
        "callctl_publish_failures_total",
        "callctl_idempotency_store_errors_total",
        "callctl_commit_failures_total",
    ):
        assert after[(name, ())] == 0, name
    assert after[("callctl_rebalances_total", ())] >= 1
    assert after[("callctl_assigned_partitions", ())] >= 1
    assert any(name == "callctl_build_info" for name, _ in after)
    assert any(name == "process_cpu_seconds_total" for name, _ in after)
    assert any(name.startswith("python_gc_") for name, _ in after)
    lags = [v for (name, _), v in after.items() if name == "callctl_consumer_lag"]
    assert lags, "a lag per assigned partition"
    assert sum(lags) == 0, "everything done and committed"
