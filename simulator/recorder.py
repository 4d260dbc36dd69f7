"""The request log: every Calling API request, including rejected and fault-injected ones."""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from simulator.calls import iso_utc


@dataclass(slots=True)
class RequestRecord:
    # Raw values are kept and only formatted on read, to keep the hot path cheap.
    received_at: float
    method: str
    path: str
    endpoint: str | None
    call_id: str | None
    leg: str | None
    content_type: str | None
    body: bytes
    # W3C trace context the client sent, so integrators can check their propagation.
    traceparent: str | None = None
    auth_scheme: str | None = None
    auth_ok: bool | None = None
    status: int | None = None
    error_code: int | None = None
    error_message: str | None = None
    fault: str | None = None
    fault_after: bool = False
    delay_ms: float = 0.0
    duration_ms: float = 0.0
    seq: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "receivedAt": iso_utc(self.received_at),
            "method": self.method,
            "path": self.path,
            "endpoint": self.endpoint,
            "callId": self.call_id,
            "leg": self.leg,
            "contentType": self.content_type,
            "traceparent": self.traceparent,
            "authScheme": self.auth_scheme,
            "authOk": self.auth_ok,
            "body": self.body.decode("utf-8", errors="replace"),
            "status": self.status,
            "errorCode": self.error_code,
            "errorMessage": self.error_message,
            "fault": self.fault,
            "faultAfterProcessing": self.fault_after,
            "injectedDelayMs": round(self.delay_ms, 3),
            "durationMs": round(self.duration_ms, 3),
        }


class RequestLog:
    """Bounded, in completion order; seq is assigned on append so it increases with position."""

    def __init__(self, limit: int) -> None:
        self._entries: deque[RequestRecord] = deque(maxlen=limit)
        self._seq = 0

    @property
    def last_seq(self) -> int:
        return self._seq

    def __len__(self) -> int:
        return len(self._entries)

    def append(self, record: RequestRecord) -> int:
        self._seq += 1
        record.seq = self._seq
        self._entries.append(record)
        return self._seq

    def clear(self) -> None:
        # seq keeps growing, so a poller's "since" stays meaningful across clears.
        self._entries.clear()

    def query(
        self, *, call_id: str | None = None, since: int = 0, limit: int = 1000
    ) -> list[RequestRecord]:
        entries = self._entries
        if not entries:
            return []
        # seqs are contiguous within the deque, so "since" maps straight to an index.
        start = max(0, since + 1 - entries[0].seq)
        selected: Iterator[RequestRecord] = itertools.islice(entries, start, None)
        if call_id is not None:
            selected = (r for r in selected if r.call_id == call_id)
        return list(itertools.islice(selected, limit))
