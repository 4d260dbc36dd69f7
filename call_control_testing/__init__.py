"""call-control in your own tests: Kafka, the Sinch simulator and the service as containers,
and a client that sends a command and waits for its result. Install `call-control[testing]`.

    from call_control_testing import (
        CallControlContainer, KafkaContainer, SinchSimulatorContainer, command,
    )

    def test_hangup() -> None:
        with KafkaContainer() as kafka, SinchSimulatorContainer() as sinch:
            with CallControlContainer(kafka, sinch) as service:
                result = service.execute(command("call-1", "hangup"))
                assert result["outcome"] == "succeeded"

See docs/testing-with-containers.md.
"""

from call_control_testing.client import DEFAULT_TOPICS, CommandClient, Topics, command
from call_control_testing.containers import (
    KAFKA_IMAGE,
    SERVICE_IMAGE,
    SIMULATOR_IMAGE,
    CallControlContainer,
    ContainerFailed,
    KafkaContainer,
    SinchSimulatorContainer,
    free_port,
)

__all__ = [
    "DEFAULT_TOPICS",
    "KAFKA_IMAGE",
    "SERVICE_IMAGE",
    "SIMULATOR_IMAGE",
    "CallControlContainer",
    "CommandClient",
    "ContainerFailed",
    "KafkaContainer",
    "SinchSimulatorContainer",
    "Topics",
    "command",
    "free_port",
]
