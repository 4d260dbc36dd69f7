"""Properties of reading and converting commands, checked on generated records.

- Every VALID command (of every type, optional fields drawn at random) is accepted by
  `decode_command`, and `plan()` turns it into a body that the simulator's independent SVAML
  validator (`simulator.svaml_rules.validate_svaml`, written from the API reference, not from
  the service's models) accepts for the endpoint the path names.
- Every INVALID command (a valid one with exactly one rule broken) is rejected as
  `invalid_command`, with a message that starts with the broken field's path.
"""

from __future__ import annotations

import json
import string
import typing
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.domain import commands as c
from service.domain.decode import Rejection, decode_command
from service.domain.plan import plan
from service.domain.results import ErrorCode
from simulator.errors import ApiError
from simulator.svaml_rules import validate_svaml

Record = dict[str, Any]
MAX_BYTES = 65_536
PROPERTY = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# --- building blocks ---------------------------------------------------------------------

# Any text a JSON producer can send (no lone surrogates: they are not valid UTF-8).
text = st.text
command_ids = st.from_regex(r"[A-Za-z0-9._:-]{1,128}", fullmatch=True)
call_ids = st.from_regex(r"[A-Za-z0-9_-]{1,128}", fullmatch=True)
locales = st.one_of(
    st.sampled_from(["en-US", "en-GB", "sv-SE", "de-DE", "en-US/female", "Joanna", "pt-BR"]),
    text(min_size=1, max_size=64),
)
legs = st.sampled_from(["caller", "callee", "both"])
url_paths = st.from_regex(r"[A-Za-z0-9._~/%-]{1,60}", fullmatch=True)
urls = st.builds(
    lambda scheme, host, path: f"{scheme}://{host}/{path}",
    st.sampled_from(["http", "https"]),
    st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?(\.[a-z]{2,6}){1,2}", fullmatch=True),
    url_paths,
)
# Bracket contents are free text; empty brackets are left out (see the module docstring of
# the report: the service accepts `#tts[]`, the simulator does not).
# No `;` inside (TTS or SSML): it separates prompts in Sinch's prompt strings, so `#tts[];]`
# is the prompts `#tts[]` and `]`, not one TTS text.
tts = st.builds(
    "#tts[{}]".format, text(min_size=1, max_size=80).filter(lambda inner: ";" not in inner)
)
ssml = st.builds(
    "#ssml[<speak>{}</speak>]".format, text(max_size=80).filter(lambda inner: ";" not in inner)
)
hrefs = st.builds("#href[{}]".format, urls)
# Pre-recorded prompts by name, as in Sinch's own examples.
names = st.sampled_from(["welcome", "[Welcome]", "hold-music", "ftp://old/x"])
prompt_ids = st.one_of(urls, tts, ssml, hrefs, names)
tts_prompts = st.one_of(tts, ssml)
# A prompt string: one or more `;`-separated prompts of any form.
prompt_lists = st.lists(prompt_ids, min_size=1, max_size=3).map(";".join)
dtmf = st.from_regex(r"[0-9#w]{1,64}", fullmatch=True)


def _timestamp(moment: datetime, offset_minutes: int, zulu: bool) -> str:
    if zulu:
        return moment.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z")
    return moment.replace(tzinfo=timezone(timedelta(minutes=offset_minutes))).isoformat()


timestamps = st.builds(
    _timestamp,
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)),
    st.integers(-14 * 60, 14 * 60),
    st.booleans(),
)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    text(max_size=40),
)
metadata = st.dictionaries(
    text(max_size=20),
    st.recursive(
        json_scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(text(max_size=10), inner, max_size=4)
        ),
        max_leaves=12,
    ),
    max_size=8,
).filter(lambda m: len(json.dumps(m, separators=(",", ":"), ensure_ascii=False).encode()) <= 4096)


