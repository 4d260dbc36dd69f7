"""What the service answers to ICE, ACE and PIE: a small routing file per called number.

Sinch waits for the answer before the call goes on, so answers are decided here, at once,
from settings; anything that needs thought happens later over Kafka. The default answers ICE
with `park` (a hold prompt and a `maxDuration`), so a consumer of the events topic decides and
sends an `unpark` command with the action to continue with: the way Sinch documents handling a
call asynchronously. ACE and PIE answer `continue`.

File (`CALLCTL_CALLBACKS__ROUTES_FILE`, YAML or JSON), every answer a SVAML body::

    default:                      # optional: replaces the built-in defaults per event
      ice: {action: {name: park, locale: en-US, holdPrompt: "#tts[Please hold]", maxDuration: 300}}
    numbers:
      "+46700000010":             # the called number (ICE `to.endpoint`)
        ice: {action: {name: connectPstn, number: "+46700000099"}}
        ace: {action: {name: hangup}}

Checked at start: an unknown event, a body without an action (Sinch: "instructions must
always accompany an action"), an action or instruction Sinch does not take on that event
(reference §2.3), or a park longer than 600 s stops the start with a message naming the place.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from service.domain import svaml

AnsweredEvent = Literal["ice", "ace", "pie"]
# Sinch documents park's maxDuration as at most 600 s.
MAX_PARK_S = 600

# Which actions and instructions each callback's answer may hold (Sinch's callback response
# models, reference §2.3; PIE also takes connectPstn in Sinch's SVAML pages).
ALLOWED_ACTIONS: dict[str, frozenset[str]] = {
    "ice": frozenset(
        {
            "hangup",
            "connectPstn",
            "connectMxp",
            "connectConf",
            "connectSip",
            "connectStream",
            "runMenu",
            "park",
        }
    ),
    "ace": frozenset({"hangup", "continue", "connectConf", "runMenu"}),
    "pie": frozenset({"hangup", "continue", "connectConf", "connectSip", "connectPstn", "runMenu"}),
}
ALLOWED_INSTRUCTIONS: dict[str, frozenset[str]] = {
    "ice": frozenset({"playFiles", "say", "sendDtmf", "setCookie", "startRecording", "answer"}),
    "ace": frozenset({"playFiles", "say", "setCookie", "startRecording"}),
    "pie": frozenset(
        {"playFiles", "say", "sendDtmf", "setCookie", "startRecording", "stopRecording"}
    ),
}

DEFAULT_ANSWERS: dict[str, svaml.SvamlBody] = {
    "ice": svaml.SvamlBody(
        action=svaml.Park(
            locale="en-US",
            intro_prompt="#tts[Thank you for calling. Please hold.]",
            hold_prompt="#tts[Please hold.]",
            max_duration=MAX_PARK_S,
        )
    ),
    "ace": svaml.SvamlBody(action=svaml.Continue()),
    "pie": svaml.SvamlBody(action=svaml.Continue()),
}


class PolicyError(ValueError):
    """The routing file is wrong; the message names the file and the place."""


class _Answers(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    ice: svaml.SvamlBody | None = None
    ace: svaml.SvamlBody | None = None
    pie: svaml.SvamlBody | None = None


class _RoutesFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    default: _Answers = _Answers()
    numbers: dict[str, _Answers] = Field(default_factory=dict)


def answer_problems(event: str, body: svaml.SvamlBody) -> list[str]:
    """Each reason `body` cannot answer `event`, naming the field."""
    problems = []
    if body.action is None:
        problems.append("action: required (instructions never work without an action)")
    elif body.action.name not in ALLOWED_ACTIONS[event]:
        allowed = ", ".join(sorted(ALLOWED_ACTIONS[event]))
        problems.append(f"action.name: '{body.action.name}' cannot answer {event} ({allowed})")
    elif isinstance(body.action, svaml.Park) and (body.action.max_duration or 0) > MAX_PARK_S:
        problems.append(f"action.maxDuration: park lasts at most {MAX_PARK_S} s")
    for index, instruction in enumerate(body.instructions or []):
        if instruction.name not in ALLOWED_INSTRUCTIONS[event]:
            problems.append(f"instructions[{index}].name: '{instruction.name}' not on {event}")
    return problems


@dataclass(frozen=True, slots=True)
class Rendered:
    """An answer made ready once: the bytes Sinch gets, and the event's `answer` field."""

    body: bytes
    as_json: dict[str, Any]


class AnswerPolicy:
    """The SVAML answer for an event on a call to a number."""

    def __init__(
        self,
        default: dict[str, svaml.SvamlBody] | None = None,
        numbers: dict[str, dict[str, svaml.SvamlBody]] | None = None,
    ) -> None:
        self._default = {**DEFAULT_ANSWERS, **(default or {})}
        self._numbers = numbers or {}
        # The answers are fixed at start: each is serialised once, not once per callback.
        self._rendered: dict[tuple[str, str], Rendered] = {}

    def answer(self, event: str, called: str | None) -> svaml.SvamlBody | None:
        """None for events that take no SVAML (DiCE, Notify, unknown)."""
        if event not in ALLOWED_ACTIONS:
            return None
        per_number = self._numbers.get(called or "", {})
        return per_number.get(event) or self._default[event]

    def rendered(self, event: str, called: str | None) -> Rendered | None:
        """`answer()`, serialised; the same objects every time (treat them as read-only)."""
        if event not in ALLOWED_ACTIONS:
            return None
        key = (event, called if called in self._numbers else "")
        found = self._rendered.get(key)
        if found is None:
            body = self.answer(event, called)
            assert body is not None
            found = Rendered(
                body.to_bytes(), body.model_dump(mode="json", by_alias=True, exclude_none=True)
            )
            self._rendered[key] = found
        return found

    @classmethod
    def load(cls, path: Path | None) -> AnswerPolicy:
        if path is None:
            return cls()
        try:
            text = path.read_text(encoding="utf-8")
            data: Any = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        except (OSError, ValueError, yaml.YAMLError) as error:
            raise PolicyError(f"{path}: cannot read ({type(error).__name__}: {error})") from None
        return cls.from_data(data or {}, str(path))

    @classmethod
    def from_data(cls, data: Any, source: str = "routes") -> AnswerPolicy:
        try:
            parsed = _RoutesFile.model_validate(data)
        except ValidationError as error:
            first = error.errors(include_input=False, include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"])
            raise PolicyError(f"{source}: {where}: {first['msg']}") from None
        default = _checked(parsed.default, f"{source}: default")
        numbers = {
            number: _checked(answers, f"{source}: numbers.{number}")
            for number, answers in parsed.numbers.items()
        }
        return cls(default, numbers)


def _checked(answers: _Answers, where: str) -> dict[str, svaml.SvamlBody]:
    out = {}
    for event in ("ice", "ace", "pie"):
        body = getattr(answers, event)
        if body is None:
            continue
        problems = answer_problems(event, body)
        if problems:
            raise PolicyError(f"{where}.{event}: {'; '.join(problems)}")
        out[event] = body
    return out
