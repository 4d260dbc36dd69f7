"""The answer policy: defaults, per-number answers, and a routing file that is wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.callbacks.policy import MAX_PARK_S, AnswerPolicy, PolicyError


def test_defaults_park_ice_and_continue_ace_pie() -> None:
    policy = AnswerPolicy()
    ice = policy.answer("ice", "+46700000010")
    assert ice is not None and ice.action is not None and ice.action.name == "park"
    assert json.loads(ice.to_bytes())["action"]["maxDuration"] == MAX_PARK_S
    for event in ("ace", "pie"):
        body = policy.answer(event, None)
        assert body is not None and body.to_bytes() == b'{"action":{"name":"continue"}}'
    assert policy.answer("dice", None) is None
    assert policy.answer("notify", None) is None
    assert policy.answer("unknown", None) is None


def test_routes_file_yaml(tmp_path: Path) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text(
        """
numbers:
  "+46700000010":
    ice: {action: {name: connectPstn, number: "+46700000099", cli: "+46700000010"}}
    ace: {action: {name: hangup}}
  "+46700000011":
    ice:
      instructions: [{name: say, text: Closed, locale: en-US}]
      action: {name: hangup}
"""
    )
    policy = AnswerPolicy.load(path)
    ice = policy.answer("ice", "+46700000010")
    assert ice is not None
    assert json.loads(ice.to_bytes()) == {
        "action": {"name": "connectPstn", "number": "+46700000099", "cli": "+46700000010"}
    }
    ace = policy.answer("ace", "+46700000010")
    assert ace is not None and ace.to_bytes() == b'{"action":{"name":"hangup"}}'
    pie = policy.answer("pie", "+46700000010")  # not listed: the default
    assert pie is not None and pie.to_bytes() == b'{"action":{"name":"continue"}}'
    other = policy.answer("ice", "+46799999999")
    assert other is not None and other.action is not None and other.action.name == "park"


def test_routes_file_json(tmp_path: Path) -> None:
    path = tmp_path / "routes.json"
    path.write_text(json.dumps({"default": {"ice": {"action": {"name": "hangup"}}}}))
    body = AnswerPolicy.load(path).answer("ice", None)
    assert body is not None and body.to_bytes() == b'{"action":{"name":"hangup"}}'


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"default": {"ice": {"action": {"name": "continue"}}}}, "cannot answer ice"),
        ({"default": {"ace": {"action": {"name": "park"}}}}, "cannot answer ace"),
        ({"numbers": {"+4670": {"pie": {"action": {"name": "connectMxp"}}}}}, "numbers.+4670.pie"),
        ({"default": {"ice": {"instructions": [{"name": "answer"}]}}}, "action: required"),
        (
            {
                "default": {
                    "ace": {
                        "instructions": [{"name": "sendDtmf", "value": "1"}],
                        "action": {"name": "continue"},
                    }
                }
            },
            "sendDtmf",
        ),
        ({"default": {"ice": {"action": {"name": "park", "maxDuration": 601}}}}, "maxDuration"),
        ({"default": {"dice": {"action": {"name": "hangup"}}}}, "default.dice"),
        ({"numbers": {"+4670": {"ice": {"action": {"name": "teleport"}}}}}, "numbers.+4670.ice"),
    ],
)
def test_bad_routes_refused_naming_the_place(data: object, message: str) -> None:
    with pytest.raises(PolicyError, match=message.replace("+", r"\+")):
        AnswerPolicy.from_data(data, "routes.yaml")


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read"):
        AnswerPolicy.load(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("numbers: [unclosed")
    with pytest.raises(PolicyError, match="cannot read"):
        AnswerPolicy.load(bad)


def test_rendered_answers_are_the_answers_serialised_once() -> None:
    policy = AnswerPolicy.from_data(
        {"numbers": {"+46700000099": {"ice": {"action": {"name": "hangup"}}}}}
    )
    for event, called in [("ice", "+46700000099"), ("ice", "+4670123"), ("ace", None)]:
        body = policy.answer(event, called)
        rendered = policy.rendered(event, called)
        assert body is not None and rendered is not None
        assert rendered.body == body.to_bytes()
        assert rendered.as_json == json.loads(body.to_bytes())
        assert policy.rendered(event, called) is rendered
    special = policy.rendered("ice", "+46700000099")
    assert special is not None and special.as_json == {"action": {"name": "hangup"}}
    assert policy.rendered("ice", "+4670123") is policy.rendered("ice", None)  # the default
    assert policy.rendered("dice", None) is None
    assert policy.rendered("notify", "+46700000099") is None
