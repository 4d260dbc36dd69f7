"""SVAML validation for the two PATCH endpoints, written from Sinch's definition.

Every rule is in docs/sinch-fidelity.md with its source (Sinch's documentation and the models
and fixtures generated from its OpenAPI document). A field is required only where Sinch
requires it; a limit exists only where Sinch documents one. Written independently of the
service (which it never imports), so each side can catch the other's mistakes.

Every failure names the JSON path and the rule, e.g.
``instructions[0].text: at most 600 characters (got 601)``. Field-level problems are 40001
(parameter validation); a body that is not an SVAML object, or asks for something the
endpoint does not do (unknown or disallowed instruction/action), is 40003 (invalid request).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from simulator.errors import INVALID_REQUEST, PARAMETER_VALIDATION, ApiError

Endpoint = Literal["E1", "E3"]
JsonObject = dict[str, Any]

MAX_DURATION = 14_400  # connectPstn, connectSip, connectStream
PARK_MAX_DURATION = 600
TTS_MAX_CHARS = 600  # Sinch's default text-to-speech limit (say and #tts[...])
COOKIE_MAX_BYTES = 1024  # setCookie keys and values together, per body


def _invalid(path: str, rule: str) -> ApiError:
    return ApiError(400, PARAMETER_VALIDATION, f"{path}: {rule}")


def _bad_request(path: str, rule: str) -> ApiError:
    return ApiError(400, INVALID_REQUEST, f"{path}: {rule}")


def json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


class Rule(Protocol):
    def check(self, value: object, path: str) -> None: ...


@dataclass(frozen=True)
class Str:
    min_len: int = 0
    max_len: int | None = None
    pattern: re.Pattern[str] | None = None
    # What the pattern means, for the message (defaults to the regex itself).
    pattern_rule: str | None = None
    choices: tuple[str, ...] | None = None
    case_insensitive: bool = False
    then: Callable[[str, str], None] | None = None

    def check(self, value: object, path: str) -> None:
        if not isinstance(value, str):
            raise _invalid(path, f"must be a string (got {json_type(value)})")
        n = len(value)
        if n < self.min_len:
            rule = "must not be empty" if n == 0 else f"at least {self.min_len} characters"
            raise _invalid(path, f"{rule} (got {n})" if n else rule)
        if self.max_len is not None and n > self.max_len:
            raise _invalid(path, f"at most {self.max_len} characters (got {n})")
        if self.choices is not None:
            probe = value.lower() if self.case_insensitive else value
            if probe not in self.choices:
                raise _invalid(path, f"must be one of {', '.join(self.choices)} (got {value!r})")
        if self.pattern is not None and not self.pattern.fullmatch(value):
            raise _invalid(path, self.pattern_rule or f"must match {self.pattern.pattern}")
        if self.then is not None:
            self.then(value, path)


@dataclass(frozen=True)
class Int:
    minimum: int | None = None
    maximum: int | None = None

    def check(self, value: object, path: str) -> None:
        # JSON true/false are Python ints; Sinch's integers are never booleans.
        if isinstance(value, bool) or not isinstance(value, int):
            got = repr(value) if isinstance(value, float) else json_type(value)
            raise _invalid(path, f"must be an integer (got {got})")
        if self.minimum is not None and value < self.minimum:
            raise _invalid(path, f"at least {self.minimum} (got {value})")
        if self.maximum is not None and value > self.maximum:
            raise _invalid(path, f"at most {self.maximum} (got {value})")


@dataclass(frozen=True)
class Bool:
    def check(self, value: object, path: str) -> None:
        if not isinstance(value, bool):
            raise _invalid(path, f"must be a boolean (got {json_type(value)})")


@dataclass(frozen=True)
class Arr:
    item: Rule
    min_items: int = 0
    max_items: int | None = None

    def check(self, value: object, path: str) -> None:
        if not isinstance(value, list):
            raise _invalid(path, f"must be an array (got {json_type(value)})")
        n = len(value)
        if n < self.min_items:
            raise _invalid(path, f"at least {self.min_items} item(s) (got {n})")
        if self.max_items is not None and n > self.max_items:
            raise _invalid(path, f"at most {self.max_items} items (got {n})")
        for i, item in enumerate(value):
            sub = f"{path}[{i}]"
            if item is None:
                raise _invalid(sub, "must not be null")
            self.item.check(item, sub)


@dataclass(frozen=True)
class Obj:
    required: Mapping[str, Rule] = field(default_factory=dict)
    optional: Mapping[str, Rule] = field(default_factory=dict)
    # Rules spanning several fields, run once every field is valid on its own.
    checks: tuple[Callable[[JsonObject, str], None], ...] = ()
    # Keys handled by the caller (the "name" discriminator).
    reserved: frozenset[str] = frozenset()

    def check(self, value: object, path: str) -> None:
        if not isinstance(value, dict):
            raise _invalid(path, f"must be an object (got {json_type(value)})")
        for key, item in value.items():
            sub = f"{path}.{key}" if path else key
            if key in self.reserved:
                continue
            rule = self.required.get(key) or self.optional.get(key)
            if rule is None:
                raise _invalid(sub, _unknown_field(key, self))
            if item is None:
                # Sinch's SDKs leave absent fields out; a null is a serialization bug.
                raise _invalid(sub, "must not be null (leave the field out instead)")
            rule.check(item, sub)
        for key in self.required:
            if key not in value:
                raise _invalid(f"{path}.{key}" if path else key, "required")
        for extra_check in self.checks:
            extra_check(value, path)


_SNAKE = re.compile(r"_([a-z])")


def _unknown_field(key: str, obj: Obj) -> str:
    camel = _SNAKE.sub(lambda m: m.group(1).upper(), key)
    known = sorted([*obj.required, *obj.optional])
    if camel != key and camel in known:
        return f"unknown field (fields are camelCase: {camel})"
    return f"unknown field (known: {', '.join(known)})" if known else "unknown field (none allowed)"


# --- media and prompt references --------------------------------------------------------

_URL = re.compile(r"https?://\S+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _inside(value: str, tag: str) -> str | None:
    prefix = f"#{tag}["
    if value.startswith(prefix) and value.endswith("]"):
        return value[len(prefix) : -1]
    return None


def is_tts(value: str) -> bool:
    return _inside(value, "tts") is not None or _inside(value, "ssml") is not None


def prompt_problem(value: str) -> str | None:
    """Why one prompt is not one Sinch plays, or None: #tts[text], #ssml[...], #href[url],
    an http(s) URL or the name of a pre-recorded prompt ("welcome", "[Welcome]")."""
    if not value:
        return "an empty prompt"
    if (text := _inside(value, "tts")) is not None:
        if not text:
            return "#tts[] without text"
        if len(text) > TTS_MAX_CHARS:
            return f"#tts[...] text over {TTS_MAX_CHARS} characters (got {len(text)})"
        return None
    if (text := _inside(value, "ssml")) is not None:
        return None if text else "#ssml[] without SSML"
    if (url := _inside(value, "href")) is not None:
        return None if _URL.fullmatch(url) else "#href[...] without an http(s) URL"
    if value.startswith("#"):
        return f"unknown prompt form {value[:20]!r} (#tts[...], #ssml[...] or #href[url])"
    if _CONTROL.search(value):
        return "a control character in a prompt"
    return None


def split_prompts(value: str) -> list[str]:
    """Split a ';'-separated prompt list, ignoring ';' inside #tts[...] brackets."""
    parts: list[str] = []
    depth = 0
    start = 0
    for i, ch in enumerate(value):
        if ch == "[":
            depth += 1
        elif ch == "]" and depth:
            depth -= 1
        elif ch == ";" and depth == 0:
            parts.append(value[start:i])
            start = i + 1
    parts.append(value[start:])
    return parts


