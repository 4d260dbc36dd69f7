"""The chart's `helm test` pod, run as Kubernetes would run it but without a cluster: the pod is
rendered by `helm template`, and its container (image, command, arguments, environment, user,
read-only root) is started with Docker against the Kafka, simulator and service containers.

This runs the exact command `helm test` would, without a cluster; `make test-cluster` runs
`helm test` itself on a local Kubernetes built from the Go module proxy
(docs/helm-test-on-kubernetes.md), where its binaries are built. helm comes from `make helm-check`
(`$(go env GOPATH)/bin/helm`), or HELM."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any, Protocol

import yaml
from testcontainers.core.container import DockerContainer

from call_control_testing import (
    SERVICE_IMAGE,
    CallControlContainer,
    KafkaContainer,
    Topics,
)
from testkit.kafka import create_topics
from tests.containers.conftest import image

CHART = Path(__file__).resolve().parents[2] / "helm" / "call-control"
HOOK = "templates/tests/test-release.yaml"


def helm() -> str:
    found = os.environ.get("HELM") or shutil.which("helm")
    if not found:
        gopath = subprocess.run(
            ["go", "env", "GOPATH"], capture_output=True, text=True, check=False
        ).stdout.strip()
        candidate = Path(gopath or "/nonexistent") / "bin" / "helm"
        found = str(candidate) if candidate.exists() else None
    assert found, "helm is needed: `make helm-check` builds it (or set HELM)"
    return found


class TopicNames(Protocol):
    @property
    def commands(self) -> str: ...
    @property
    def results(self) -> str: ...
    @property
    def snapshots(self) -> str: ...
    @property
    def dead_letter(self) -> str: ...


def render_hook(bootstrap: str, topics: TopicNames, **values: str) -> dict[str, Any]:
    """The test pod as `helm template` renders it; `values` are `--set` (typed), the rest
    `--set-string`."""
    repository, _, tag = image("IMAGE", SERVICE_IMAGE).rpartition(":")
    settings = {
        "image.repository": repository,
        "image.tag": tag,
        "kafka.bootstrapServers": bootstrap,
        "topics.commands": topics.commands,
        "topics.results": topics.results,
        "topics.snapshots": topics.snapshots,
        "topics.deadLetter": topics.dead_letter,
    }
    args = [arg for name, value in settings.items() for arg in ("--set-string", f"{name}={value}")]
    args += [arg for name, value in values.items() for arg in ("--set", f"{name}={value}")]
    rendered = subprocess.run(
        [helm(), "template", "release", str(CHART), "--show-only", HOOK, *args],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    pod: dict[str, Any] = yaml.safe_load(rendered)
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    return pod


def run_pod(pod: dict[str, Any], timeout_s: float) -> tuple[int, str]:
    """The pod's one container, as the kubelet would start it: exit code and output."""
    [spec] = pod["spec"]["containers"]
    assert all("value" in variable for variable in spec["env"]), "no Secret in this scenario"
    security = spec["securityContext"]
    container = (
        DockerContainer(spec["image"])
        .with_envs(**{variable["name"]: variable["value"] for variable in spec["env"]})
        .with_command(spec["args"])
        .with_kwargs(
            entrypoint=spec["command"],
            network="host",
            user=f"{security['runAsUser']}:{security['runAsGroup']}",
            read_only=security["readOnlyRootFilesystem"],
            cap_drop=security["capabilities"]["drop"],
        )
    )
    for mount in spec["volumeMounts"]:  # the pod's emptyDirs
        container.with_tmpfs_mount(mount["mountPath"])
    container.start()
    try:
        wrapped = container.get_wrapped_container()
        code = int(wrapped.wait(timeout=timeout_s)["StatusCode"])
        out, err = container.get_logs()
        return code, (out + err).decode(errors="replace")
    finally:
        container.stop()


def test_the_helm_test_pod_proves_a_release_works(service: CallControlContainer) -> None:
    pod = render_hook(service.bootstrap, service.topics, **{"tests.timeoutSeconds": "60"})
    code, output = run_pod(pod, timeout_s=120)
    assert code == 0, output
    assert "PASS" in output
    assert '"outcome": "succeeded"' in output, "the getCallInfo's result is printed"


async def test_the_helm_test_pod_fails_when_nothing_consumes(kafka: KafkaContainer) -> None:
    """Topics that no service reads: no result comes, and the test says so and fails."""
    topics = Topics.unique(f"hook-{uuid.uuid4().hex[:6]}")
    bootstrap = kafka.get_bootstrap_server()
    await create_topics(bootstrap, [topics.commands, topics.results], partitions=1)
    pod = render_hook(bootstrap, topics, **{"tests.timeoutSeconds": "5"})
    code, output = await asyncio.to_thread(run_pod, pod, 90)
    assert code == 1, output
    assert "FAIL: no result within 5 s" in output, output
    assert "PASS" not in output
