"""The committed schema files are exactly what `service.schema_export` generates from the models.

A failure here means a model (or the app's AsyncAPI declarations) changed without the files:
regenerate with `uv run python -m service.schema_export` and commit the result.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from service import schema_export

GENERATED = schema_export.artifacts()


@pytest.mark.parametrize("path", sorted(GENERATED))
def test_committed_file_matches_the_models(path: str) -> None:
    committed = schema_export.REPO_ROOT / path
    assert committed.exists(), f"{path} is missing: run {schema_export.REGENERATE}"
    assert committed.read_text(encoding="utf-8") == GENERATED[path], (
        f"{path} drifted from the models: run {schema_export.REGENERATE}"
    )


def test_no_drift_reported() -> None:
    assert schema_export.drift() == []


def test_one_schema_per_topic_plus_asyncapi() -> None:
    topics = schema_export.TOPICS
    assert sorted(GENERATED) == sorted(
        [
            f"schemas/{topics.commands}.schema.json",
            f"schemas/{topics.results}.schema.json",
            f"schemas/{topics.snapshots}.schema.json",
            f"schemas/{topics.events}.schema.json",
            f"schemas/{topics.conferences}.schema.json",
            "schemas/asyncapi.json",
        ]
    )


def test_generation_is_deterministic() -> None:
    assert schema_export.artifacts() == GENERATED


@pytest.mark.parametrize("path", sorted(GENERATED))
def test_rendering_is_canonical(path: str) -> None:
    text = GENERATED[path]
    assert text.endswith("}\n")
    assert not text.endswith("\n\n")
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@pytest.mark.parametrize(
    ("topic", "required_keyword"),
    [("commands", "oneOf"), ("results", "properties"), ("snapshots", "properties")],
)
def test_topic_schema_is_draft_2020_12_with_identity(topic: str, required_keyword: str) -> None:
    name = getattr(schema_export.TOPICS, topic)
    schema = json.loads(GENERATED[f"schemas/{name}.schema.json"])
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"urn:call-control:schema:{name}"
    assert schema["title"] == name
    assert len(schema["description"]) > 80
    assert required_keyword in schema


def test_commands_schema_is_camel_case_and_closed() -> None:
    schema = json.loads(GENERATED[f"schemas/{schema_export.TOPICS.commands}.schema.json"])
    say = schema["$defs"]["SayCommand"]
    assert say["additionalProperties"] is False
    assert {"commandId", "callId", "issuedAt", "expiresAt"} <= set(say["properties"])
    assert not any("_" in name for name in say["properties"])
    assert schema["discriminator"]["propertyName"] == "type"
    assert set(schema["discriminator"]["mapping"]) == {
        "hangup",
        "say",
        "playFiles",
        "sendDtmf",
        "park",
        "unpark",
        "startRecording",
        "stopRecording",
        "svaml",
        "getCallInfo",
        "callout",
        "getConferenceInfo",
        "kickAllParticipants",
        "muteParticipant",
        "unmuteParticipant",
        "holdParticipant",
        "resumeParticipant",
        "kickParticipant",
    }


def test_published_schemas_require_every_field() -> None:
    results = json.loads(GENERATED[f"schemas/{schema_export.TOPICS.results}.schema.json"])
    assert set(results["required"]) == set(results["properties"])
    error = results["$defs"]["ErrorInfo"]
    assert set(error["required"]) == {
        "code",
        "message",
        "retryable",
        "sinchErrorCode",
        "sinchReference",
    }


def test_asyncapi_describes_every_topic_and_the_command_payload() -> None:
    document = json.loads(GENERATED["schemas/asyncapi.json"])
    topics = schema_export.TOPICS
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert addresses == {
        topics.commands,
        topics.results,
        topics.snapshots,
        topics.dead_letter,
        topics.events,
        topics.conferences,
        "/sinch/callbacks",  # the HTTP side of the events topic
    }
    messages = document["components"]["messages"]
    payloads = {
        channel["address"]: messages[ref["$ref"].rsplit("/", 1)[-1]]["payload"]
        for channel in document["channels"].values()
        for ref in channel["messages"].values()
    }
    assert payloads[topics.commands] == {"$ref": "#/components/schemas/Command"}
    assert payloads[topics.results] == {"$ref": "#/components/schemas/Result"}
    assert payloads[topics.snapshots] == {"$ref": "#/components/schemas/Snapshot"}
    assert payloads[topics.events] == {"$ref": "#/components/schemas/CallEvent"}
    assert payloads[topics.conferences] == {"$ref": "#/components/schemas/ConferenceSnapshot"}
    assert payloads["/sinch/callbacks"] == {"$ref": "#/components/schemas/SinchCallback"}
    assert document["operations"]["receiveSinchCallback"]["action"] == "receive"
    assert "EmptyPayload" not in document["components"]["schemas"]
    assert "#/$defs/" not in GENERATED["schemas/asyncapi.json"]


def test_check_passes_on_this_checkout(capsys: pytest.CaptureFixture[str]) -> None:
    assert schema_export.main(["--check"]) == 0
    assert "match the models" in capsys.readouterr().out


def test_check_names_each_drifted_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert schema_export.main(["--root", str(tmp_path)]) == 0
    assert schema_export.main(["--check", "--root", str(tmp_path)]) == 0
    capsys.readouterr()

    commands = f"schemas/{schema_export.TOPICS.commands}.schema.json"
    edited = tmp_path / commands
    edited.write_text(edited.read_text(encoding="utf-8").replace("600", "700"), encoding="utf-8")
    (tmp_path / "schemas/asyncapi.json").unlink()

    assert schema_export.main(["--check", "--root", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"drift: {commands}" in err
    assert "drift: schemas/asyncapi.json" in err
    assert f"schemas/{schema_export.TOPICS.results}.schema.json" not in err
    assert schema_export.REGENERATE in err


ASYNCAPI = json.loads(GENERATED["schemas/asyncapi.json"])


def test_asyncapi_messages_have_names_of_their_own_not_faststreams() -> None:
    messages = ASYNCAPI["components"]["messages"]
    assert sorted(messages) == [
        "CallEvent",
        "Command",
        "ConferenceSnapshot",
        "DeadLetter",
        "Result",
        "SinchCallback",
        "Snapshot",
    ]
    for name, message in messages.items():
        assert message["name"] == name
        assert message["title"] and message["summary"] and ":" not in message["title"]


def test_asyncapi_correlates_on_the_command_id_and_replies_with_the_result() -> None:
    messages = ASYNCAPI["components"]["messages"]
    for name in ("Command", "Result", "Snapshot"):
        assert messages[name]["correlationId"]["location"] == "$message.payload#/commandId"
    assert "correlation_id" not in json.dumps(
        [m.get("correlationId") for m in messages.values()]
    ), "no correlation on FastStream's random per-message id"
    receive = ASYNCAPI["operations"]["receiveCommand"]
    assert receive["action"] == "receive"
    assert receive["reply"] == {
        "channel": {"$ref": "#/channels/results"},
        "messages": [{"$ref": "#/channels/results/messages/Result"}],
    }


def test_asyncapi_names_the_key_and_the_headers_the_code_uses() -> None:
    from service.asyncapi_export import dead_letter_header_names
    from service.ops.tracing import TRACE_HEADERS

    messages = ASYNCAPI["components"]["messages"]
    for name, message in messages.items():
        if name != "SinchCallback":
            key = message["bindings"]["kafka"]["key"]["description"]
            expected = "conferenceId" if name == "ConferenceSnapshot" else "callId"
            assert expected in key or name == "DeadLetter"
    headers = {name: set(m["headers"]["properties"]) for name, m in messages.items()}
    assert headers["Command"] == set(TRACE_HEADERS) == {"traceparent", "tracestate"}
    assert {"content-type", *TRACE_HEADERS} <= headers["Result"] == headers["Snapshot"]
    assert set(dead_letter_header_names()) == {
        "content-type",
        "error.code",
        "error.message",
        "source.topic",
        "source.partition",
        "source.offset",
    }
    assert set(dead_letter_header_names()) | set(TRACE_HEADERS) <= headers["DeadLetter"]
    assert messages["DeadLetter"]["headers"]["required"] == dead_letter_header_names()
    snapshots = ASYNCAPI["channels"]["snapshots"]["bindings"]["kafka"]
    assert snapshots["topicConfiguration"] == {"cleanup.policy": ["compact"]}


def test_asyncapi_payloads_are_the_topic_schemas() -> None:
    """The document's schemas are the topic files' schemas, `$defs` moved to components."""
    schemas = ASYNCAPI["components"]["schemas"]
    results = json.loads(GENERATED[f"schemas/{schema_export.TOPICS.results}.schema.json"])
    relocated = json.loads(
        json.dumps(results["$defs"]).replace("#/$defs/", "#/components/schemas/")
    )
    for name, schema in relocated.items():
        assert schemas[name] == schema, name
    assert schemas["Result"]["properties"]["duplicate"] == results["properties"]["duplicate"]


def test_asyncapi_version_is_the_package_version() -> None:
    from service.version import __version__

    assert ASYNCAPI["info"]["version"] == __version__ != "0.0.0+unknown"