def _prompt_list(value: str, path: str) -> None:
    for part in split_prompts(value):
        problem = prompt_problem(part.strip(" "))
        if problem is not None:
            raise _invalid(path, f"each ';'-separated prompt must be one Sinch plays: {problem}")


def _has_tts(value: str) -> bool:
    return any(is_tts(part.strip(" ")) for part in split_prompts(value))


# --- field vocabularies --------------------------------------------------------------------

LOCALE = Str(min_len=1)
DTMF = Str(pattern=re.compile(r"[0-9#w]+"), pattern_rule="must be digits, # and w")
MAX_DURATION_RULE = Int(1, MAX_DURATION)
PROMPT = Str(min_len=1, then=_prompt_list)
NON_EMPTY = Str(min_len=1)
ANY_STR = Str()
MOH = Str(choices=("ring", "music1", "music2", "music3"))
CALL_HEADERS = Arr(Obj(optional={"key": ANY_STR, "value": ANY_STR}))
# Sinch's OpenAPI: destination.endpoint is required, its type is not.
DESTINATION = Obj(required={"endpoint": NON_EMPTY}, optional={"type": NON_EMPTY})


def _playfiles_locale(value: JsonObject, path: str) -> None:
    if "locale" not in value and any(_has_tts(i) for i in value["ids"]):
        raise _invalid(f"{path}.locale", "required when ids contain #tts[...] or #ssml[...]")