@st.composite
def optional_fields(draw: st.DrawFn, fields: dict[str, st.SearchStrategy[Any]]) -> Record:
    """A random subset of the optional fields, each drawn from its strategy."""
    chosen = draw(st.sets(st.sampled_from(sorted(fields)))) if fields else set()
    return {name: draw(fields[name]) for name in sorted(chosen)}


COMMON_OPTIONAL: dict[str, st.SearchStrategy[Any]] = {
    "issuedAt": timestamps,
    "expiresAt": timestamps,
    "region": st.sampled_from(["use1", "euc1", "sae1", "apse1", "apse2"]),
    "snapshot": st.booleans(),
    "metadata": metadata,
}


@st.composite
def envelope(draw: st.DrawFn, type_: str) -> Record:
    return {
        "commandId": draw(command_ids),
        "callId": draw(call_ids),
        "type": type_,
        **draw(optional_fields(COMMON_OPTIONAL)),
    }


# --- SVAML parts -------------------------------------------------------------------------


@st.composite
def play_files_parts(draw: st.DrawFn) -> Record:
    ids = draw(st.lists(prompt_ids, min_size=1, max_size=64))
    needs_locale = any(i.startswith(("#tts[", "#ssml[")) for i in ids)
    part: Record = {"ids": ids}
    if needs_locale or draw(st.booleans()):
        part["locale"] = draw(locales)
    return part


say_parts = st.fixed_dictionaries({"text": text(min_size=1, max_size=600), "locale": locales})
transcription = optional_fields({"enabled": st.booleans(), "locale": locales})
recording_options = st.builds(
    lambda required, optional: {**required, **optional},
    st.fixed_dictionaries(
        {
            "destinationUrl": text(min_size=1, max_size=200),
            "credentials": text(min_size=1, max_size=200),
        }
    ),
    optional_fields(
        {
            "format": st.one_of(st.sampled_from(["mp3", "wav"]), text(min_size=1, max_size=16)),
            "notificationEvents": st.booleans(),
            "transcriptionOptions": transcription,
        }
    ),
)
park_parts = optional_fields(
    {
        "introPrompt": prompt_lists,
        "holdPrompt": prompt_lists,
        "locale": locales,
        "maxDuration": st.integers(1, 600),
    }
)


def named(name: str, parts: st.SearchStrategy[Record]) -> st.SearchStrategy[Record]:
    return parts.map(lambda fields: {"name": name, **fields})


E3_INSTRUCTIONS = st.one_of(named("say", say_parts), named("playFiles", play_files_parts()))
E1_INSTRUCTIONS = st.one_of(
    E3_INSTRUCTIONS,
    named("sendDtmf", st.fixed_dictionaries({"value": dtmf})),
    named(
        "setCookie",
        st.fixed_dictionaries({"key": text(min_size=1, max_size=40), "value": text(max_size=200)}),
    ),
    named("startRecording", st.fixed_dictionaries({"options": recording_options})),
    st.just({"name": "stopRecording"}),
)
E3_ACTIONS = st.sampled_from([{"name": "hangup"}, {"name": "continue"}])
E1_ACTIONS = st.one_of(E3_ACTIONS, named("park", park_parts))
# What unparks a parked call: the answer one would have given its incoming-call event.
UNPARK_ACTIONS = st.one_of(
    st.just({"name": "hangup"}),
    named("connectPstn", optional_fields({"number": st.just("+46700000000"), "cli": names})),
    named("connectConf", st.fixed_dictionaries({"conferenceId": text(min_size=1, max_size=64)})),
    named(
        "connectSip",
        st.just({"destination": {"type": "sip", "endpoint": "bob@sip.example.com"}}),
    ),
    named("connectMxp", st.just({"destination": {"type": "username", "endpoint": "bob"}})),
    named("runMenu", st.just({"menus": [{"id": "main", "mainPrompt": "#tts[Hi]"}]})),
)


def _cookies_fit(instructions: list[Record]) -> bool:
    size = sum(
        len(i.get("key", "").encode()) + len(i.get("value", "").encode())
        for i in instructions
        if i["name"] == "setCookie"
    )
    return size <= 1024


