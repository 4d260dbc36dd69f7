"""The whole flow with known secrets, at DEBUG: none may reach a log line, a result, or a
dead-letter header."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from service.version import __version__
from testkit.kafka import produce, read_topic
from testkit.processes import SIM_KEY, SIM_SECRET, SimulatorProcess
from testkit.service import ServiceProcess, service_env, unique_topics
from tests.faults.support import (
    FAULT_TUNING,
    new_run,
    wait_for_results,
)

RECORDING_SECRET = "AKIAEXAMPLE:very-secret-recording-credential:eu-central-1"


async def test_no_secret_reaches_logs_results_or_headers(
    kafka: str, simulator: SimulatorProcess, tmp_path: Path
) -> None:
    run = new_run()
    topics = unique_topics("fault", run)
    call_id = f"{run}-secret-call"
    options = {"destinationUrl": "s3://bucket/rec", "credentials": RECORDING_SECRET}
    commands: list[dict[str, Any]] = [
        {"commandId": f"{run}-1", "callId": call_id, "type": "startRecording", "options": options},
        {
            "commandId": f"{run}-2",
            "callId": call_id,
            "type": "svaml",
            "svaml": {"instructions": [{"name": "startRecording", "options": options}]},
        },
        {  # invalid (unknown field): rejected and dead-lettered, message names fields only
            "commandId": f"{run}-3",
            "callId": call_id,
            "type": "startRecording",
            "options": {**options, "colour": "blue"},
        },
        {"commandId": f"{run}-4", "callId": call_id, "type": "hangup"},
    ]
    env = service_env(
        tuning=FAULT_TUNING,
        bootstrap=kafka,
        simulator_url=simulator.url,
        topics=topics,
        group=f"secrets-{run}",
        state_dir=tmp_path,
        CALLCTL_LOG_LEVEL="DEBUG",
        CALLCTL_SNAPSHOT_DEFAULT="true",
    )
    await simulator.set_faults(errorRate=0.3, errorStatuses=[503])  # retries log too
    service = ServiceProcess("service", env, tmp_path)
    service.start()
    try:
        await produce(
            kafka, topics.commands, [(call_id.encode(), json.dumps(c).encode()) for c in commands]
        )
        await wait_for_results(
            kafka, topics.results, {c["commandId"] for c in commands}, 60, [service]
        )
    finally:
        assert service.terminate() == 0
    logs = service.logs()
    assert f"{run}-1" in logs, "the canonical line per command was logged"
    for secret in (SIM_SECRET, RECORDING_SECRET, "very-secret-recording-credential"):
        assert secret not in logs
    assert f"Application {SIM_KEY}:" not in logs, "no Authorization header in the logs"
    assert "Basic " not in logs
    lines = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    [starting] = [line for line in lines if line["event"] == "service_starting"]
    assert starting["version"] == __version__
    assert starting["config"]["sinch"]["application_secret"] == "<set>", "named, not shown"
    assert starting["config"]["kafka"]["bootstrap_servers"] == kafka
    [command_line] = [line for line in lines if line.get("command_id") == f"{run}-3"]
    assert command_line["error"] == "invalid_command"
    assert command_line["error_message"], "the message is on the command line"

    results = await read_topic(kafka, topics.results)
    for record in results:
        assert RECORDING_SECRET.encode() not in record.value
    echoed = [
        json.loads(r.value) for r in results if json.loads(r.value)["commandId"] == f"{run}-1"
    ]
    assert echoed[0]["request"]["body"]["instructions"][0]["options"]["credentials"] == "***"
    for record in await read_topic(kafka, topics.dead_letter):
        for value in record.headers.values():
            assert RECORDING_SECRET.encode() not in value
    for record in await read_topic(kafka, topics.snapshots):
        assert RECORDING_SECRET.encode() not in record.value
