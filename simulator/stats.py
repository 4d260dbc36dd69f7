"""Request counters by route and outcome, for /_admin/stats."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any


class Stats:
    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str]] = Counter()
        self._faults: Counter[str] = Counter()
        self._since = time.time()
        self._since_mono = time.monotonic()

    def count(self, route: str, status: int | None, fault: str | None) -> None:
        # A dropped request has no status; it is counted as "dropped".
        self._counts[route, str(status) if status is not None else "dropped"] += 1
        if fault is not None:
            self._faults[fault] += 1

    def reset(self) -> None:
        self._counts.clear()
        self._faults.clear()
        self._since = time.time()
        self._since_mono = time.monotonic()

    def to_json(self) -> dict[str, Any]:
        by_route: dict[str, dict[str, int]] = {}
        for (route, status), n in sorted(self._counts.items()):
            by_route.setdefault(route, {})[status] = n
        elapsed = time.monotonic() - self._since_mono
        total = sum(self._counts.values())
        return {
            "total": total,
            "byRoute": by_route,
            "faults": dict(self._faults),
            "sinceSeconds": round(elapsed, 3),
            "requestsPerSecond": round(total / elapsed, 1) if elapsed > 0 else 0.0,
        }
