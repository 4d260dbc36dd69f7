"""A command still executing when the grace runs out is abandoned with a result, published
before the service lets go of its partitions (in-process; the fault suite does it with SIGTERM
to a real process)."""

from __future__ import annotations

import uuid

from service.settings import Settings
from testkit.kafka import KafkaClient, command
from testkit.processes import SimulatorProcess
from testkit.service import running_service
from testkit.waiting import eventually


async def test_stop_abandons_what_still_executes_with_an_outcome_unknown_result(
    settings: Settings, simulator: SimulatorProcess, kafka_client: KafkaClient
) -> None:
    call_id = f"call-{uuid.uuid4().hex[:12]}"
    await simulator.create_call(call_id)
    await simulator.set_faults(latencyMs=60_000)  # Sinch answers long after the grace
    say = command(call_id, "say", text="slow", locale="en-US", snapshot=False)
    # The grace leaves the claim time to finish: what is cut short is the request to Sinch.
    quick = settings.model_copy(update={"shutdown_grace_s": 2.0})
    async with running_service(quick) as service:
        await kafka_client.send(say)

        def executing() -> None:
            assert service.engine is not None and service.engine.state().in_flight == 1

        await eventually(executing, timeout_s=30)
    results = await kafka_client.results_for([say["commandId"]])
    result = results[say["commandId"]]
    assert result["outcome"] == "failed"
    assert result["error"]["code"] == "outcome_unknown"
    assert "abandoned" in result["error"]["message"]
    assert result["error"]["retryable"] is False, "say is not harmless"