def _menu_rules(value: JsonObject, path: str) -> None:
    if value.get("enableVoice") is True and "locale" not in value:
        raise _invalid(f"{path}.locale", "required when enableVoice is true")


def _one_header_spelling(value: JsonObject, path: str) -> None:
    if "callHeaders" in value and "callheaders" in value:
        raise _invalid(f"{path}.callheaders", "give callHeaders or callheaders, not both")


class _Dtmf:
    """A menu option's key(s): a string in Sinch's OpenAPI, a number in its examples."""

    _TEXT = Str(pattern=re.compile(r"[0-9#*w]+"), pattern_rule="must be digits, #, * and w")

    def check(self, value: object, path: str) -> None:
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return
        self._TEXT.check(value, path)


_MENU_ACTION = re.compile(r"menu\s*\(\s*[^()\s][^()]*\)|return(\s*\([^()]*\))?")

MENU = Obj(
    required={"id": NON_EMPTY},
    optional={
        "mainPrompt": PROMPT,
        "repeatPrompt": PROMPT,
        "repeats": Int(0),
        "maxDigits": Int(1),
        "timeoutMills": Int(0),
        "maxTimeoutMills": Int(0),
        "options": Arr(
            Obj(
                required={
                    "dtmf": _Dtmf(),
                    "action": Str(
                        pattern=_MENU_ACTION,
                        pattern_rule="must be menu(<id>) or return(<value>)",
                    ),
                }
            )
        ),
    },
)


def _named(
    required: Mapping[str, Rule] | None = None,
    optional: Mapping[str, Rule] | None = None,
    checks: tuple[Callable[[JsonObject, str], None], ...] = (),
) -> Obj:
    """An instruction or action: an object whose "name" is checked by the caller."""
    return Obj(required or {}, optional or {}, checks, frozenset({"name"}))


INSTRUCTIONS: dict[str, Obj] = {
    "playFiles": _named(
        required={"ids": Arr(PROMPT, 1)},
        optional={"locale": LOCALE},
        checks=(_playfiles_locale,),
    ),
    "say": _named(optional={"text": Str(min_len=1, max_len=TTS_MAX_CHARS), "locale": LOCALE}),
    "sendDtmf": _named(optional={"value": DTMF}),
    "setCookie": _named(optional={"key": ANY_STR, "value": ANY_STR}),
    "answer": _named(),
    "startRecording": _named(
        optional={
            "options": Obj(
                optional={
                    "destinationUrl": NON_EMPTY,
                    "credentials": NON_EMPTY,
                    "format": NON_EMPTY,
                    "notificationEvents": Bool(),
                    "transcriptionOptions": Obj(optional={"enabled": Bool(), "locale": LOCALE}),
                },
            )
        }
    ),
    "stopRecording": _named(),
}

ACTIONS: dict[str, Obj] = {
    "hangup": _named(),
    "continue": _named(),
    "park": _named(
        optional={
            "locale": LOCALE,
            "introPrompt": PROMPT,
            "holdPrompt": PROMPT,
            "maxDuration": Int(1, PARK_MAX_DURATION),
        }
    ),
    "connectPstn": _named(
        optional={
            "number": Str(
                pattern=re.compile(r"\+[0-9]{1,15}"),
                pattern_rule="must be an E.164 number with its +, e.g. +46700000000",
            ),
            "locale": LOCALE,
            "maxDuration": MAX_DURATION_RULE,
            "dialTimeout": Int(1),
            "cli": NON_EMPTY,
            "suppressCallbacks": Bool(),
            "dtmf": DTMF,
            "indications": NON_EMPTY,
            "amd": Obj(optional={"enabled": Bool(), "async": Bool()}),
        }
    ),
    "connectMxp": _named(
        optional={
            "destination": DESTINATION,
            "callHeaders": CALL_HEADERS,
            "callheaders": CALL_HEADERS,
        },
        checks=(_one_header_spelling,),
    ),
    "connectConf": _named(
        required={"conferenceId": Str(min_len=1, max_len=64)},
        optional={
            "conferenceDtmfOptions": Obj(
                optional={
                    "mode": Str(choices=("ignore", "forward", "detect"), case_insensitive=True),
                    "maxDigits": Int(0),
                    "timeoutMills": Int(0),
                },
            ),
            "moh": MOH,
        },
    ),
    "connectSip": _named(
        required={"destination": DESTINATION},
        optional={
            "maxDuration": MAX_DURATION_RULE,
            "cli": NON_EMPTY,
            "transport": Str(choices=("udp", "tcp", "tls"), case_insensitive=True),
            "suppressCallbacks": Bool(),
            "callHeaders": CALL_HEADERS,
            "moh": MOH,
        },
    ),
    "connectStream": _named(
        required={"destination": DESTINATION},
        optional={
            "streamingOptions": Obj(optional={"version": Int(1), "sampleRate": Int(1)}),
            "maxDuration": MAX_DURATION_RULE,
            "callHeaders": CALL_HEADERS,
        },
    ),
    "runMenu": _named(
        optional={
            "barge": Bool(),
            "locale": LOCALE,
            "mainMenu": NON_EMPTY,
            "enableVoice": Bool(),
            "menus": Arr(MENU, 1),
        },
        checks=(_menu_rules,),
    ),
}

