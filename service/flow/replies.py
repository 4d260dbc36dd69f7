"""A command's `Answer` for delivery: the result bytes, the keys its messages carry and the
canonical line's fields (the handler decides what the result says)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from service.delivery.answers import Answer, DeadLetter
from service.delivery.records import Record
from service.domain.commands import Callout, Command
from service.domain.paths import is_call_id
from service.domain.results import Result


def reply_key(
    record: Record, result: Result, command: Command | None, *, rejected: bool = False
) -> bytes | None:
    """The key of a result: the key its command was ordered by (its callId or conferenceId; a
    callout's record key, whatever it is, none included), so the sender finds it on that
    partition. A rejected record goes by its own key: its callId may be malformed or not its
    key, and its sender reads the partition it produced to; a rejected record without a key
    goes by the callId it named when that is well-formed."""
    if isinstance(command, Callout) or (rejected and record.key is not None):
        return record.key
    expected = command.record_key() if command is not None else None
    if expected is not None:
        return expected.encode()
    if result.call_id and (not rejected or is_call_id(result.call_id)):
        return result.call_id.encode()
    return record.key


def reply(
    record: Record,
    result: Result,
    result_bytes: bytes,
    *,
    key: bytes | None,
    snapshot: bytes | None = None,
    snapshot_key: bytes | None = None,
    conference: bytes | None = None,
    dead_letter: DeadLetter | None = None,
    headers: Mapping[str, str] | None = None,
    published: Callable[[], None] | None = None,
) -> Answer:
    return Answer(
        result=result_bytes,
        key=key,
        outcome=result.outcome.value,
        kind=result.type,
        duplicate=result.duplicate,
        snapshot=snapshot,
        snapshot_key=snapshot_key,
        conference=conference,
        dead_letter=dead_letter,
        headers=headers or {},
        summary={
            "command_id": result.command_id,
            "call_id": result.call_id,
            "conference_id": result.conference_id,
            "error": result.error.code.value if result.error else None,
            "error_message": result.error.message if result.error else None,
            "sinch_reference": result.error.sinch_reference if result.error else None,
            "attempts": result.attempts,
            "http_status": result.http_status,
            "duration_ms": result.duration_ms,
        },
        published=published,
    )