@st.composite
def svaml_body(draw: st.DrawFn, *, leg: bool) -> Record:
    body: Record = {}
    if draw(st.booleans()):
        instructions = E3_INSTRUCTIONS if leg else E1_INSTRUCTIONS
        body["instructions"] = draw(st.lists(instructions, max_size=5).filter(_cookies_fit))
    # Instructions never go alone (Sinch); an empty body is taken.
    if body.get("instructions") or draw(st.booleans()):
        body["action"] = draw(E3_ACTIONS if leg else E1_ACTIONS)
    return body


@st.composite
def unpark_parts(draw: st.DrawFn) -> Record:
    part: Record = {"action": draw(UNPARK_ACTIONS)}
    if draw(st.booleans()):
        part["instructions"] = draw(st.lists(E1_INSTRUCTIONS, max_size=3).filter(_cookies_fit))
    return part


# --- valid commands, one strategy per type -----------------------------------------------


@st.composite
def with_fields(
    draw: st.DrawFn, type_: str, required: st.SearchStrategy[Record], optional: dict[str, Any]
) -> Record:
    return {**draw(envelope(type_)), **draw(required), **draw(optional_fields(optional))}


NOTHING: st.SearchStrategy[Record] = st.just({})
THEN = {"then": st.sampled_from(["continue", "hangup"]), "leg": legs}


@st.composite
def raw_svaml(draw: st.DrawFn) -> Record:
    record = draw(envelope("svaml"))
    if draw(st.booleans()):
        record["leg"] = draw(legs)
    record["svaml"] = draw(svaml_body(leg="leg" in record))
    return record


VALID: dict[str, st.SearchStrategy[Record]] = {
    "hangup": with_fields("hangup", NOTHING, {}),
    "say": with_fields("say", say_parts, THEN),
    "playFiles": with_fields("playFiles", play_files_parts(), THEN),
    "sendDtmf": with_fields("sendDtmf", st.fixed_dictionaries({"value": dtmf}), {}),
    "park": with_fields("park", park_parts, {}),
    "unpark": with_fields("unpark", unpark_parts(), {}),
    "startRecording": with_fields(
        "startRecording", st.fixed_dictionaries({"options": recording_options}), {}
    ),
    "stopRecording": with_fields("stopRecording", NOTHING, {}),
    "svaml": raw_svaml(),
    "getCallInfo": with_fields("getCallInfo", NOTHING, {}),
}
valid_commands = st.one_of(*VALID.values())


def decode(record: Record, key: bytes | None = None) -> c.Command | Rejection:
    value = json.dumps(record, ensure_ascii=False).encode()
    return decode_command(key, value, max_bytes=MAX_BYTES)


def test_there_is_a_strategy_for_every_command_type() -> None:
    # Commands without a callId of their own: tests/unit/domain/test_conference_properties.py
    from tests.unit.domain.test_conference_properties import OTHER_VALID

    assert set(VALID) | set(OTHER_VALID) == set(c.COMMAND_TYPES)
    assert not set(VALID) & set(OTHER_VALID)


@PROPERTY
@given(valid_commands)
def test_valid_commands_are_accepted(record: Record) -> None:
    command = decode(record, key=record["callId"].encode())
    assert not isinstance(command, Rejection), command
    assert command.type == record["type"]
    assert command.command_id == record["commandId"]
    assert command.about_call() == record["callId"]
    assert command.metadata == record.get("metadata")


@PROPERTY
@given(valid_commands)
def test_planned_body_passes_the_simulators_validator(record: Record) -> None:
    command = decode(record)
    assert not isinstance(command, Rejection), command
    request = plan(command)
    base = f"/calling/v1/calls/id/{record['callId']}"
    if record["type"] == "getCallInfo":
        assert (request.method, request.path, request.body) == ("GET", base, b"")
        return
    leg = record.get("leg")
    assert request.method == "PATCH"
    assert request.path == (f"{base}/leg/{leg}" if leg else base)
    body = json.loads(request.body)
    try:
        validate_svaml(body, "E3" if leg else "E1")
    except ApiError as error:  # pragma: no cover - the assertion below reports it
        raise AssertionError(f"the simulator rejects {body!r}: {error.message}") from error
    assert request.region == record.get("region")


