"""The Calling API paths a command may reach, built and checked in one place.

Pure (no HTTP code): the request planner builds paths with it, and the Sinch client checks
what it is asked to send against the same rules.
"""

from __future__ import annotations

import re
from urllib.parse import quote

CALL_ID_PATTERN = r"^[A-Za-z0-9_-]{1,128}$"
CALL_LEGS: tuple[str, ...] = ("caller", "callee", "both")
CALLING_PREFIX = "/calling/v1/"
_CALL_ID = re.compile(CALL_ID_PATTERN)


def is_call_id(value: str) -> bool:
    """A well-formed call id (what a producer's key must be)."""
    return _CALL_ID.match(value) is not None


def call_path(call_id: str, leg: str | None = None) -> str:
    """``/calling/v1/calls/id/{callId}`` (``/leg/{leg}`` for the call-leg endpoint).

    The id is checked against ``^[A-Za-z0-9_-]{1,128}$`` and percent-encoded anyway, so the
    path can neither gain segments nor differ from the path that is signed.
    """
    if not _CALL_ID.fullmatch(call_id):
        raise ValueError(
            f"call_id must match ^[A-Za-z0-9_-]{{1,128}}$, got {call_id[:40]!r} "
            f"({len(call_id)} characters)"
        )
    path = f"{CALLING_PREFIX}calls/id/{quote(call_id, safe='')}"
    if leg is None:
        return path
    if leg not in CALL_LEGS:
        raise ValueError(f"call leg must be one of {CALL_LEGS}, got {leg[:20]!r}")
    return f"{path}/leg/{leg}"


# A project choice (Sinch only caps conference ids at 64 characters): URL-unreserved characters,
# never starting with a dot, so the id is one path segment and a plain record key.
CONFERENCE_ID_PATTERN = r"^[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,63}$"
_CONFERENCE_ID = re.compile(CONFERENCE_ID_PATTERN)
CALLOUTS_PATH = f"{CALLING_PREFIX}callouts"


def conference_path(conference_id: str, call_id: str | None = None) -> str:
    """``/calling/v1/conferences/id/{conferenceId}`` (``/{callId}`` for one participant)."""
    if not _CONFERENCE_ID.fullmatch(conference_id):
        raise ValueError(
            f"conference_id must match {CONFERENCE_ID_PATTERN}, got {conference_id[:40]!r}"
        )
    path = f"{CALLING_PREFIX}conferences/id/{quote(conference_id, safe='')}"
    if call_id is None:
        return path
    if not _CALL_ID.fullmatch(call_id):
        raise ValueError(f"call_id must match {CALL_ID_PATTERN}, got {call_id[:40]!r}")
    return f"{path}/{quote(call_id, safe='')}"
