"""`callctl`: parsing, building and validating commands, and rendering, without Kafka."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError, TopicAuthorizationFailedError

from callctl import arguments, common, compose, kafka_io, main, send
from callctl import output as cli_format
from service.settings import KafkaSettings

SECRET = "rec-user:TOP-SECRET-123"


def parse(*argv: str) -> argparse.Namespace:
    return main.build_parser().parse_args(list(argv))


def build(*argv: str, now: datetime | None = None) -> dict[str, Any]:
    return compose.build_command(parse(*argv), now=now)


@dataclass
class Sent:
    topic: str
    partition: int = 2
    offset: int = 17


@dataclass
class FakeProducer:
    records: list[tuple[str, bytes, bytes]] = field(default_factory=list)
    opened: list[str] = field(default_factory=list)

    async def send_and_wait(self, topic: str, value: bytes, key: bytes) -> Sent:
        self.records.append((topic, key, value))
        return Sent(topic)

    @contextlib.asynccontextmanager
    async def factory(self, kafka: KafkaSettings, topic: str) -> AsyncIterator[FakeProducer]:
        self.opened.append(f"{kafka.bootstrap_servers} {topic}")
        yield self


@pytest.fixture
def producer(monkeypatch: pytest.MonkeyPatch) -> FakeProducer:
    for name in ("COMMANDS", "RESULTS", "SNAPSHOTS", "DEAD_LETTER"):
        monkeypatch.delenv(f"CALLCTL_TOPICS__{name}", raising=False)
    monkeypatch.delenv("CALLCTL_KAFKA__BOOTSTRAP_SERVERS", raising=False)
    fake = FakeProducer()
    monkeypatch.setattr(send, "open_producer", fake.factory)
    return fake


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main.main(list(argv), out=out)
    return code, out.getvalue()


# --- building commands ---------------------------------------------------------------------------


def test_say_with_a_leg() -> None:
    command = build(
        "send", "say", "--call-id", "C1", "--text", "Hello", "--locale", "en-US",
        "--leg", "caller", "--then", "hangup",
    )  # fmt: skip
    assert command.pop("commandId").startswith("cli-")
    assert command == {
        "type": "say",
        "callId": "C1",
        "text": "Hello",
        "locale": "en-US",
        "leg": "caller",
        "then": "hangup",
    }
    prepared = compose.validate({**command, "commandId": "c-1"}, max_bytes=65_536)
    assert prepared.key == b"C1"
    assert prepared.command.type == "say"
    assert json.loads(prepared.value)["leg"] == "caller"


def test_generated_command_ids_are_unique_and_valid() -> None:
    first, second = (
        build("send", "hangup", "--call-id", "C1"),
        build("send", "hangup", "--call-id", "C1"),
    )
    assert first["commandId"] != second["commandId"]
    assert len(first["commandId"]) == len("cli-") + 32
    assert compose.validate(first, max_bytes=65_536).command.command_id == first["commandId"]


def test_play_files_ids_keep_commas_inside_brackets() -> None:
    command = build(
        "send", "playFiles", "--call-id", "C1", "--locale", "en-US",
        "--ids", "https://example.com/a.wav, #tts[Hello, world],#href[https://example.com/b.wav]",
    )  # fmt: skip
    assert command["ids"] == [
        "https://example.com/a.wav",
        "#tts[Hello, world]",
        "#href[https://example.com/b.wav]",
    ]
    assert compose.validate(command, max_bytes=65_536).command.type == "playFiles"


def test_ids_as_a_json_array() -> None:
    assert compose.split_ids('["#tts[a,b]", "https://x/y.wav"]') == ["#tts[a,b]", "https://x/y.wav"]


def test_park_with_fields() -> None:
    command = build(
        "send", "park", "--call-id", "C1", "--locale", "en-US",
        "--field", "maxDuration=600", "--field", "introPrompt=#tts[Please hold]",
        "--hold-prompt", "#tts[Still holding]",
    )  # fmt: skip
    assert command["maxDuration"] == 600
    assert command["introPrompt"] == "#tts[Please hold]"
    assert command["holdPrompt"] == "#tts[Still holding]"
    park = compose.validate(command, max_bytes=65_536).command
    assert park.type == "park"
    assert park.max_duration == 600


def test_max_duration_flag_is_an_integer() -> None:
    assert build("send", "park", "--call-id", "C1", "--max-duration", "90")["maxDuration"] == 90


def test_svaml_json() -> None:
    body = {"instructions": [{"name": "say", "text": "Bye", "locale": "en-US"}],
            "action": {"name": "hangup"}}  # fmt: skip
    command = build("send", "svaml", "--call-id", "C1", "--svaml", json.dumps(body))
    assert command["svaml"] == body
    assert compose.validate(command, max_bytes=65_536).command.type == "svaml"


def test_field_values_are_json_when_they_parse() -> None:
    command = build(
        "send", "hangup", "--call-id", "C1",
        "--field", "n=42", "--field", "f=1.5", "--field", "b=true", "--field", "nil=null",
        "--field", "arr=[1, \"two\"]", "--field", 'obj={"k": "v"}', "--field", "s=hello world",
        "--field", 'quoted="42"', "--field", "odd=NaN", "--field", "eq=a=b",
        "--field", "nested.deep.x=1",
    )  # fmt: skip
    assert command["n"] == 42
    assert isinstance(command["n"], int)
    assert command["f"] == 1.5
    assert command["b"] is True
    assert command["nil"] is None
    assert command["arr"] == [1, "two"]
    assert command["obj"] == {"k": "v"}
    assert command["s"] == "hello world"
    assert command["quoted"] == "42"
    assert command["odd"] == "NaN", "NaN is not JSON: kept as text"
    assert command["eq"] == "a=b", "only the first = separates name and value"
    assert command["nested"] == {"deep": {"x": 1}}


def test_json_object_with_flags_on_top() -> None:
    base = {"type": "say", "callId": "C9", "commandId": "ops-1", "text": "Hi", "locale": "sv-SE"}
    command = build("send", "--json", json.dumps(base), "--locale", "en-US", "--no-snapshot")
    assert command == {**base, "locale": "en-US", "snapshot": False}
    assert compose.validate(command, max_bytes=65_536).command.command_id == "ops-1"


def test_common_flags() -> None:
    now = datetime(2026, 11, 26, 23, 41, 7, 123_000, tzinfo=UTC)
    command = build(
        "send", "hangup", "--call-id", "C1", "--command-id", "ops:42", "--region", "euc1",
        "--expires-in", "60", "--snapshot", "--metadata", '{"ticket": "T-1"}',
        now=now,
    )  # fmt: skip
    assert command == {
        "type": "hangup",
        "callId": "C1",
        "commandId": "ops:42",
        "region": "euc1",
        "expiresAt": "2026-11-26T23:42:07.123Z",
        "snapshot": True,
        "metadata": {"ticket": "T-1"},
    }
    assert compose.validate(command, max_bytes=65_536).command.region == "euc1"


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["say", "--call-id", "C1", "--text", "Hi"], "locale: required"),
        (["hangup"], "callId: required"),
        # before the type, --text is the generic page's flag: the decoder refuses it for hangup
        (["--text", "x", "hangup", "--call-id", "C1"], "text: unknown field"),
        (["park", "--call-id", "C1", "--max-duration", "20000"], "maxDuration:"),
        (["sendDtmf", "--call-id", "C1", "--value", "12a"], "value:"),
        (["playFiles", "--call-id", "C1", "--ids", "#tts[hi]"], "locale: required"),
        (["hangup", "--call-id", "bad id!"], "callId:"),
        (["hangup", "--call-id", "C1", "--field", "snapshot=yes"], "snapshot:"),
    ],
)
def test_invalid_commands_name_the_field(argv: list[str], named: str) -> None:
    with pytest.raises(common.CliError) as caught:
        compose.prepare(parse("send", *argv), max_bytes=65_536)
    assert caught.value.code == common.EXIT_USAGE
    assert named in str(caught.value)


def test_too_large_is_refused() -> None:
    command = build("send", "say", "--call-id", "C1", "--locale", "en", "--text", "x" * 600)
    with pytest.raises(common.CliError, match="limit is 300"):
        compose.validate(command, max_bytes=300)


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--metadata", "[1]", "--metadata: must be a JSON object"),
        ("--json", "{not json", "--json: not valid JSON"),
        ("--svaml", '"text"', "--svaml: must be a JSON object"),
        ("--field", "no-equals", "expected name=value"),
    ],
)
def test_malformed_flags_are_usage_errors(flag: str, value: str, message: str) -> None:
    with pytest.raises(common.CliError, match=message) as caught:
        build("send", "svaml", "--call-id", "C1", flag, value)
    assert caught.value.code == common.EXIT_USAGE


def test_unknown_type_is_an_argparse_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        parse("send", "dance", "--call-id", "C1")
    assert caught.value.code == 2
    assert "invalid choice: 'dance'" in capsys.readouterr().err


def test_wait_defaults_to_30_seconds() -> None:
    assert parse("send", "hangup", "--call-id", "C1", "--wait").wait == 30.0
    assert parse("send", "hangup", "--call-id", "C1", "--wait", "5").wait == 5.0
    assert parse("send", "hangup", "--call-id", "C1").wait is None


@pytest.mark.parametrize(
    ("raw", "seconds"), [("90", 90), ("30s", 30), ("10m", 600), ("2h", 7200), ("1h30m", 5400)]
)
def test_durations(raw: str, seconds: float) -> None:
    assert arguments.duration_seconds(raw) == seconds


@pytest.mark.parametrize("raw", ["5x", "", "m", "-3", "10m5"])
def test_bad_durations(raw: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        arguments.duration_seconds(raw)


def test_global_options_after_the_subcommand() -> None:
    args = parse("results", "--bootstrap-servers", "k1:9092", "-v")
    assert args.bootstrap_servers == "k1:9092"
    assert args.verbose == 1
    args = parse("--bootstrap-servers", "k2:9092", "results")
    assert args.bootstrap_servers == "k2:9092"
    assert args.verbose == 0


# --- main: what is produced, and what is not ----------------------------------------------


def test_invalid_command_exits_2_naming_the_field_and_produces_nothing(
    producer: FakeProducer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run("send", "say", "--call-id", "C1", "--text", "Hello")
    assert code == 2
    err = capsys.readouterr().err
    assert "locale" in err
    assert "invalid say command" in err
    assert "Traceback" not in err
    assert out == ""
    assert producer.opened == [], "no connection before the command is valid"
    assert producer.records == []


def test_send_produces_the_validated_record_keyed_by_call_id(producer: FakeProducer) -> None:
    code, out = run(
        "send", "hangup", "--call-id", "C1", "--command-id", "ops-1",
        "--bootstrap-servers", "k1:9092",
    )  # fmt: skip
    assert code == 0
    assert producer.opened == ["k1:9092 call-control.commands.v1"]
    [(topic, key, value)] = producer.records
    assert topic == "call-control.commands.v1"
    assert key == b"C1"
    assert json.loads(value) == {"type": "hangup", "callId": "C1", "commandId": "ops-1"}
    assert "ops-1" in out
    assert "partition 2 offset 17" in out


def test_send_uses_the_topic_from_the_environment(
    producer: FakeProducer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALLCTL_TOPICS__COMMANDS", "ops.commands")
    monkeypatch.setenv("CALLCTL_KAFKA__BOOTSTRAP_SERVERS", "k9:9093")
    code, _ = run("send", "unpark", "--call-id", "C1", "--field", 'action={"name":"hangup"}')
    assert code == 0
    assert producer.opened == ["k9:9093 ops.commands"]
    assert producer.records[0][0] == "ops.commands"


def test_dry_run_redacts_recording_credentials(
    producer: FakeProducer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run(
        "send", "startRecording", "--call-id", "C1", "--dry-run",
        "--field", "options.destinationUrl=s3://bucket/rec",
        "--field", f"options.credentials={SECRET}",
    )  # fmt: skip
    assert code == 0
    assert producer.records == []
    assert json.loads(out)["options"] == {"destinationUrl": "s3://bucket/rec", "credentials": "***"}
    assert SECRET not in out + capsys.readouterr().err


def test_verbose_send_echoes_the_command_redacted(
    producer: FakeProducer, capsys: pytest.CaptureFixture[str]
) -> None:
    svaml = {"instructions": [{"name": "startRecording",
             "options": {"destinationUrl": "s3://b/r", "credentials": SECRET}}],
             "action": {"name": "continue"}}  # fmt: skip
    code, out = run("send", "svaml", "--call-id", "C1", "-v", "--svaml", json.dumps(svaml))
    assert code == 0
    err = capsys.readouterr().err
    assert '"credentials": "***"' in err
    assert SECRET not in out + err
    assert SECRET.encode() in producer.records[0][2], "the record itself carries the credentials"


def test_invalid_configuration_exits_2_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CALLCTL_KAFKA__SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("CALLCTL_KAFKA__SASL_PASSWORD", "hunter2-secret")
    code, _ = run("results")
    err = capsys.readouterr().err
    assert code == 2
    assert "CALLCTL_KAFKA__SASL_USERNAME" in err
    assert "hunter2-secret" not in err


def test_kafka_failures_say_what_was_tried() -> None:
    unreachable = kafka_io.kafka_failure(
        "127.0.0.1:1", "--bootstrap-servers", KafkaConnectionError("Unable to bootstrap")
    )
    assert unreachable.code == common.EXIT_KAFKA
    assert "127.0.0.1:1 (from --bootstrap-servers)" in str(unreachable)
    assert "deploy/kafka.sh start" in str(unreachable)
    other = kafka_io.kafka_failure("k:9092", "the default", TopicAuthorizationFailedError())
    assert other.code == common.EXIT_KAFKA
    assert "TopicAuthorizationFailedError" in str(other)
    assert "deploy/kafka.sh" not in str(other)


# --- rendering ---------------------------------------------------------------------------------


def result(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "commandId": "cmd-1",
        "callId": "call-1",
        "type": "hangup",
        "outcome": "succeeded",
        "duplicate": False,
        "attempts": 1,
        "httpStatus": 204,
        "error": None,
        "request": {"method": "PATCH", "path": "/calling/v1/calls/id/call-1",
                    "body": {"action": {"name": "hangup"}}},
        "receivedAt": "2026-11-26T23:41:07.100Z",
        "completedAt": "2026-11-26T23:41:07.123Z",
        "durationMs": 23.0,
        "source": {"topic": "t", "partition": 0, "offset": 1},
        "metadata": None,
    }  # fmt: skip
    return {**base, **overrides}


def test_results_table() -> None:
    failed = result(
        commandId="cmd-long-identifier-2",
        callId="call-2",
        type="say",
        outcome="failed",
        attempts=4,
        httpStatus=503,
        duplicate=True,
        error={"code": "upstream_unavailable", "message": "503", "retryable": True},
    )
    lines = cli_format.render_results([result(), failed]).splitlines()
    assert lines[0].split() == [
        "TIME", "CALL", "ID", "COMMAND", "ID", "TYPE", "OUTCOME", "ERROR", "HTTP", "ATTEMPTS",
        "DUP",
    ]  # fmt: skip
    assert lines[1].split() == [
        "2026-11-26T23:41:07.123Z", "call-1", "cmd-1", "hangup", "succeeded", "-", "204", "1",
        "false",
    ]  # fmt: skip
    assert lines[2].split() == [
        "2026-11-26T23:41:07.123Z", "call-2", "cmd-long-identifier-2", "say", "failed",
        "upstream_unavailable", "503", "4", "true",
    ]  # fmt: skip
    # columns line up: each column starts at the same place on every line
    assert lines[0].index("OUTCOME") == lines[1].index("succeeded") == lines[2].index("failed")
    assert lines[0].index("HTTP") == lines[1].index("204") == lines[2].index("503")
    assert all(line == line.rstrip() for line in lines)


def test_rejected_result_with_nulls_renders_dashes() -> None:
    row = cli_format.result_row(
        result(
            commandId=None,
            type=None,
            outcome="rejected",
            attempts=0,
            httpStatus=None,
            error={"code": "not_json"},
        )
    )
    assert row[2] == "-"
    assert row[3] == "-"
    assert row[5] == "not_json"
    assert row[6] == "-"


def test_describe_result() -> None:
    text = cli_format.describe_result(
        result(
            outcome="failed",
            httpStatus=404,
            error={
                "code": "call_not_found",
                "message": "no such call",
                "retryable": False,
                "sinchErrorCode": 40400,
            },
        )
    )
    lines = dict(line.split(None, 1) for line in text.splitlines())
    assert lines["outcome"] == "failed"
    assert lines["httpStatus"] == "404"
    assert lines["error"] == (
        "call_not_found: no such call (retryable false, sinchErrorCode 40400)"
    )
    assert lines["request"] == ('PATCH /calling/v1/calls/id/call-1 {"action":{"name":"hangup"}}')
    assert "metadata" not in lines


def test_send_wait_prints_one_aligned_block_for_a_conference_command() -> None:
    receipt = cli_format.describe_receipt(
        {"commandId": "c-1", "callId": "call-1", "conferenceId": "room-1",
         "type": "muteParticipant", "topic": "t", "partition": 0, "offset": 2}
    )  # fmt: skip
    block = f"{receipt}\n{cli_format.describe_result(result(outcome='succeeded'))}"
    columns = {len(line) - len(line.split(None, 1)[1]) for line in block.splitlines()}
    assert columns == {14}, f"values start in one column:\n{block}"


def test_describe_snapshot() -> None:
    snapshot = {
        "callId": "call-1",
        "observedAt": "2026-11-26T23:41:08.000Z",
        "commandId": "cmd-1",
        "call": {"from": {"type": "number", "endpoint": "+46700000001"}, "to": None,
                 "duration": 12, "status": "FINAL", "result": "ANSWERED",
                 "reason": "MANAGERHANGUP", "userRate": {"currencyId": "EUR", "amount": 0.03}},
    }  # fmt: skip
    lines = dict(
        line.split(None, 1) for line in cli_format.describe_snapshot(snapshot).splitlines()
    )
    assert lines["status"] == "FINAL"
    assert lines["result"] == "ANSWERED"
    assert lines["reason"] == "MANAGERHANGUP"
    assert lines["from"] == "number +46700000001"
    assert lines["to"] == "-"
    assert lines["duration"] == "12 s"
    assert lines["userRate"] == "0.03 EUR"
    assert lines["observedAt"] == "2026-11-26T23:41:08.000Z"
    assert lines["commandId"] == "cmd-1"


def test_callctl_refuses_an_unknown_variable_but_not_the_services_own(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CALLCTL_SINCH__APPLICATION_SECRET", "not base64, and not read")
    monkeypatch.setenv("CALLCTL_MAX_IN_FLIGHT", "64")
    monkeypatch.setenv("CALLCTL_TOPICS__RESULT", "typo")
    code, _ = run("results")
    err = capsys.readouterr().err
    assert code == 2
    assert "CALLCTL_TOPICS__RESULT: not a call-control setting" in err
    assert "SINCH" not in err
    assert "MAX_IN_FLIGHT" not in err
