"""Properties generated from the rule table (docs/sinch-fidelity.md): the service and the
simulator, written independently, agree on every generated value, and the value is accepted
exactly when the rule says so."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from service.domain import svaml
from service.domain.decode import Rejection, decode_command
from simulator.errors import ApiError
from simulator.svaml_rules import validate_svaml

PROPERTY = settings(max_examples=150, deadline=None)
URL = "https://media.example.com/a.mp3"

# Prompt parts, valid and not, labelled by the rule.
GOOD_PARTS = st.one_of(
    st.builds("#tts[{}]".format, st.text(st.characters(exclude_characters="[]"), min_size=1,
                                         max_size=600)),
    st.just("#ssml[<speak>Hi</speak>]"),
    st.just(f"#href[{URL}]"),
    st.just(URL),
    st.sampled_from(["welcome", "[Welcome]", "hold music"]),
)  # fmt: skip
BAD_PARTS = st.one_of(
    st.just("#tts[]"),
    st.just("#tts[" + "x" * 601 + "]"),
    st.just("#href[not a url]"),
    # (an unclosed "#tts[" is left out: it swallows the parts after it, on both sides)
    st.sampled_from(["#sound[x]", "", "a\nb"]),
)


def simulator_accepts(body: dict[str, Any], endpoint: str = "E1") -> bool:
    try:
        validate_svaml(body, endpoint)  # type: ignore[arg-type]
    except ApiError:
        return False
    return True


def service_accepts(body: dict[str, Any], leg: str | None = None) -> bool:
    record: dict[str, Any] = {"commandId": "p-1", "callId": "call-1", "type": "svaml"}
    record["svaml"] = body
    if leg:
        record["leg"] = leg
    decoded = decode_command(None, json.dumps(record).encode(), max_bytes=1 << 20)
    return not isinstance(decoded, Rejection)


@PROPERTY
@given(st.lists(st.tuples(st.booleans(), st.data()), min_size=1, max_size=4))
def test_prompts_each_part_checked_the_same_on_both_sides(
    parts: list[tuple[bool, st.DataObject]],
) -> None:
    drawn = [data.draw(GOOD_PARTS if good else BAD_PARTS) for good, data in parts]
    prompt = ";".join(drawn)
    expected = all(good for good, _ in parts)
    park = {"action": {"name": "park", "holdPrompt": prompt}}
    assert service_accepts(park) is expected, prompt
    assert simulator_accepts(park) is expected, prompt


@PROPERTY
@given(st.integers(-10, 20_000))
def test_park_and_connect_durations(value: int) -> None:
    park = {"action": {"name": "park", "maxDuration": value}}
    assert service_accepts(park) is simulator_accepts(park) is (1 <= value <= 600)
    pstn = {"name": "connectPstn", "maxDuration": value}
    try:
        svaml.ConnectPstn.model_validate(pstn)
        service_ok = True
    except ValidationError:
        service_ok = False
    assert service_ok is simulator_accepts({"action": pstn}) is (1 <= value <= 14_400)


@PROPERTY
@given(st.lists(st.tuples(st.text(max_size=300), st.text(max_size=600)), max_size=5))
def test_set_cookie_total_is_1024_bytes_on_both_sides(cookies: list[tuple[str, str]]) -> None:
    instructions = [{"name": "setCookie", "key": k, "value": v} for k, v in cookies]
    body = {"instructions": instructions, "action": {"name": "continue"}}
    size = sum(len(k.encode()) + len(v.encode()) for k, v in cookies)
    assert service_accepts(body) is simulator_accepts(body) is (size <= 1024)


@PROPERTY
@given(st.booleans(), st.booleans(), st.sampled_from(["E1", "E3"]))
def test_an_action_beside_instructions(with_instructions: bool, with_action: bool, ep: str) -> None:
    body: dict[str, Any] = {}
    if with_instructions:
        body["instructions"] = [{"name": "say", "text": "Hi", "locale": "en-US"}]
    if with_action:
        body["action"] = {"name": "continue"}
    expected = with_action or not with_instructions
    leg = "both" if ep == "E3" else None
    assert service_accepts(body, leg) is simulator_accepts(body, ep) is expected


@pytest.mark.parametrize(
    ("action", "e1"),
    [
        ({"name": "hangup"}, True),
        ({"name": "continue"}, True),
        ({"name": "park"}, True),
        ({"name": "connectPstn", "number": "+46700000000"}, True),
        ({"name": "connectSip", "destination": {"endpoint": "a@b"}}, True),
        ({"name": "connectConf", "conferenceId": "room"}, True),
        ({"name": "connectMxp", "destination": {"endpoint": "bob"}}, True),
        ({"name": "runMenu"}, True),
        ({"name": "connectStream", "destination": {"endpoint": "wss://x/y"}}, False),
    ],
)
def test_which_actions_each_endpoint_takes(action: dict[str, Any], e1: bool) -> None:
    body = {"action": action}
    assert service_accepts(body) is simulator_accepts(body) is e1
    e3 = action["name"] in {"hangup", "continue"}
    assert service_accepts(body, "caller") is simulator_accepts(body, "E3") is e3
