"""docs/examples/{python,java,go,node} run as documented: each producer sends a command through
the real broker to a running service (with the simulator as Sinch), and each consumer finds that
command's result by commandId on the results topic, with a group of its own. The Java, Go and
Node snippets run as their own programs, with their dependencies from `make examples`; a missing
toolchain fails the test (CI has them all)."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import pytest
from aiokafka import AIOKafkaConsumer

from service.settings import Settings
from testkit.kafka import KafkaClient
from testkit.processes import SimulatorProcess
from testkit.service import running_service

EXAMPLES = Path(__file__).resolve().parents[2] / "docs/examples/python"
ASYNCAPI = json.loads((EXAMPLES.parents[2] / "schemas/asyncapi.json").read_text(encoding="utf-8"))


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_python_snippets_send_a_command_and_find_its_result(
    kafka: str, settings: Settings, simulator: SimulatorProcess, kafka_client: KafkaClient
) -> None:
    produce, consume = load("produce"), load("consume")
    call_id = f"call-{uuid.uuid4().hex[:8]}"
    await simulator.create_call(call_id)
    command_id = produce.command_id("ivr-svc", call_id, "hangup")
    assert command_id == f"ivr-svc:{call_id}:hangup:1"
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    async with running_service(settings):
        await produce.send_command(
            kafka,
            settings.topics.commands,
            {"commandId": command_id, "callId": call_id, "type": "hangup"},
            traceparent=traceparent,
        )
        result = await consume.wait_for_result(
            kafka, settings.topics.results, f"example-{uuid.uuid4().hex[:8]}", command_id, 60
        )
    assert result["commandId"] == command_id
    assert result["callId"] == call_id
    assert result["outcome"] == "succeeded", result
    assert consume.next_step(result) == "done"
    assert await simulator.requests(call_id), "the service called Sinch for the command"
    # the command went out with the key and header the guide promises
    reader = AIOKafkaConsumer(
        settings.topics.commands, bootstrap_servers=kafka, auto_offset_reset="earliest"
    )
    await reader.start()
    try:
        [record] = (await reader.getmany(timeout_ms=10_000)).popitem()[1]
    finally:
        await reader.stop()
    assert record.key == call_id.encode()
    assert dict(record.headers)["traceparent"] == traceparent.encode()
    # the result's headers are those the AsyncAPI document names, trace context carried on
    reader = AIOKafkaConsumer(
        settings.topics.results, bootstrap_servers=kafka, auto_offset_reset="earliest"
    )
    await reader.start()
    try:
        [answer] = (await reader.getmany(timeout_ms=10_000)).popitem()[1]
    finally:
        await reader.stop()
    documented = ASYNCAPI["components"]["messages"]["Result"]["headers"]
    names = {name for name, _ in answer.headers}
    assert set(documented["required"]) <= names <= set(documented["properties"]), names
    assert dict(answer.headers)["traceparent"] == traceparent.encode()  # tracing off: unchanged
    assert consume.next_step({"outcome": "failed", "error": {"retryable": True}}) == (
        "send again with a new commandId"
    )


# --- Java, Go and Node: the same round trip, each snippet run as its own program ------------

REPO = Path(__file__).resolve().parents[2]
LOCAL_EXAMPLES = Path(os.environ.get("CALLCTL_LOCAL_DIR") or REPO / ".local") / "examples"
PREPARE = "make examples (deploy/examples.sh)"
JAVA_SOURCES = ("Produce.java", "Consume.java")


def _toolchain(*names: str) -> None:
    """CI has every toolchain: a missing one fails the test, naming it."""
    for name in names:
        if shutil.which(name) is None:
            pytest.fail(f"{name} is not on PATH: these snippets cannot run (CI installs it)")


def _prepared(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"{path} is missing: run {PREPARE} first (make test does)")
    return path


async def _run(argv: Sequence[str], cwd: Path, timeout_s: float = 120) -> list[str]:
    """Run one snippet (without blocking the service on this loop); its stdout lines."""
    process = await asyncio.create_subprocess_exec(
        *argv, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        async with asyncio.timeout(timeout_s):
            out, err = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode == 0, f"{argv} exited {process.returncode}: {err.decode()}"
    return out.decode().splitlines()


async def _programs(language: str, tmp_path: Path) -> tuple[list[str], list[str], Path]:
    """argv prefixes of the language's producer and consumer, and the directory to run in."""
    here = REPO / "docs/examples" / language
    if language == "java":
        _toolchain("java", "javac")
        classpath = _prepared(LOCAL_EXAMPLES / "java.classpath").read_text().strip()
        # Compiled once from the doc's files (`java Produce.java` would compile at every run).
        await _run(["javac", "-cp", classpath, "-d", str(tmp_path), *JAVA_SOURCES], here)
        java = ["java", "-cp", f"{tmp_path}{os.pathsep}{classpath}"]
        return [*java, "Produce"], [*java, "Consume"], here
    if language == "go":
        _toolchain("go")
        # Built from the files as they are now (the module cache holds their dependencies).
        await _run(["go", "build", "-mod=readonly", "-o", f"{tmp_path}/", "./..."], here)
        return [str(tmp_path / "produce")], [str(tmp_path / "consume")], here
    _toolchain("node")
    _prepared(here / "node_modules" / "kafkajs")
    return ["node", "produce.js"], ["node", "consume.js"], here


