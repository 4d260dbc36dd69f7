"""In-memory call state: what GET returns and what the PATCH requests did to each call."""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from simulator.svaml_rules import UNPARK_ACTIONS, JsonObject, Svaml

# Call ids as the reference advises accepting them (§1.1); anchored for pydantic's search.
CALL_ID_PATTERN = r"^[A-Za-z0-9_-]{1,128}$"
CALL_ID = re.compile(CALL_ID_PATTERN)
# Per-call history cap, so a benchmark hammering one call cannot grow memory without bound.
APPLIED_LIMIT = 1_000
DEFAULT_FROM: JsonObject = {"type": "number", "endpoint": "+46700000001"}
DEFAULT_TO: JsonObject = {"type": "number", "endpoint": "+46700000002"}
# A plausible per-minute rate; debit grows with duration.
CURRENCY = "EUR"
RATE_PER_MINUTE = 0.0312


def iso_utc(epoch: float, *, zone: bool = True) -> str:
    moment = datetime.fromtimestamp(epoch, UTC)
    if not zone:
        # Sinch's GET sample prints call timestamps without a zone (reference §1.4).
        return moment.strftime("%Y-%m-%dT%H:%M:%S")
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass(slots=True)
class AppliedSvaml:
    endpoint: str
    leg: str | None
    at: float
    instructions: list[JsonObject]
    action: JsonObject | None
    # The request-log seq, filled in when the request is recorded.
    seq: int | None = None

    def to_json(self) -> JsonObject:
        return {
            "seq": self.seq,
            "endpoint": self.endpoint,
            "leg": self.leg,
            "at": iso_utc(self.at),
            "instructions": self.instructions,
            "action": self.action,
        }


@dataclass(slots=True)
class Call:
    call_id: str
    from_: JsonObject
    to: JsonObject
    domain: str
    custom: str
    started_at: float
    started_mono: float
    status: str = "ONGOING"
    result: str = "ANSWERED"
    reason: str = "N/A"
    ended_mono: float | None = None
    parked: bool = False
    recording: bool = False
    cookies: dict[str, str] = field(default_factory=dict)
    # A plain list (an empty deque costs ~600 bytes, and there may be a million calls).
    applied: list[AppliedSvaml] = field(default_factory=list)

    @property
    def final(self) -> bool:
        return self.status == "FINAL"

    def duration(self, now_mono: float) -> int:
        end = self.ended_mono if self.ended_mono is not None else now_mono
        return max(0, int(end - self.started_mono))

    def end(self, reason: str, now_mono: float) -> None:
        if self.final:
            return
        self.status = "FINAL"
        self.reason = reason
        self.ended_mono = now_mono
        self.parked = False
        self.recording = False

    def apply(
        self, svaml: Svaml, endpoint: str, leg: str | None, now: float, now_mono: float
    ) -> AppliedSvaml:
        """Instructions run in order, then the action (reference §2)."""
        for instruction in svaml.instructions:
            name = instruction["name"]
            if name == "setCookie":
                self.cookies[instruction["key"]] = instruction["value"]
            elif name == "startRecording":
                self.recording = True
            elif name == "stopRecording":
                self.recording = False
        if svaml.action is not None:
            name = svaml.action["name"]
            if name == "hangup":
                self.end("MANAGERHANGUP", now_mono)
            elif name == "park":
                self.parked = True
            elif name in UNPARK_ACTIONS:
                # Sinch: unparking is a PATCH with the SVAML one would have answered the ICE
                # with; `continue` is not an ICE action and leaves a parked call parked.
                self.parked = False
        record = AppliedSvaml(endpoint, leg, now, svaml.instructions, svaml.action)
        self.applied.append(record)
        if len(self.applied) > APPLIED_LIMIT:
            del self.applied[0]
        return record

    def sinch_view(self, now_mono: float) -> JsonObject:
        """The E2 (GET) body, field for field as in reference §1.4."""
        duration = self.duration(now_mono)
        return {
            "from": self.from_,
            "to": self.to,
            "domain": self.domain,
            "callId": self.call_id,
            "duration": duration,
            "status": self.status,
            "result": self.result,
            "reason": self.reason,
            "timestamp": iso_utc(self.started_at, zone=False),
            "custom": self.custom,
            "userRate": {"currencyId": CURRENCY, "amount": RATE_PER_MINUTE},
            "debit": {"currencyId": CURRENCY, "amount": round(RATE_PER_MINUTE * duration / 60, 4)},
        }

    def admin_view(self, now_mono: float) -> JsonObject:
        return {
            **self.sinch_view(now_mono),
            "parked": self.parked,
            "recording": self.recording,
            "cookies": dict(self.cookies),
            "applied": [a.to_json() for a in self.applied],
        }


class CallExists(Exception):
    pass


class CallStore:
    def __init__(self, max_calls: int) -> None:
        self._calls: dict[str, Call] = {}
        self._max = max_calls

    def __len__(self) -> int:
        return len(self._calls)

    def get(self, call_id: str) -> Call | None:
        return self._calls.get(call_id)

    def all(self) -> list[Call]:
        return list(self._calls.values())

    def create(
        self,
        call_id: str | None = None,
        *,
        from_: JsonObject | None = None,
        to: JsonObject | None = None,
        domain: str | None = None,
        custom: str | None = None,
    ) -> Call:
        if call_id is None:
            call_id = uuid.uuid4().hex
        elif call_id in self._calls:
            raise CallExists(call_id)
        if len(self._calls) >= self._max:
            # dicts keep insertion order: forget the oldest call.
            del self._calls[next(iter(self._calls))]
        call = Call(
            call_id=call_id,
            # The defaults are shared, never mutated: no per-call copies.
            from_=from_ or DEFAULT_FROM,
            to=to or DEFAULT_TO,
            domain=domain or "pstn",
            custom=custom if custom is not None else "",
            started_at=time.time(),
            started_mono=time.monotonic(),
        )
        self._calls[call_id] = call
        return call

    def delete(self, call_id: str) -> bool:
        return self._calls.pop(call_id, None) is not None

    def clear(self) -> None:
        self._calls.clear()

    def counts(self) -> dict[str, int]:
        final = sum(1 for c in self._calls.values() if c.final)
        return {"total": len(self._calls), "ongoing": len(self._calls) - final, "final": final}

    def summaries(self, now_mono: float, limit: int) -> list[Any]:
        return [c.sinch_view(now_mono) for c in list(self._calls.values())[-limit:]]