# The PATCH action schema of Sinch's OpenAPI (hangup, continue, park) plus the actions that
# unpark a parked call: the answer one would have given its incoming-call event (ICE).
UNPARK_ACTIONS = frozenset({"connectPstn", "connectSip", "connectMxp", "connectConf", "runMenu"})
ALLOWED_INSTRUCTIONS: dict[Endpoint, frozenset[str]] = {
    "E1": frozenset(INSTRUCTIONS) - {"answer"},
    "E3": frozenset({"say", "playFiles"}),
}
ALLOWED_ACTIONS: dict[Endpoint, frozenset[str]] = {
    "E1": frozenset({"hangup", "continue", "park"}) | UNPARK_ACTIONS,
    "E3": frozenset({"continue", "hangup"}),
}
ENDPOINT_NAMES: dict[Endpoint, str] = {
    "E1": "PATCH /calling/v1/calls/id/{callId}",
    "E3": "PATCH /calling/v1/calls/id/{callId}/leg/{callLeg}",
}


@dataclass(frozen=True, slots=True)
class Svaml:
    instructions: list[JsonObject]
    action: JsonObject | None


def validate_svaml(body: object, endpoint: Endpoint) -> Svaml:
    """Validate a parsed PATCH body for an endpoint; raise ApiError(400) on the first problem."""
    if not isinstance(body, dict):
        raise _bad_request("body", f"must be a JSON object (got {json_type(body)})")
    for key in body:
        if key not in ("instructions", "action"):
            raise _bad_request(key, "unknown field (an SVAML body has only instructions, action)")

    instructions = body.get("instructions", [])
    if instructions is None:
        raise _invalid("instructions", "must not be null (leave the field out instead)")
    if not isinstance(instructions, list):
        raise _bad_request("instructions", f"must be an array (got {json_type(instructions)})")
    allowed = ALLOWED_INSTRUCTIONS[endpoint]
    for i, instruction in enumerate(instructions):
        _check_named(
            instruction, f"instructions[{i}]", "instruction", INSTRUCTIONS, allowed, endpoint
        )

    action = body.get("action")
    if "action" in body:
        if action is None:
            raise _invalid("action", "must not be null (leave the field out instead)")
        if isinstance(action, list):
            raise _bad_request(
                "action", f"only one action per request (got an array of {len(action)})"
            )
        allowed = ALLOWED_ACTIONS[endpoint]
        _check_named(action, "action", "action", ACTIONS, allowed, endpoint)
    elif instructions:
        # "Instructions must always accompany an action and will not work standalone."
        raise _invalid("action", "required when instructions are sent")
    _cookie_size(instructions)
    return Svaml(instructions, action)


def _cookie_size(instructions: list[JsonObject]) -> None:
    total = sum(
        len(str(i.get("key", "")).encode()) + len(str(i.get("value", "")).encode())
        for i in instructions
        if i.get("name") == "setCookie"
    )
    if total > COOKIE_MAX_BYTES:
        raise _invalid(
            "instructions",
            f"setCookie keys and values together at most {COOKIE_MAX_BYTES} bytes (got {total})",
        )


def _check_named(
    value: object,
    path: str,
    kind: str,
    known: Mapping[str, Obj],
    allowed: frozenset[str],
    endpoint: Endpoint,
) -> None:
    if not isinstance(value, dict):
        raise _bad_request(path, f"must be an object (got {json_type(value)})")
    name = value.get("name")
    if "name" not in value:
        raise _invalid(f"{path}.name", "required")
    if not isinstance(name, str):
        raise _invalid(f"{path}.name", f"must be a string (got {json_type(name)})")
    spec = known.get(name)
    if spec is None:
        raise _bad_request(f"{path}.name", f"unknown {kind} {name!r}")
    if name not in allowed:
        raise _bad_request(
            f"{path}.name",
            f"{kind} {name!r} is not allowed on {ENDPOINT_NAMES[endpoint]} "
            f"(allowed: {', '.join(sorted(allowed))})",
        )
    spec.check(value, path)
