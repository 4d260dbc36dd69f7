"""What the callbacks taught about a call, and what that means for a command on it.

Pure: the callback side stores a `CallRoute` per call (ICE: its region; DiCE: its end); the
command flow asks for it before a request and applies `route_command`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from typing import get_args

from service.domain.commands import Command, Region
from service.domain.results import ErrorCode, ErrorInfo

REGIONS: tuple[str, ...] = get_args(Region)


@dataclass(frozen=True, slots=True)
class CallRoute:
    region: str | None = None
    call_resource_url: str | None = None
    called_number: str | None = None
    ended: bool = False
    reason: str | None = None  # DiCE's, for the `call_ended` message

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, raw: bytes | str) -> CallRoute:
        data = json.loads(raw)
        return cls(**{name: data.get(name) for name in cls.__dataclass_fields__})

    def ending(self, reason: str | None) -> CallRoute:
        return replace(self, ended=True, reason=reason)


def route_command(route: CallRoute | None, command: Command) -> Command | ErrorInfo:
    """The command as it should be sent (its call's region filled in when it has none), or,
    for a call that has ended, the error to answer with: no request is made."""
    if route is None:
        return command
    if route.ended:
        reason = f" ({route.reason})" if route.reason else ""
        return ErrorInfo(
            code=ErrorCode.CALL_ENDED,
            message=f"the call has ended{reason}: Sinch sent its disconnect event (DiCE)",
        )
    if command.region is None and route.region in REGIONS:
        return command.model_copy(update={"region": route.region})
    return command


async def no_route(_call_id: str) -> CallRoute | None:
    """The lookup when callbacks are off: nothing is known about any call."""
    return None