@PROPERTY
@given(VALID["svaml"])
def test_raw_svaml_is_passed_through_unchanged(record: Record) -> None:
    command = decode(record)
    assert not isinstance(command, Rejection), command
    assert json.loads(plan(command).body) == record["svaml"]


@PROPERTY
@given(st.one_of(VALID["say"], VALID["playFiles"]))
def test_then_is_the_action_and_continue_by_default(record: Record) -> None:
    command = decode(record)
    assert not isinstance(command, Rejection), command
    body = json.loads(plan(command).body)
    assert body["action"] == {"name": record.get("then", "continue")}
    instruction = body["instructions"][0]
    for field in ("text", "ids", "locale"):
        assert instruction.get(field) == record.get(field)


@PROPERTY
@given(VALID["startRecording"])
def test_recording_echo_is_redacted(record: Record) -> None:
    command = decode(record)
    assert not isinstance(command, Rejection), command
    request = plan(command)
    sent = json.loads(request.body)["instructions"][0]["options"]
    echoed = request.echo()["body"]["instructions"][0]["options"]
    assert sent["credentials"] == record["options"]["credentials"]
    assert echoed == {**sent, "credentials": c.REDACTED}
    assert command.redacted()["options"] == {**record["options"], "credentials": c.REDACTED}


# --- invalid commands: a valid one with exactly one rule broken ---------------------------

Breaker = Callable[[st.DrawFn, Record], tuple[Record, str]]
FORBIDDEN_ID_CHARS = st.sampled_from(list(" /\\?#%&@!$*+,;=[]{}\"'\n\té"))


def _insert(draw: st.DrawFn, value: str, alphabet: st.SearchStrategy[str]) -> str:
    position = draw(st.integers(0, len(value)))
    return value[:position] + draw(alphabet) + value[position:]


def break_command_id(draw: st.DrawFn, record: Record) -> tuple[Record, str]:
    choice = draw(st.sampled_from(["long", "empty", "char", "type", "missing"]))
    broken = dict(record)
    if choice == "long":
        broken["commandId"] = draw(st.from_regex(r"[A-Za-z0-9._:-]{129,200}", fullmatch=True))
    elif choice == "empty":
        broken["commandId"] = ""
    elif choice == "char":
        broken["commandId"] = _insert(draw, record["commandId"], FORBIDDEN_ID_CHARS)
    elif choice == "type":
        broken["commandId"] = draw(st.one_of(st.integers(), st.booleans(), st.none()))
    else:
        del broken["commandId"]
    return broken, "commandId"


def break_call_id(draw: st.DrawFn, record: Record) -> tuple[Record, str]:
    choice = draw(st.sampled_from(["long", "empty", "char", "missing"]))
    broken = dict(record)
    if choice == "long":
        broken["callId"] = draw(st.from_regex(r"[A-Za-z0-9_-]{129,200}", fullmatch=True))
    elif choice == "empty":
        broken["callId"] = ""
    elif choice == "char":
        broken["callId"] = _insert(draw, record["callId"], st.sampled_from(list(".:/ é\n")))
    else:
        del broken["callId"]
    return broken, "callId"


def break_unknown_field(draw: st.DrawFn, record: Record) -> tuple[Record, str]:
    # Not a field of any command, in camelCase or snake_case.
    known = {"leg", "then", "text", "locale", "ids", "value", "options", "svaml", "type"}
    name = draw(
        st.from_regex(r"[a-z][A-Za-z0-9]{0,15}", fullmatch=True).filter(
            lambda n: (
                n not in known
                and n
                not in {
                    "commandId",
                    "callId",
                    "issuedAt",
                    "expiresAt",
                    "region",
                    "snapshot",
                    "metadata",
                    "introPrompt",
                    "holdPrompt",
                    "maxDuration",
                }
            )
        )
    )
    return {**record, name: draw(json_scalars)}, name


