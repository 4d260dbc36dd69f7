"""What a flow hands back for one record, and how delivery turns it into messages.

An `Answer` is bytes plus the few words delivery needs to count and log it: delivery publishes
it, counts it and writes the canonical `command` line, without knowing any domain type. The
flow decides what the answer says; delivery decides where it goes and when it counts as done.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from service.delivery.publishing import Outgoing, Role
from service.delivery.records import Record


class OutputTopics(NamedTuple):
    results: str
    snapshots: str
    dead_letter: str
    conferences: str = "call-control.conferences.v1"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """The record goes to the dead-letter topic byte for byte, with this reason."""

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Answer:
    """One record's answer: a result, maybe a snapshot, maybe the record as a dead letter."""

    result: bytes
    key: bytes | None  # of the result and the snapshot (the call's id when known)
    outcome: str
    kind: str | None = None  # what the record asked for, when known (a metrics label)
    duplicate: bool = False
    snapshot: bytes | None = None
    # The snapshot's key when it is not `key` (a callout's snapshot is its new call's).
    snapshot_key: bytes | None = None
    # A conference snapshot, keyed by `key` (the conferenceId).
    conference: bytes | None = None
    dead_letter: DeadLetter | None = None
    headers: Mapping[str, str] = field(default_factory=dict)  # on every message (trace context)
    summary: Mapping[str, object] = field(
        default_factory=dict
    )  # the canonical line's fields about the command
    published: Callable[[], None] | None = field(default=None, compare=False)
    """Called once every message is acknowledged (ends the command's trace span)."""


class AnswerMeter(Protocol):
    """Counts answers (the metrics owner implements it)."""

    def answered(self, answer: Answer, age_s: float | None) -> None:
        """`age_s`: from the record's timestamp to its answer acknowledged, when known."""


def messages(record: Record, answer: Answer, topics: OutputTopics) -> list[Outgoing]:
    headers = dict(answer.headers)
    out = [Outgoing(topics.results, answer.key, answer.result, headers)]
    if answer.snapshot is not None:
        key = answer.snapshot_key or answer.key
        out.append(Outgoing(topics.snapshots, key, answer.snapshot, headers, Role.SNAPSHOT))
    if answer.conference is not None:
        out.append(
            Outgoing(topics.conferences, answer.key, answer.conference, headers, Role.SNAPSHOT)
        )
    if answer.dead_letter is not None:
        letter_headers = {**headers, **dead_letter_headers(record, answer.dead_letter)}
        out.append(
            Outgoing(topics.dead_letter, record.key, record.value, letter_headers, Role.DEAD_LETTER)
        )
    return out


def dead_letter_headers(record: Record, letter: DeadLetter) -> dict[str, str]:
    return {
        "content-type": "application/octet-stream",  # the original bytes, JSON or not
        "error.code": letter.code,
        "error.message": letter.message,
        "source.topic": record.topic,
        "source.partition": str(record.partition),
        "source.offset": str(record.offset),
    }
