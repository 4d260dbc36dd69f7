"""The AsyncAPI 3.0 document (`schemas/asyncapi.json`), generated like the JSON Schemas.

FastStream describes the app it runs (`create_app(settings)`): its servers, channels (one per
topic, with the Kafka channel binding) and operations. What FastStream cannot know is added
here, from the code that decides it, so a code generator gets the whole contract:

- each topic's payload is its contract JSON Schema (`schema_export`), the same text as the
  topic's `.schema.json` file; FastStream's own rendering of the models is dropped;
- messages have proper names (`Command`, `Result`, ...), not FastStream's `commands:Message`;
- `correlationId` is the payload's `commandId` (results and snapshots carry the command's);
- the Kafka message binding names the key (the call id: per-call order depends on it), the
  channel binding the cleanup policy (snapshots are compacted);
- the headers are those the service reads and writes: W3C trace context
  (`service.ops.tracing`), `content-type` (`service.kafka.adapter`), the dead-letter reason
  headers (`service.delivery.answers`) and FastStream's per-message `correlation_id`;
- receiving a command has a `reply`: its result on the results channel;
- the version is the package's (`service.version`, from pyproject.toml: its one source);
- the callback endpoint (HTTP, the events topic's source) is added as a server, channel and
  receive operation, since FastStream describes Kafka only.

Past 400 lines on purpose: a build tool, not service code, and mostly the contract's own text
(what each header, key and message means), kept together so the document reads as one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from service.delivery.answers import DeadLetter, dead_letter_headers
from service.delivery.records import Record
from service.kafka.adapter import JSON_HEADERS
from service.ops.tracing import TRACE_HEADERS
from service.schema_export import (
    REPO_ROOT,
    SCHEMA_DIR,
    commands_schema,
    conferences_schema,
    events_schema,
    results_schema,
    snapshots_schema,
    tidy_descriptions,
)
from service.settings import KafkaSettings, Settings, SinchSettings, TopicSettings

KAFKA_BINDING_VERSION = "0.5.0"
HTTP_BINDING_VERSION = "0.3.0"
EXAMPLES = REPO_ROOT / SCHEMA_DIR / "examples"
COMMAND_ID = "$message.payload#/commandId"


def export_settings() -> Settings:
    """Default settings, built explicitly: the document must not depend on the environment."""
    return Settings(
        kafka=KafkaSettings(),
        topics=TopicSettings(),
        sinch=SinchSettings(
            application_key="schema-export", application_secret=SecretStr("c2NoZW1hLWV4cG9ydA==")
        ),
    )


# --- headers -------------------------------------------------------------------------------

_TRACE_HEADER_TEXT = {
    "traceparent": "W3C trace context (`00-<trace id>-<span id>-<flags>`).",
    "tracestate": "W3C trace state, vendor entries carried along with `traceparent`.",
}
_FASTSTREAM_ID = (
    "A random id per published message (FastStream's message id). It is not the command's "
    "correlation: that is the payload's `commandId`."
)
_DEAD_LETTER_TEXT = {
    "content-type": "`application/octet-stream`: the value is the refused record's bytes, "
    "JSON or not.",
    "error.code": "Why the record was refused: one of the `rejected` error codes "
    "(`not_json`, `too_large`, `invalid_command`, `key_mismatch`, `idempotency_conflict`).",
    "error.message": "What is wrong, naming the field and the rule; never an input value.",
    "source.topic": "The topic the record was read from.",
    "source.partition": "Its partition, in decimal.",
    "source.offset": "Its offset, in decimal.",
}


def _string_headers(properties: dict[str, str], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            name: {"type": "string", "description": text} for name, text in properties.items()
        },
        "required": list(required),
    }


def _trace_headers(written: bool) -> dict[str, str]:
    how = (
        " With tracing on, the context of the service's span for the command (a child of the "
        "command's); with tracing off, the command's own context, unchanged (absent if it had "
        "none)."
        if written
        else " Optional: everything the command causes (Sinch requests, result, snapshot, dead "
        "letter) continues this trace."
    )
    return {
        name: _TRACE_HEADER_TEXT.get(name, "W3C trace context.") + how for name in TRACE_HEADERS
    }


def command_headers() -> dict[str, Any]:
    headers = _string_headers(_trace_headers(written=False))
    headers["description"] = "Read: the trace context only; any other header is ignored."
    return headers


def output_headers() -> dict[str, Any]:
    """Results and snapshots (the callback endpoint's events and snapshots: no trace context)."""
    json_type = {name: f"`{value}`." for name, value in JSON_HEADERS.items()}
    return _string_headers(
        {**json_type, "correlation_id": _FASTSTREAM_ID, **_trace_headers(written=True)},
        required=tuple(JSON_HEADERS),
    )


def dead_letter_header_names() -> list[str]:
    """The reason headers as `service.delivery.answers` writes them."""
    sample = Record(topic="t", partition=0, offset=0, key=None, value=None)
    return list(dead_letter_headers(sample, DeadLetter(code="c", message="m")))


def dead_letter_headers_schema() -> dict[str, Any]:
    names = dead_letter_header_names()
    missing = sorted(set(names) - set(_DEAD_LETTER_TEXT))
    if missing:
        raise RuntimeError(f"dead-letter headers without a description: {missing}")
    texts = {name: _DEAD_LETTER_TEXT[name] for name in names}
    return _string_headers(
        {**texts, "correlation_id": _FASTSTREAM_ID, **_trace_headers(written=True)},
        required=tuple(names),
    )


# --- messages ------------------------------------------------------------------------------

KEY_TEXT = (
    "The call id (`callId`), UTF-8: all records of one call share a partition, which keeps the "
    "call's commands in order."
)
COMMAND_KEY_TEXT = (
    "UTF-8. A call command: its `callId` (all records of one call share a partition, which "
    "keeps the call's commands in order). A conference command: its `conferenceId` (ordered "
    "per conference). A `callout`: whatever the sender wants ordered with it (the destination "
    "is recommended), or no key. A call or conference command whose key is not its `callId` or "
    "`conferenceId` is refused (`key_mismatch`)."
)
RESULT_KEY_TEXT = (
    "The command record's own key: the `callId`, the `conferenceId`, or a callout's key (absent "
    "when it had none)."
)
CONFERENCE_KEY_TEXT = "The conference id (`conferenceId`), UTF-8; the topic is compacted on it."


def _key(text: str = KEY_TEXT) -> dict[str, Any]:
    return {
        "kafka": {
            "key": {"type": "string", "description": text},
            "bindingVersion": KAFKA_BINDING_VERSION,
        }
    }


def _example(folder: str, name: str, summary: str, headers: dict[str, str] | None = None) -> Any:
    payload = json.loads((EXAMPLES / folder / name).read_text(encoding="utf-8"))
    example: dict[str, Any] = {"name": Path(name).stem, "summary": summary, "payload": payload}
    if headers:
        example["headers"] = headers
    return example


_TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def messages() -> dict[str, dict[str, Any]]:
    """Every Kafka message of the contract, by its component name."""
    correlation = {
        "description": "The command's `commandId`: a result (and the snapshot after it) "
        "carries the id of the command it answers.",
        "location": COMMAND_ID,
    }
    return {
        "Command": {
            "title": "Call-control command",
            "summary": "An action on one live call, sent by another service.",
            "contentType": "application/json",
            "payload": {"$ref": "#/components/schemas/Command"},
            "headers": command_headers(),
            "correlationId": correlation,
            "bindings": _key(COMMAND_KEY_TEXT),
            "examples": [
                _example("commands/valid", "say.json", "Say a text", {"traceparent": _TRACEPARENT}),
                _example("commands/valid", "hangup.json", "Hang up"),
            ],
        },
        "Result": {
            "title": "Command result",
            "summary": "What happened to one command record: exactly one per record.",
            "contentType": "application/json",
            "payload": {"$ref": "#/components/schemas/Result"},
            "headers": output_headers(),
            "correlationId": correlation,
            "bindings": _key(RESULT_KEY_TEXT),
            "examples": [
                _example("results", "succeeded-say.json", "Succeeded"),
                _example("results", "failed-rate-limited-retryable.json", "Failed, retryable"),
            ],
        },
        "Snapshot": {
            "title": "Call snapshot",
            "summary": "The latest state of a call as Sinch reports it, normalized.",
            "contentType": "application/json",
            "payload": {"$ref": "#/components/schemas/Snapshot"},
            "headers": output_headers(),
            "correlationId": {
                "description": "The `commandId` of the command the snapshot followed (null "
                "when none did).",
                "location": COMMAND_ID,
            },
            "bindings": _key(),
            "examples": [_example("snapshots", "ongoing-after-say.json", "After a say")],
        },
        "ConferenceSnapshot": {
            "title": "Conference snapshot",
            "summary": "The latest participants of a conference as Sinch reports them.",
            "contentType": "application/json",
            "payload": {"$ref": "#/components/schemas/ConferenceSnapshot"},
            "headers": output_headers(),
            "correlationId": {
                "description": "The `commandId` of the conference command the snapshot followed.",
                "location": COMMAND_ID,
            },
            "bindings": _key(CONFERENCE_KEY_TEXT),
            "examples": [_example("conferences", "after-hold.json", "After a hold")],
        },
        "DeadLetter": {
            "title": "Dead letter",
            "summary": "A refused command record, byte for byte, with the reason in headers.",
            "contentType": "application/octet-stream",
            "payload": {"$ref": "#/components/schemas/DeadLetterValue"},
            "headers": dead_letter_headers_schema(),
            "bindings": _key("The refused record's own key, unchanged (absent if it had none)."),
        },
        "CallEvent": {
            "title": "Call event",
            "summary": "One Sinch callback (ICE, ACE, PIE, DiCE, Notify), normalized, with the "
            "answer it was given.",
            "contentType": "application/json",
            "payload": {"$ref": "#/components/schemas/CallEvent"},
            "headers": _string_headers(
                {
                    **{name: f"`{value}`." for name, value in JSON_HEADERS.items()},
                    "correlation_id": _FASTSTREAM_ID,
                },
                required=tuple(JSON_HEADERS),
            ),
            "bindings": _key(),
            "examples": [_example("events", "ice.json", "Incoming call")],
        },
    }


DEAD_LETTER_VALUE = {
    "title": "DeadLetterValue",
    "description": "The refused record's value, byte for byte (JSON or not, possibly empty).",
    "type": "string",
    "format": "binary",
}


# --- the document --------------------------------------------------------------------------

# channel id (FastStream's, from the publisher titles in service/app.py) -> message, operation
_CHANNELS = {
    "commands": ("Command", "receiveCommand", "delete"),
    "results": ("Result", "sendResult", "delete"),
    "snapshots": ("Snapshot", "sendSnapshot", "compact"),
    "conferences": ("ConferenceSnapshot", "sendConferenceSnapshot", "compact"),
    "dead-letter": ("DeadLetter", "sendDeadLetter", "delete"),
    "events": ("CallEvent", "sendCallEvent", "delete"),
}


def _component_schemas() -> dict[str, Any]:
    """The contract schemas, merged: `$defs` become components, the topics' roots named."""
    schemas: dict[str, Any] = {"DeadLetterValue": DEAD_LETTER_VALUE}
    roots = {
        "Command": commands_schema(),
        "Result": results_schema(),
        "Snapshot": snapshots_schema(),
        "ConferenceSnapshot": conferences_schema(),
        "CallEvent": events_schema(),
    }
    for root_name, document in roots.items():
        root = {
            key: value
            for key, value in document.items()
            if key not in {"$schema", "$id", "$defs", "title"}
        }
        for name, schema in {**document.get("$defs", {}), root_name: root}.items():
            schema = _relocate_refs(schema, "#/$defs/", "#/components/schemas/")
            if name in schemas and schemas[name] != schema:
                raise RuntimeError(f"AsyncAPI component schema {name!r} would be overwritten")
            schemas[name] = schema
    return schemas


def _relocate_refs(value: Any, old: str, new: str) -> Any:
    """Rewrite `$ref`s (and discriminator mappings) from `old` prefix to `new`."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key == "$ref" and isinstance(item, str) and item.startswith(old):
                out[key] = new + item.removeprefix(old)
            elif key == "discriminator" and isinstance(item, dict):
                # AsyncAPI's Schema Object takes the property name only (OpenAPI takes a map).
                out[key] = item["propertyName"]
            else:
                out[key] = _relocate_refs(item, old, new)
        return out
    if isinstance(value, list):
        return [_relocate_refs(item, old, new) for item in value]
    return value


def _with_contract(document: dict[str, Any], settings: Settings) -> dict[str, Any]:
    channels: dict[str, Any] = document["channels"]
    found = {channel["address"] for channel in channels.values()}
    expected = {getattr(settings.topics, field) for field in type(settings.topics).model_fields}
    if found != expected:
        raise RuntimeError(f"AsyncAPI channels {sorted(found)} are not the topics {expected}")
    operations: dict[str, Any] = {}
    for channel_id, channel in channels.items():
        if channel_id not in _CHANNELS:
            raise RuntimeError(f"channel {channel_id!r}: name its message in _CHANNELS")
        message, operation_id, cleanup = _CHANNELS[channel_id]
        channel["messages"] = {message: {"$ref": f"#/components/messages/{message}"}}
        channel["bindings"] = {
            "kafka": {
                "topic": channel["address"],
                "topicConfiguration": {"cleanup.policy": [cleanup]},
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        }
        old = document["operations"][channel_id]
        operations[operation_id] = {
            "action": old["action"],
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "messages": [{"$ref": f"#/channels/{channel_id}/messages/{message}"}],
        }
    receive = operations["receiveCommand"]
    receive["summary"] = "Carry out a command against the Sinch Calling API."
    receive["bindings"] = {
        "kafka": {
            "groupId": {
                "type": "string",
                "description": "The service's consumer group (`CALLCTL_KAFKA__GROUP_ID`); "
                "readers of the output topics use a group of their own.",
                "default": settings.kafka.group_id,
            },
            "bindingVersion": KAFKA_BINDING_VERSION,
        }
    }
    receive["reply"] = {
        "channel": {"$ref": "#/channels/results"},
        "messages": [{"$ref": "#/channels/results/messages/Result"}],
    }
    receive["description"] = (
        "Each command record is answered by exactly one Result on the results channel, keyed "
        "by the same callId and carrying the command's commandId (read the results with a "
        "consumer group of your own and filter on commandId)."
    )
    document["operations"] = operations
    named = {name: {"name": name, **message} for name, message in messages().items()}
    document["components"] = {"schemas": _component_schemas(), "messages": named}
    document["servers"]["development"]["description"] = (
        "The local broker of `make run` (any Kafka 3.x/4.x broker works)."
    )
    return document


def asyncapi_document(settings: Settings | None = None) -> dict[str, Any]:
    """The AsyncAPI document of `create_app(settings)`, completed from the contract."""
    from service.app import create_app  # the Kafka side; imported only when asked for

    settings = settings or export_settings()
    app = create_app(settings)
    document = app.schema.to_specification().to_jsonable()
    if not isinstance(document, dict):
        raise TypeError("FastStream returned an AsyncAPI document that is not an object")
    document = _with_contract(json.loads(json.dumps(document)), settings)
    tidy: dict[str, Any] = tidy_descriptions(_with_callback_endpoint(document, settings))
    return tidy


# The HTTP side of the events topic: FastStream describes Kafka only, so the callback endpoint
# (docs/callbacks.md) is added here as an `http` server, channel and receive operation.
CALLBACK_PAYLOAD: dict[str, Any] = {
    "title": "SinchCallback",
    "description": "A Sinch Calling API callback (ICE, ACE, PIE, DiCE, Notify) as Sinch sends it; "
    "every field optional except `event` and `callid`. Signed: `Authorization: Application "
    "{key}:{Base64(HMAC-SHA256(secret, POST, Content-MD5, Content-Type, x-timestamp, path))}`.",
    "type": "object",
    "required": ["event", "callid"],
    "properties": {
        "event": {
            "type": "string",
            "description": "The callback's type.",
            "examples": ["ice", "ace", "pie", "dice", "notify"],
        },
        "callid": {
            "type": "string",
            "minLength": 1,
            "maxLength": 256,
            "description": "The Sinch call id.",
        },
        "callResourceUrl": {
            "type": "string",
            "description": "ICE: the call's URL; its host is the call's regional host.",
        },
        "timestamp": {"type": "string", "description": "Sinch's time of the event."},
        "version": {"type": "integer", "description": "Version of the callback format."},
    },
    "additionalProperties": True,
}


def _with_callback_endpoint(document: dict[str, Any], settings: Settings) -> dict[str, Any]:
    callbacks = settings.callbacks
    document["servers"]["callbacks"] = {
        "host": f"localhost:{callbacks.port}",
        "protocol": "http",
        "description": "The callback endpoint Sinch posts to (CALLCTL_CALLBACKS__ENABLED=true).",
    }
    components = document["components"]
    components["schemas"]["SinchCallback"] = CALLBACK_PAYLOAD
    components["messages"]["SinchCallback"] = {
        "name": "SinchCallback",
        "title": "Sinch callback",
        "summary": "A signed callback from Sinch about one call.",
        "contentType": "application/json",
        "payload": {"$ref": "#/components/schemas/SinchCallback"},
        "headers": {
            "type": "object",
            "required": ["Authorization", "x-timestamp"],
            "properties": {
                "Authorization": {
                    "type": "string",
                    "pattern": "^[Aa]pplication [^:]+:.+$",
                    "description": "Sinch's signature: `Application {key}:{signature}`.",
                },
                "x-timestamp": {
                    "type": "string",
                    "description": "ISO-8601 UTC; older or newer than "
                    "`CALLCTL_CALLBACKS__MAX_SKEW_S` is refused (401).",
                },
            },
        },
        "bindings": {"http": {"bindingVersion": HTTP_BINDING_VERSION}},
    }
    document["channels"]["sinch-callbacks"] = {
        "address": callbacks.path,
        "description": "Sinch's callbacks over HTTP: each becomes one record on the events "
        "channel, published and acknowledged before the HTTP answer. Answers: 200 with SVAML "
        "(ICE, ACE, PIE) or empty (DiCE, Notify); 400 not a callback, 401 unsigned or stale, "
        "413 too large, 503 Kafka did not acknowledge in time.",
        "messages": {"SinchCallback": {"$ref": "#/components/messages/SinchCallback"}},
        "servers": [{"$ref": "#/servers/callbacks"}],
    }
    document["operations"]["receiveSinchCallback"] = {
        "action": "receive",
        "summary": "Take a Sinch callback, publish it as a CallEvent, answer Sinch.",
        "channel": {"$ref": "#/channels/sinch-callbacks"},
        "messages": [{"$ref": "#/channels/sinch-callbacks/messages/SinchCallback"}],
        "bindings": {"http": {"bindingVersion": HTTP_BINDING_VERSION, "method": "POST"}},
    }
    return document
