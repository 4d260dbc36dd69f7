"""Sinch's time per command, as the stand-in measured it, not the delay it was told to add.

The simulator times every request it serves (`durationMs` in its request log: from reading the
request to the answer built, its fixed delay and its own processing included). Its nominal
delay is only a lower bound: on a busy 2-core machine a 50 ms `asyncio.sleep` plus the
signature check and the SVAML rules take 51-55 ms, and that is not the service's time.

Matching a request to its command: the log names the call, not the command. Within one call,
the commands are in offset order (one key, one partition) and the requests in arrival order;
every contender here sends one request per command and the load's commands on one call are far
apart in time (the open loop sends one per call every `calls / rate` seconds), so the n-th
request of a call is the n-th command's. A call whose request count differs from its command
count (a retry, a lost request) is left out, and counted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

Source = tuple[int, int]  # (partition, offset) of a command


@dataclass(slots=True)
class SinchTimes:
    by_command: dict[Source, float] = field(default_factory=dict)
    unmatched_calls: int = 0  # calls whose requests could not be paired with their commands


def match(commands: Iterable[tuple[str, Source]], requests: list[dict[str, Any]]) -> SinchTimes:
    """`commands`: (callId, source) of every measured command; `requests`: the simulator's
    request log entries (seq, receivedAt, callId, durationMs)."""
    by_call: dict[str, list[Source]] = defaultdict(list)
    for call_id, source in commands:
        by_call[call_id].append(source)
    served: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entry in requests:
        called = entry.get("callId")
        if isinstance(called, str) and called in by_call:
            served[called].append(entry)
    times = SinchTimes()
    for call_id, sources in by_call.items():
        entries = sorted(served.get(call_id, ()), key=lambda e: (e["receivedAt"], e["seq"]))
        if len(entries) != len(sources):
            times.unmatched_calls += 1
            continue
        for source, entry in zip(sorted(sources), entries, strict=True):
            times.by_command[source] = float(entry["durationMs"])
    return times
