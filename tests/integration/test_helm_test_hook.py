"""The chart's `helm test` pod's command, rendered by `helm template` and run here with the
pod's environment against the real broker, the simulator and the service: it passes on a result
(succeeded, or call_not_found from Sinch) and fails when none comes. `make test-containers`
runs the same pod in the service image (tests/containers/test_helm_test_hook.py). helm comes
from `make helm-check` (`$(go env GOPATH)/bin/helm`), or HELM."""

from __future__ import annotations

import asyncio
import os
import uuid

from service.kafka.topics import ensure_topics
from service.settings import Settings
from testkit.kafka import KafkaClient
from testkit.processes import SimulatorProcess
from testkit.service import running_service, unique_topics
from tests.containers.test_helm_test_hook import render_hook


async def run_hook(settings: Settings, **values: str) -> tuple[int, str]:
    pod = render_hook(settings.kafka.bootstrap_servers, settings.topics, **values)
    [container] = pod["spec"]["containers"]
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    env.update({variable["name"]: variable["value"] for variable in container["env"]})
    process = await asyncio.create_subprocess_exec(
        *container["command"],
        *container["args"],
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode(errors="replace")


async def test_the_hook_passes_on_a_live_call(
    settings: Settings, simulator: SimulatorProcess, kafka_client: KafkaClient
) -> None:
    call_id = f"live-{uuid.uuid4().hex[:8]}"
    await simulator.create_call(call_id)
    async with running_service(settings):
        code, output = await run_hook(settings, **{"tests.callId": call_id})
    assert code == 0, output
    assert "PASS: the result came back succeeded" in output
    assert [r["method"] for r in await simulator.requests(call_id)] == ["GET"]


async def test_the_hook_passes_when_sinch_does_not_know_the_call(
    settings: Settings, simulator: SimulatorProcess, kafka_client: KafkaClient
) -> None:
    async with running_service(settings):
        code, output = await run_hook(settings)  # helm-test-release-1: no such call
    assert code == 0, output
    assert "PASS: Sinch answered call_not_found" in output
    assert await simulator.requests("helm-test-release-1"), "the request reached Sinch"


async def test_the_hook_fails_on_wrong_credentials(
    settings: Settings, simulator: SimulatorProcess, kafka_client: KafkaClient
) -> None:
    wrong = settings.model_copy(
        update={"sinch": settings.sinch.model_copy(update={"application_key": "wrong-key"})}
    )
    async with running_service(wrong):
        code, output = await run_hook(settings)
    assert code == 1, output
    assert "FAIL: the result is failed with error code 'unauthorized'" in output


async def test_the_hook_fails_when_nothing_consumes(kafka: str, settings: Settings) -> None:
    idle = settings.model_copy(update={"topics": unique_topics("hook")})
    await ensure_topics(idle.kafka, idle.topics)
    code, output = await run_hook(idle, **{"tests.timeoutSeconds": "5"})
    assert code == 1, output
    assert "FAIL: no result within 5 s" in output
