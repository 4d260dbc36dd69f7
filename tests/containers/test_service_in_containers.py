"""call-control as another team runs it in its tests: three containers, through
`call_control_testing`."""

from __future__ import annotations

import uuid
from pathlib import Path

from call_control_testing import (
    SERVICE_IMAGE,
    CallControlContainer,
    KafkaContainer,
    SinchSimulatorContainer,
    Topics,
    command,
)
from tests.containers.conftest import image

ROOT = Path(__file__).resolve().parents[2]


def new_call() -> str:
    return f"call-{uuid.uuid4().hex[:12]}"


def test_a_hangup_goes_through_the_three_containers(
    service: CallControlContainer, sinch: SinchSimulatorContainer
) -> None:
    call_id = new_call()
    result = service.execute(command(call_id, "hangup"))
    assert result["outcome"] == "succeeded"
    assert result["httpStatus"] == 204
    assert result["callId"] == call_id
    [patch] = [r for r in sinch.requests(call_id) if r["method"] == "PATCH"]
    assert patch["body"] == '{"action":{"name":"hangup"}}'


async def test_a_repeated_command_gets_its_first_result_again(
    service: CallControlContainer, sinch: SinchSimulatorContainer
) -> None:
    call_id = new_call()
    say = command(call_id, "say", text="Your code is 1234", locale="en-US")
    async with service.client() as client:
        first = await client.execute(say)
        # the same commandId again: a second result, from the idempotency store
        replayed = await client.execute(say)
    assert first["outcome"] == replayed["outcome"] == "succeeded"
    assert (first["duplicate"], replayed["duplicate"]) == (False, True)
    patches = [r for r in sinch.requests(call_id) if r["method"] == "PATCH"]
    assert len(patches) == 1, "the repeat must not reach Sinch"


def test_callctl_inside_the_service_container(
    service: CallControlContainer, sinch: SinchSimulatorContainer
) -> None:
    call_id = new_call()
    code, output = service.callctl("send", "hangup", "--call-id", call_id, "--wait")
    assert code == 0, output
    assert "succeeded" in output
    assert len([r for r in sinch.requests(call_id) if r["method"] == "PATCH"]) == 1


def test_sigterm_stops_the_service_with_exit_code_0(
    kafka: KafkaContainer, sinch: SinchSimulatorContainer
) -> None:
    container = CallControlContainer(
        kafka, sinch, image("IMAGE", SERVICE_IMAGE), topics=Topics.unique("ct")
    )
    with container:
        assert container.execute(command(new_call(), "hangup"))["outcome"] == "succeeded"
        wrapped = container.get_wrapped_container()
        wrapped.stop(timeout=30)  # SIGTERM, then SIGKILL after 30 s
        wrapped.reload()
        assert wrapped.attrs["State"]["ExitCode"] == 0, container.logs()[-2000:]
        assert "service_stopped" in container.logs()


def test_the_docs_show_the_example_test_word_for_word() -> None:
    docs = (ROOT / "docs" / "testing-with-containers.md").read_text()
    example = (ROOT / "tests" / "containers" / "test_example_from_docs.py").read_text()
    assert f"```python\n{example}```" in docs
