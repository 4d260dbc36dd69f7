"""The end-to-end slice through the real broker and the simulator over its socket."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid

from pydantic import SecretStr

from service.settings import Settings, SinchSettings
from testkit.kafka import KafkaClient, command
from testkit.processes import SIM_KEY, SimulatorProcess
from testkit.service import running_service

CONTRACT_RESULT_FIELDS = {
    "commandId", "callId", "conferenceId", "type", "outcome", "duplicate", "attempts",
    "httpStatus", "error", "note", "request", "receivedAt", "completedAt", "durationMs",
    "source", "metadata",
}  # fmt: skip


def new_call_id() -> str:
    return f"call-{uuid.uuid4().hex[:12]}"


async def test_hangup_succeeds_and_publishes_a_final_snapshot(
    settings: Settings, simulator: SimulatorProcess, kafka_client: KafkaClient
) -> None:
    call_id = new_call_id()
    await simulator.create_call(call_id)
    hangup = command(call_id, "hangup", metadata={"ticket": "T-1"})
    async with running_service(settings):
        await kafka_client.send(hangup)
        results = await kafka_client.results_for([hangup["commandId"]])
        await kafka_client.collect(lambda _: len(kafka_client.on(settings.topics.snapshots)) >= 1)

    result = results[hangup["commandId"]]
    assert set(result) == CONTRACT_RESULT_FIELDS
    assert result["outcome"] == "succeeded"
    assert result["attempts"] == 1
    assert result["httpStatus"] == 204
    assert result["error"] is None
    assert result["duplicate"] is False
    assert result["metadata"] == {"ticket": "T-1"}
    assert result["request"] == {
        "method": "PATCH",
        "path": f"/calling/v1/calls/id/{call_id}",
        "body": {"action": {"name": "hangup"}},
    }
    assert result["source"]["topic"] == settings.topics.commands
    assert result["receivedAt"].endswith("Z") and result["completedAt"].endswith("Z")

    snapshot_record = kafka_client.on(settings.topics.snapshots)[0]
    assert snapshot_record.key == call_id.encode()
    snapshot = snapshot_record.json()
    assert snapshot["callId"] == call_id
    assert snapshot["commandId"] == hangup["commandId"]
    assert snapshot["call"]["status"] == "FINAL"
    assert snapshot["call"]["reason"] == "MANAGERHANGUP"

    patches = [r for r in await simulator.requests(call_id) if r["method"] == "PATCH"]
    assert len(patches) == 1
    assert patches[0]["body"] == '{"action":{"name":"hangup"}}'
    assert patches[0]["authScheme"] == "signed" and patches[0]["authOk"] is True


async def test_hangup_of_an_unknown_call_fails_with_call_not_found(
    settings: Settings, simulator: SimulatorProcess, kafka_client: KafkaClient
) -> None:
    hangup = command(new_call_id(), "hangup")
    async with running_service(settings):
        await kafka_client.send(hangup)
        result = (await kafka_client.results_for([hangup["commandId"]]))[hangup["commandId"]]

    assert result["outcome"] == "failed"
    assert result["httpStatus"] == 404
    assert result["attempts"] == 1, "a 404 ends the command at once"
    assert result["error"]["code"] == "call_not_found"
    assert result["error"]["sinchErrorCode"] == 40400
    assert result["error"]["retryable"] is False
    assert not kafka_client.on(settings.topics.snapshots), "no snapshot after a failure"


async def test_get_call_info_publishes_a_snapshot(
    settings: Settings, simulator: SimulatorProcess, kafka_client: KafkaClient
) -> None:
    call_id = new_call_id()
    await simulator.create_call(call_id)
    info = command(call_id, "getCallInfo")
    async with running_service(settings):
        await kafka_client.send(info)
        result = (await kafka_client.results_for([info["commandId"]]))[info["commandId"]]
        await kafka_client.collect(lambda _: len(kafka_client.on(settings.topics.snapshots)) >= 1)

    assert result["outcome"] == "succeeded"
    assert result["httpStatus"] == 200
    assert result["request"] == {
        "method": "GET",
        "path": f"/calling/v1/calls/id/{call_id}",
        "body": None,
    }
    snapshots = [r.json() for r in kafka_client.on(settings.topics.snapshots)]
    assert len(snapshots) == 1, "getCallInfo's own answer is the snapshot: no second read"
    assert snapshots[0]["call"]["status"] == "ONGOING"
    assert snapshots[0]["observedAt"].endswith("Z")
    gets = [r for r in await simulator.requests(call_id) if r["method"] == "GET"]
    assert len(gets) == 1


async def test_unreadable_record_is_dead_lettered_and_service_keeps_serving(
    settings: Settings, simulator: SimulatorProcess, kafka_client: KafkaClient
) -> None:
    call_id = new_call_id()
    await simulator.create_call(call_id)
    garbage = b"\x00not json at all\xff"
    after = command(call_id, "getCallInfo")
    async with running_service(settings):
        await kafka_client.send(garbage, key=call_id)
        await kafka_client.send(after)
        result = (await kafka_client.results_for([after["commandId"]]))[after["commandId"]]
        await kafka_client.collect(lambda _: len(kafka_client.on(settings.topics.dead_letter)) >= 1)

    assert result["outcome"] == "succeeded", "the bad record did not stop the service"
    dead = kafka_client.on(settings.topics.dead_letter)
    assert len(dead) == 1
    assert dead[0].value == garbage, "the original bytes, byte for byte"
    assert dead[0].key == call_id.encode()
    assert dead[0].headers["error.code"] == b"not_json"
    assert dead[0].headers["source.topic"] == settings.topics.commands.encode()
    assert dead[0].headers["source.offset"] == b"0"
    rejected = [r for r in kafka_client.results() if r["outcome"] == "rejected"]
    assert len(rejected) == 1
    assert rejected[0]["commandId"] is None and rejected[0]["callId"] == call_id
    assert rejected[0]["error"]["code"] == "not_json"


async def test_invalid_command_is_rejected_naming_the_field_with_no_request(
    settings: Settings, simulator: SimulatorProcess, kafka_client: KafkaClient
) -> None:
    call_id = new_call_id()
    await simulator.create_call(call_id)
    bad = command(call_id, "say", text="x" * 601, locale="en-US")
    async with running_service(settings):
        await kafka_client.send(bad)
        result = (await kafka_client.results_for([bad["commandId"]]))[bad["commandId"]]
        await kafka_client.collect(lambda _: len(kafka_client.on(settings.topics.dead_letter)) >= 1)

    assert result["outcome"] == "rejected"
    assert result["attempts"] == 0 and result["request"] is None
    assert result["error"]["code"] == "invalid_command"
    assert "text" in result["error"]["message"] and "600" in result["error"]["message"]
    assert await simulator.requests(call_id) == []
    assert json.loads(kafka_client.on(settings.topics.dead_letter)[0].value) == bad


async def test_wrong_credentials_fail_with_unauthorized(
    settings: Settings, simulator: SimulatorProcess, kafka_client: KafkaClient
) -> None:
    call_id = new_call_id()
    await simulator.create_call(call_id)
    wrong_secret = base64.b64encode(hashlib.sha256(b"not the secret").digest()).decode()
    wrong = settings.model_copy(
        update={
            "sinch": SinchSettings(
                base_url=simulator.url,
                application_key=SIM_KEY,
                application_secret=SecretStr(wrong_secret),
            )
        }
    )
    hangup = command(call_id, "hangup")
    async with running_service(wrong):
        await kafka_client.send(hangup)
        result = (await kafka_client.results_for([hangup["commandId"]]))[hangup["commandId"]]

    assert result["outcome"] == "failed"
    assert result["httpStatus"] == 401
    assert result["error"]["code"] == "unauthorized"
    assert result["error"]["sinchErrorCode"] == 40102
    logged = await simulator.requests(call_id)
    assert logged and all(r["authOk"] is False for r in logged)