@pytest.mark.parametrize("language", ["java", "go", "node"])
async def test_snippets_send_a_command_and_find_its_result(
    language: str,
    kafka: str,
    settings: Settings,
    simulator: SimulatorProcess,
    kafka_client: KafkaClient,
    tmp_path: Path,
) -> None:
    produce, consume, cwd = await _programs(language, tmp_path)
    topics = settings.topics
    call_id = f"call-{language}-{uuid.uuid4().hex[:8]}"
    unknown_call = f"gone-{language}-{uuid.uuid4().hex[:8]}"  # Sinch answers 404: not retryable
    await simulator.create_call(call_id)
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    async with running_service(settings):
        [command_id] = await _run([*produce, kafka, topics.commands, call_id, traceparent], cwd)
        [failing_id] = await _run([*produce, kafka, topics.commands, unknown_call], cwd)
        # a group of its own per run: a group that committed past a result does not see it again
        group = f"example-{language}-{uuid.uuid4().hex[:8]}"
        found, step = await _run([*consume, kafka, topics.results, group, command_id, "60"], cwd)
        failed, failed_step = await _run(
            [*consume, kafka, topics.results, f"{group}-2", failing_id, "60"], cwd
        )
    assert command_id == f"ivr-svc:{call_id}:hangup:1"
    result = json.loads(found)
    assert (result["commandId"], result["callId"]) == (command_id, call_id)
    assert result["outcome"] == "succeeded", result
    assert step == "done"
    assert await simulator.requests(call_id), "the service called Sinch for the command"
    failure = json.loads(failed)
    assert failure["commandId"] == failing_id
    assert failure["outcome"] == "failed", failure
    assert failure["error"]["code"] == "call_not_found"
    assert failure["error"]["retryable"] is False
    assert failed_step == "give up: fix the cause (see error.code)"
    # the commands went out with the key and header the guide promises
    reader = AIOKafkaConsumer(
        topics.commands, bootstrap_servers=kafka, auto_offset_reset="earliest"
    )
    await reader.start()
    try:
        records = [r for batch in (await reader.getmany(timeout_ms=10_000)).values() for r in batch]
    finally:
        await reader.stop()
    sent = {record.key: record for record in records}
    assert set(sent) == {call_id.encode(), unknown_call.encode()}
    assert dict(sent[call_id.encode()].headers)["traceparent"] == traceparent.encode()
    assert "traceparent" not in dict(sent[unknown_call.encode()].headers)
    assert json.loads(sent[call_id.encode()].value) == {
        "commandId": command_id,
        "callId": call_id,
        "type": "hangup",
    }