def break_common(draw: st.DrawFn, record: Record) -> tuple[Record, str]:
    field = draw(st.sampled_from(["issuedAt", "expiresAt", "region", "snapshot", "metadata"]))
    value: Any
    if field in {"issuedAt", "expiresAt"}:
        moment = draw(st.datetimes(min_value=datetime(2000, 1, 1)))
        value = draw(st.sampled_from([moment.isoformat(), moment.timestamp(), "", "soon"]))
    elif field == "region":
        value = draw(text(max_size=8).filter(lambda r: r not in typing.get_args(c.Region)))
    elif field == "snapshot":
        value = draw(st.one_of(st.integers(), text(), st.just([])))
    else:
        value = draw(
            st.one_of(
                st.lists(json_scalars, max_size=3),
                text(max_size=10),
                st.integers(),
                st.just({"blob": "x" * 4100}),
            )
        )
    return {**record, field: value}, field


def break_say(draw: st.DrawFn, record: Record) -> tuple[Record, str]:
    choice = draw(st.sampled_from(["text-long", "text-empty", "no-locale", "locale-long", "leg"]))
    broken = dict(record)
    if choice == "text-long":
        broken["text"] = draw(text(min_size=601, max_size=700))
        return broken, "text"
    if choice == "text-empty":
        broken["text"] = ""
        return broken, "text"
    if choice == "no-locale":
        del broken["locale"]
        return broken, "locale"
    if choice == "locale-long":
        broken["locale"] = draw(text(min_size=65, max_size=80))
        return broken, "locale"
    broken["leg"] = draw(text(max_size=10).filter(lambda v: v not in {"caller", "callee", "both"}))
    return broken, "leg"


def break_play_files(draw: st.DrawFn, record: Record) -> tuple[Record, str]:
    choice = draw(st.sampled_from(["empty", "too-many", "scheme", "tts-no-locale", "then"]))
    broken = dict(record)
    if choice == "empty":
        broken["ids"] = []
        return broken, "ids"
    if choice == "too-many":
        broken["ids"] = draw(st.lists(urls, min_size=65, max_size=70))
        return broken, "ids"
    if choice == "scheme":
        bad = draw(
            st.one_of(
                st.builds("#href[ftp://{}]".format, url_paths),
                st.builds("#sound[{}]".format, text()),
                st.just(""),
                st.just("#tts[]"),
                st.builds("#tts[{}]".format, text(min_size=601, max_size=620)),
            )
        )
        ids = list(record["ids"])
        position = draw(st.integers(0, len(ids) - 1))
        ids.insert(position, bad)
        broken["ids"] = ids[:64]
        return broken, f"ids[{position}]"
    if choice == "tts-no-locale":
        broken["ids"] = [*record["ids"][:63], draw(tts_prompts)]
        broken.pop("locale", None)
        return broken, "locale"
    broken["then"] = draw(st.sampled_from(["park", "Hangup", "", "CONTINUE"]))
    return broken, "then"


def break_send_dtmf(draw: st.DrawFn, record: Record) -> tuple[Record, str]:
    bad = draw(
        st.one_of(
            st.just(""),
            st.from_regex(r"[0-9#w]{65,80}", fullmatch=True),
            st.builds(
                lambda v, c_: v + c_, st.just(record["value"][:63]), st.sampled_from(list("*aW "))
            ),
        )
    )
    return {**record, "value": bad}, "value"


def break_park(draw: st.DrawFn, record: Record) -> tuple[Record, str]:
    field = draw(st.sampled_from(["maxDuration", "introPrompt", "holdPrompt"]))
    if field == "maxDuration":
        value: Any = draw(
            st.one_of(
                st.integers(max_value=0),
                st.integers(min_value=601),
                st.just("60"),
                st.floats(1.5, 100.5),
            )
        )
    else:
        value = draw(
            st.one_of(
                st.builds("#href[{}]".format, text(alphabet=string.ascii_letters, max_size=10)),
                st.builds("{};#nope[x]".format, prompt_ids),
                st.just(""),
            )
        )
    return {**record, field: value}, field


