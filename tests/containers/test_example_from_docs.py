"""The example of docs/testing-with-containers.md, as a team would put it in its own suite."""

from collections.abc import Iterator

import pytest

from call_control_testing import (
    CallControlContainer,
    KafkaContainer,
    SinchSimulatorContainer,
    command,
)


@pytest.fixture(scope="module")
def sinch() -> Iterator[SinchSimulatorContainer]:
    with SinchSimulatorContainer(auto_create_calls=False) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def call_control(sinch: SinchSimulatorContainer) -> Iterator[CallControlContainer]:
    with KafkaContainer() as kafka, CallControlContainer(kafka, sinch) as service:
        yield service


def test_our_hangup_reaches_sinch(
    call_control: CallControlContainer, sinch: SinchSimulatorContainer
) -> None:
    sinch.create_call("call-42")
    result = call_control.execute(command("call-42", "hangup"))
    assert result["outcome"] == "succeeded"
    hangups = [r for r in sinch.requests("call-42") if r["method"] == "PATCH"]
    assert len(hangups) == 1


def test_an_unknown_call_is_reported_not_retried(call_control: CallControlContainer) -> None:
    result = call_control.execute(command("no-such-call", "hangup"))
    assert result["outcome"] == "failed"
    assert result["error"]["code"] == "call_not_found"
