"""Every `callctl` command: its help page, and its `-o json` output, with in-memory Kafka."""

from __future__ import annotations

import asyncio
import io
import json
import re
from typing import Any

import pytest
from aiokafka import TopicPartition

from callctl import call, dead_letters, events, kafka_io, main, results, ring, send
from callctl.send_args import TYPED_FLAGS
from service.domain.commands import COMMAND_TYPES, CONFERENCE_TYPES
from service.domain.results import RETRY_RULE
from service.settings import KafkaSettings, TopicSettings
from tests.unit.callctl.fakes import FakeProducer, FakeTopics, Sent

COMMANDS = "call-control.commands.v1"
RESULTS = "call-control.results.v1"
SNAPSHOTS = "call-control.snapshots.v1"
DEAD = "call-control.dead-letter.v1"
SECRET = "rec-user:TOP-SECRET-123"
RETRY_WORDS = "NEW commandId"


@pytest.fixture(autouse=True)
def _defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("COMMANDS", "RESULTS", "SNAPSHOTS", "DEAD_LETTER"):
        monkeypatch.delenv(f"CALLCTL_TOPICS__{name}", raising=False)
    monkeypatch.delenv("CALLCTL_KAFKA__BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.delenv("CALLCTL_MAX_COMMAND_BYTES", raising=False)


@pytest.fixture
def topics(monkeypatch: pytest.MonkeyPatch) -> FakeTopics:
    fake = FakeTopics(partitions=3)
    for module in (send, results, call, dead_letters, events):
        monkeypatch.setattr(module, "open_reader", fake.reader)
    return fake


@pytest.fixture
def producer(monkeypatch: pytest.MonkeyPatch) -> FakeProducer:
    fake = FakeProducer()
    monkeypatch.setattr(send, "open_producer", fake.factory)
    monkeypatch.setattr(dead_letters, "open_producer", fake.factory)
    return fake


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main.main(list(argv), out=out)
    return code, out.getvalue()


def one_json(out: str) -> dict[str, Any]:
    [line] = out.splitlines()
    value = json.loads(line)
    assert isinstance(value, dict)
    return value


def result(command_id: str, call_id: str, **fields: Any) -> dict[str, Any]:
    return {"commandId": command_id, "callId": call_id, "type": "hangup", "outcome": "succeeded",
            "attempts": 1, "httpStatus": 204, "duplicate": False, **fields}  # fmt: skip


# --- help --------------------------------------------------------------------------------------

KAFKA_PAGES = [
    ["send"],
    *(["send", kind] for kind in COMMAND_TYPES),
    ["results"],
    ["call"],
    ["dead-letters"],
    ["dead-letters", "list"],
    ["dead-letters", "show"],
    ["dead-letters", "replay"],
    ["conference"],
    ["events"],
]


def help_page(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as exited:
        main.main([*argv, "--help"])
    assert exited.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("argv", [[], *KAFKA_PAGES, ["run"], ["completion"]], ids=" ".join)
def test_every_command_has_a_help_page(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    page = help_page(capsys, *argv)
    assert page.startswith(f"usage: callctl {' '.join(argv)}".rstrip())
    assert "exit codes" in page.lower()


@pytest.mark.parametrize("argv", KAFKA_PAGES, ids=" ".join)
def test_every_kafka_command_offers_json_output(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert "-o {text,json}, --output {text,json}" in help_page(capsys, *argv)


@pytest.mark.parametrize("kind", COMMAND_TYPES)
def test_a_type_page_lists_only_that_types_flags(
    kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    page = help_page(capsys, "send", kind)
    offered = {flag.flag for flag in TYPED_FLAGS if f"\n  {flag.flag} " in page}
    expected = {
        "say": {"--text", "--locale", "--leg", "--then"},
        "playFiles": {"--ids", "--locale", "--leg", "--then"},
        "sendDtmf": {"--value"},
        "park": {"--locale", "--max-duration", "--intro-prompt", "--hold-prompt"},
        "svaml": {"--svaml", "--leg"},
        "callout": {"--callout"},
        "holdParticipant": {"--conference-id", "--moh"},
        **{k: {"--conference-id"} for k in CONFERENCE_TYPES if k != "holdParticipant"},
    }.get(kind, set())
    assert offered == expected
    assert f"Send a {kind} command" in page
    assert f"callctl send {kind} " in page, "an example of this type"


def test_the_generic_send_page_lists_every_flag_and_type(
    capsys: pytest.CaptureFixture[str],
) -> None:
    page = help_page(capsys, "send")
    for flag in TYPED_FLAGS:
        assert f"\n  {flag.flag} " in page
    for kind in COMMAND_TYPES:
        assert f"\n    {kind} " in page


@pytest.mark.parametrize("argv", [["send"], ["send", "say"], ["results"]], ids=" ".join)
def test_the_retry_rule_is_the_same_everywhere(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    page = " ".join(help_page(capsys, *argv).split())
    # word for word the results schema's and the docs' rule (tests/contract checks those)
    assert f"Retrying: {RETRY_RULE}" in page
    assert "resending the same `commandId` replays the stored result (`duplicate: true`)" in page
    assert "With a different payload the same commandId is rejected" in page
    assert "send the same --command-id" not in page


def test_a_flag_of_another_type_is_refused_on_a_type_page(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main.main(["send", "hangup", "--call-id", "C1", "--text", "x"])
    assert exited.value.code == 2
    assert "callctl send hangup: error: unrecognized arguments: --text x" in capsys.readouterr().err


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_completion_scripts_know_the_commands_and_types(shell: str) -> None:
    code, script = run("completion", shell)
    assert code == 0
    for word in ("send", "results", "call", "dead-letters", "replay", "getCallInfo", "--call-id"):
        assert word in script
    for action in ring.ACTIONS:  # the simulator's inbound-call actions too
        assert f"_shtab_callctl_simulator_{action}_" in script, action


# --- send ----------------------------------------------------------------------------------------


def test_send_json_prints_one_object(producer: FakeProducer) -> None:
    code, out = run("send", "hangup", "--call-id", "C1", "--command-id", "ops-1", "-o", "json")
    assert code == 0
    assert one_json(out) == {"commandId": "ops-1", "callId": "C1", "type": "hangup",
                             "topic": COMMANDS, "partition": 2, "offset": 17}  # fmt: skip


def test_send_without_wait_says_where_the_result_will_be(
    producer: FakeProducer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run("send", "hangup", "--call-id", "C1", "--command-id", "ops-2")
    assert code == 0
    assert re.search(r"^produced +call-control.commands.v1 partition 2 offset 17$", out, re.M)
    assert "`callctl results --command-id ops-2` shows it" in capsys.readouterr().err
    run("send", "hangup", "--call-id", "C1", "--command-id", "ops-3", "-o", "json")
    assert capsys.readouterr().err == "", "scripts asked for JSON: no hint"


class AnsweringProducer(FakeProducer):
    """Produces the command and, as the service would, its result."""

    def __init__(self, topics: FakeTopics, **fields: Any) -> None:
        super().__init__()
        self.topics = topics
        self.fields = fields

    async def send_and_wait(
        self, topic: str, value: bytes | None, key: bytes | None, **kwargs: Any
    ) -> Sent:
        command = json.loads(value or b"")
        answer = result(command["commandId"], command["callId"], **self.fields)
        self.topics.add(RESULTS, answer, command["callId"])
        return await super().send_and_wait(topic, value, key, **kwargs)


@pytest.mark.parametrize("wait", ["--wait", "--wait=5"])
def test_send_wait_json_prints_the_receipt_and_the_result_as_one_object(
    topics: FakeTopics, monkeypatch: pytest.MonkeyPatch, wait: str
) -> None:
    fake = AnsweringProducer(topics)
    monkeypatch.setattr(send, "open_producer", fake.factory)
    topics.add(RESULTS, result("older", "C1"), "C1")
    code, out = run(
        "send", "hangup", "--call-id", "C1", "--command-id", "ops-2", wait, "-o", "json"
    )
    assert code == 0
    sent = one_json(out)
    assert sent["commandId"] == "ops-2"
    assert sent["result"]["commandId"] == "ops-2"
    assert sent["result"]["outcome"] == "succeeded"
    assert topics.read == [TopicPartition(RESULTS, kafka_io.key_partition(b"C1", [0, 1, 2]))]


def test_send_wait_text_and_a_failed_outcome_exits_1(
    topics: FakeTopics, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = AnsweringProducer(topics, outcome="failed", error={"code": "call_not_found",
                             "message": "no such call", "retryable": False})  # fmt: skip
    monkeypatch.setattr(send, "open_producer", fake.factory)
    code, out = run("send", "hangup", "--call-id", "C1", "--wait", "5")
    assert code == 1
    lines = dict(line.split(None, 1) for line in out.splitlines())
    assert lines["produced"] == f"{COMMANDS} partition 2 offset 17"
    assert lines["outcome"] == "failed"
    assert lines["error"].startswith("call_not_found: no such call")


def test_send_wait_timeout_in_json_still_prints_the_receipt(
    topics: FakeTopics, producer: FakeProducer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run("send", "hangup", "--call-id", "C1", "--wait", "0.3", "-o", "json")
    assert code == 3
    sent = one_json(out)
    assert sent["result"] is None
    assert sent["commandId"].startswith("cli-")
    assert "no result for commandId" in capsys.readouterr().err


def test_send_dry_run_json_is_the_command(producer: FakeProducer) -> None:
    code, out = run("send", "getCallInfo", "--call-id", "C1", "--command-id", "x", "--dry-run",
                    "-o", "json")  # fmt: skip
    assert code == 0
    assert one_json(out) == {"commandId": "x", "callId": "C1", "type": "getCallInfo"}
    assert producer.records == []


# --- results and call ----------------------------------------------------------------------------


def test_results_json_lines_and_the_old_flag(topics: FakeTopics) -> None:
    for n, call_id in enumerate(["C1", "C2", "C3"]):
        topics.add(RESULTS, result(f"cmd-{n}", call_id), call_id)
    code, out = run("results", "-o", "json")
    assert code == 0
    assert sorted(json.loads(line)["commandId"] for line in out.splitlines()) == [
        "cmd-0", "cmd-1", "cmd-2",
    ]  # fmt: skip
    assert run("results", "--json") == (code, out), "--json is -o json"


def test_results_for_a_call_read_only_its_partition(
    topics: FakeTopics, capsys: pytest.CaptureFixture[str]
) -> None:
    home = kafka_io.key_partition(b"C1", [0, 1, 2])
    topics.add(RESULTS, result("right", "C1"), "C1")
    topics.add(RESULTS, result("stray", "C1"), "C1", partition=(home + 1) % 3)
    code, out = run("results", "--call-id", "C1", "-o", "json")
    assert code == 0
    assert [json.loads(line)["commandId"] for line in out.splitlines()] == ["right"]
    assert topics.read == [TopicPartition(RESULTS, home)]
    err = capsys.readouterr().err
    assert f"reading partition {home} of {RESULTS} (that of key C1): 1 record\n" in err


def test_call_json_is_the_latest_snapshot_of_the_call(topics: FakeTopics) -> None:
    for status in ("ONGOING", "FINAL"):
        topics.add(SNAPSHOTS, {"callId": "C1", "call": {"status": status}}, "C1")
    code, out = run("call", "C1", "-o", "json")
    assert code == 0
    assert one_json(out)["call"]["status"] == "FINAL"
    assert topics.read == [TopicPartition(SNAPSHOTS, kafka_io.key_partition(b"C1", [0, 1, 2]))]
    assert run("call", "C1", "--json") == (code, out)


def test_call_without_a_snapshot_exits_1(topics: FakeTopics) -> None:
    assert run("call", "C9", "-o", "json") == (1, "")


def test_key_partition_is_kafkas_murmur2() -> None:
    # Kafka's own murmur2 test vectors (UtilsTest): "21" -> -973932308, "foobar" -> -790332482
    assert kafka_io.key_partition(b"21", range(7)) == (-973932308 & 0x7FFFFFFF) % 7
    assert kafka_io.key_partition(b"foobar", [0, 1, 2, 3]) == (-790332482 & 0x7FFFFFFF) % 4


# --- dead letters ------------------------------------------------------------------------------


def letter(topics: FakeTopics, value: dict[str, Any] | bytes, key: str, code: str) -> Any:
    headers = {
        "error.code": code,
        "error.message": f"{code} happened",
        "source.topic": COMMANDS,
        "source.partition": "1",
        "source.offset": "41",
    }
    return topics.add(DEAD, value, key, headers=headers)


def valid(call_id: str = "C1", **fields: Any) -> dict[str, Any]:
    return {"type": "hangup", "callId": call_id, "commandId": "dl-1", **fields}


def test_dead_letters_list_json(topics: FakeTopics) -> None:
    first = letter(topics, valid(), "C1", "too_large")
    letter(topics, b"\xff not json", "C2", "not_json")
    code, out = run("dead-letters", "list", "-o", "json")
    assert code == 0
    listed = {json.loads(line)["key"]: json.loads(line) for line in out.splitlines()}
    assert listed["C1"]["error"] == {"code": "too_large", "message": "too_large happened"}
    assert listed["C1"]["value"] == valid()
    assert (listed["C1"]["partition"], listed["C1"]["offset"]) == (first.partition, 0)
    # numbers, as the dead letter's own position (the headers carry them as text)
    assert listed["C1"]["source"] == {"topic": COMMANDS, "partition": 1, "offset": 41}
    assert listed["C2"]["valueBase64"]


def test_dead_letters_list_text_is_a_table(topics: FakeTopics) -> None:
    letter(topics, valid(), "C1", "too_large")
    code, out = run("dead-letters", "list", "--call-id", "C1")
    assert code == 0
    header, row = out.splitlines()
    assert header.split() == ["TIME", "PARTITION", "OFFSET", "KEY", "CODE", "MESSAGE"]
    assert row.split()[3:5] == ["C1", "too_large"]


def test_dead_letters_show_redacts_credentials_and_escapes_control_characters(
    topics: FakeTopics,
) -> None:
    recording = valid(type="startRecording", options={"destinationUrl": "s3://b/r",
                                                       "credentials": SECRET})  # fmt: skip
    record = letter(topics, recording, "C1\x1b[2J", "invalid_command")
    at = f"{record.partition}:{record.offset}"
    code, out = run("dead-letters", "show", at, "-o", "json")
    assert code == 0
    assert one_json(out)["value"]["options"]["credentials"] == "***"
    code, text = run("dead-letters", "show", at)
    assert code == 0
    assert SECRET not in out + text
    assert "\x1b" not in text
    assert "C1\\u001b[2J" in text
    assert re.search(r"^value +\(below\)$", text, re.M), "the value follows, as JSON"


def test_dead_letters_show_names_a_missing_position(topics: FakeTopics) -> None:
    assert run("dead-letters", "show", "1:99")[0] == 1
    assert run("dead-letters", "show", "99")[0] == 2, "three partitions: one must be named"


def test_replay_produces_the_original_bytes_and_key(
    topics: FakeTopics, producer: FakeProducer
) -> None:
    record = letter(topics, valid(), "C1", "too_large")
    at = f"{record.partition}:{record.offset}"
    code, out = run("dead-letters", "replay", at, "--yes", "-o", "json")
    assert code == 0
    [(topic, key, value, headers)] = producer.records
    assert (topic, key, value) == (COMMANDS, b"C1", record.value)
    assert headers == [("callctl.replayed-from", f"{DEAD}/{at.replace(':', '@')}".encode())]
    assert one_json(out) == {"replayed": {"partition": record.partition, "offset": 0},
                             "topic": COMMANDS, "partition": 2, "offset": 17}  # fmt: skip


def test_replay_asks_first_and_never_without_an_answer(
    topics: FakeTopics, producer: FakeProducer, capsys: pytest.CaptureFixture[str]
) -> None:
    record = letter(topics, valid(), "C1", "too_large")
    code, _ = run("dead-letters", "replay", f"{record.partition}:{record.offset}")
    assert code == 2
    assert "pass --yes" in capsys.readouterr().err
    assert producer.records == []


def test_replay_declined_produces_nothing(
    topics: FakeTopics, producer: FakeProducer, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []

    def decline(question: str) -> bool:
        asked.append(question)
        return False

    monkeypatch.setattr(dead_letters, "_ask", decline)
    record = letter(topics, valid(), "C1", "too_large")
    code = main.main(["dead-letters", "replay", f"{record.partition}:{record.offset}"],
                     out=io.StringIO())  # fmt: skip
    assert code == 1
    assert producer.records == []
    [question] = asked
    assert "hangup command dl-1 for call C1" in question


@pytest.mark.parametrize(
    ("value", "key", "code", "why"),
    [
        (b"not json", "C1", "not_json", "would be refused again"),
        (valid("C2"), "C1", "key_mismatch", "would be refused again"),
        (valid(), "C1", "idempotency_conflict", "NEW commandId"),
    ],
)
def test_replay_refuses_what_the_service_would_refuse_unless_forced(
    topics: FakeTopics,
    producer: FakeProducer,
    capsys: pytest.CaptureFixture[str],
    value: Any,
    key: str,
    code: str,
    why: str,
) -> None:
    record = letter(topics, value, key, code)
    at = f"{record.partition}:{record.offset}"
    assert run("dead-letters", "replay", at, "--yes")[0] == 2
    assert why in capsys.readouterr().err
    assert producer.records == []
    assert run("dead-letters", "replay", at, "--yes", "--force")[0] == 0
    assert len(producer.records) == 1


def test_the_top_page_names_every_topic_and_kafka_security_variable(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """callctl reads them all (mutual TLS, the events topic): a user must find each one."""
    page = help_page(capsys)
    for name in TopicSettings.model_fields:
        assert f"CALLCTL_TOPICS__{name.upper()} " in page
    security = [n for n in KafkaSettings.model_fields if n.startswith(("security", "sasl", "ssl"))]
    assert "ssl_certfile" in security
    for name in security:
        assert f"__{name.upper()}" in page, name


def test_events_stop_after_limit_and_print_json_lines(topics: FakeTopics) -> None:
    for n in range(3):
        topics.add("call-control.events.v1", {"eventType": "ice", "callId": "in-1",
                                              "n": n}, "in-1")  # fmt: skip
    code, out = run("events", "--call-id", "in-1", "--limit", "2", "-o", "json")
    assert code == 0
    assert [json.loads(line)["n"] for line in out.splitlines()] == [0, 1]


def test_simulator_help_names_the_inbound_call_actions(capsys: pytest.CaptureFixture[str]) -> None:
    page = help_page(capsys, "simulator")
    assert page.startswith("callctl simulator [OPTIONS] runs the simulator")
    for action in ring.ACTIONS:
        assert f"\n  {action} " in page
    assert "--latency-ms" in page, "then the simulator's own options"


@pytest.mark.parametrize("action", [["ring", "--to", "+46700000010"], ["show", "in-1"]])
def test_simulator_actions_take_output_json_like_every_command(action: list[str]) -> None:
    parser = ring.build_parser()
    assert parser.parse_args([*action, "-o", "json"]).output == "json"
    assert parser.parse_args([*action, "--json"]).output == "json", "the old flag still works"
    assert parser.parse_args(action).output == "text"


async def test_a_reader_stopped_right_after_assign_does_not_raise() -> None:
    """aiokafka 0.14's stop() raises CancelledError soon after assign() (aio-libs/aiokafka#647);
    `callctl dead-letters show 9` on a topic of 3 partitions printed a traceback."""

    class Stopping:
        async def stop(self) -> None:
            raise asyncio.CancelledError

    await kafka_io.stop_quietly(Stopping())


async def test_a_reader_stop_still_lets_a_real_cancellation_through() -> None:
    class Stopping:
        async def stop(self) -> None:
            await asyncio.sleep(10)

    task = asyncio.ensure_future(kafka_io.stop_quietly(Stopping()))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["results", "--call-id", "C9"], "no results on call-control.results.v1 for callId C9"),
        (["dead-letters", "list"], "no dead letters on call-control.dead-letter.v1"),
    ],
)
def test_nothing_found_exits_1_with_a_line_on_stderr_and_no_empty_table(
    topics: FakeTopics, capsys: pytest.CaptureFixture[str], argv: list[str], said: str
) -> None:
    assert run(*argv) == (1, "")
    assert said in capsys.readouterr().err