def break_start_recording(draw: st.DrawFn, record: Record) -> tuple[Record, str]:
    field = draw(st.sampled_from(["destinationUrl", "credentials", "notificationEvents"]))
    options = dict(record["options"])
    if field == "notificationEvents":
        options[field] = draw(st.one_of(st.just("yes"), st.integers()))
    else:
        # Sinch requires neither field; given, it must not be empty.
        options[field] = draw(st.sampled_from(["", 5]))
    return {**record, "options": options}, f"options.{field}"


def break_svaml(draw: st.DrawFn, record: Record) -> tuple[Record, str]:
    leg = "leg" in record
    body = dict(record["svaml"])
    instructions = list(body.get("instructions") or [])
    choice = draw(st.sampled_from(["action", "instruction", "say-text"]))
    if choice == "action":
        unpark = {"connectPstn", "connectConf", "runMenu", "connectSip"}
        allowed = {"hangup", "continue"} if leg else {"hangup", "continue", "park", *unpark}
        names = ["park", "connectPstn", "connectConf", "runMenu", "connectSip", "connectStream"]
        name = draw(st.sampled_from([n for n in names if n not in allowed]))
        action: Record = {"name": name}
        if name == "connectConf":
            action["conferenceId"] = "conf-1"
        elif name in {"connectSip", "connectStream"}:
            action["destination"] = {"type": "sip", "endpoint": "bob@sip.example.com"}
        body["action"] = action
        return {**record, "svaml": body}, "svaml.action.name"
    index = draw(st.integers(0, len(instructions)))
    if choice == "instruction":
        bad = draw(
            st.sampled_from(
                [{"name": "sendDtmf", "value": "1"}, {"name": "stopRecording"}]
                if leg
                else [{"name": "answer"}]
            )
        )
    else:
        bad = {"name": "say", "text": draw(text(min_size=601, max_size=650)), "locale": "en-US"}
    instructions.insert(index, bad)
    body["instructions"] = instructions
    field = "name" if choice == "instruction" else "text"
    return {**record, "svaml": body}, f"svaml.instructions[{index}].{field}"


TYPE_BREAKERS: dict[str, list[Breaker]] = {
    "say": [break_say],
    "playFiles": [break_play_files],
    "sendDtmf": [break_send_dtmf],
    "park": [break_park],
    "startRecording": [break_start_recording],
    "svaml": [break_svaml],
}
COMMON_BREAKERS: list[Breaker] = [
    break_command_id,
    break_call_id,
    break_unknown_field,
    break_common,
]


@st.composite
def invalid_commands(draw: st.DrawFn) -> tuple[Record, str]:
    type_ = draw(st.sampled_from(sorted(VALID)))
    record = draw(VALID[type_])
    breaker = draw(st.sampled_from(COMMON_BREAKERS + TYPE_BREAKERS.get(type_, [])))
    return breaker(draw, record)


@PROPERTY
@given(invalid_commands())
def test_invalid_commands_are_rejected_naming_the_field(case: tuple[Record, str]) -> None:
    record, field = case
    rejection = decode(record)
    assert isinstance(rejection, Rejection), f"accepted, with {field} broken: {rejection!r}"
    assert rejection.code is ErrorCode.INVALID_COMMAND
    first = rejection.message.split("; ")[0]
    assert first.startswith(f"{field}: "), rejection.message


@PROPERTY
@given(valid_commands, st.binary(min_size=1, max_size=129))
def test_key_other_than_call_id_is_a_mismatch(record: Record, key: bytes) -> None:
    rejection = decode(record, key=record["callId"].encode() + key)
    assert isinstance(rejection, Rejection)
    assert rejection.code is ErrorCode.KEY_MISMATCH
    assert (rejection.command_id, rejection.call_id) == (record["commandId"], record["callId"])
