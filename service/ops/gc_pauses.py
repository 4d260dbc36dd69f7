"""Full garbage collections off the latency path, and timed.

CPython's full (generation 2) collection walks every object the collector tracks, and runs on
the event loop's thread: every command in flight waits for it. After start-up the service holds
about 90,000 such objects (the libraries, the models, the app), and one full collection of them
took 135-290 ms on the 2-core bench machine under load (bench/results/2026-12-01-latency.md).
Those objects live as long as the process, so once the service has started they are moved out
of the collector's sight (`gc.freeze()`, after a `gc.collect()` so that no garbage is frozen
with them): later full collections walk only what was made since. The price: a start-up object
that later becomes cyclic garbage is never freed, a bounded, one-time amount (the start-up's
own garbage is collected before the freeze).

The young generation's threshold is raised from CPython's 700 to `YOUNG_THRESHOLD`. At 700 a
young collection ran every few commands, while the objects of the commands in flight (alive
for one Sinch round trip) were still alive: each collection walked them and promoted them, and
their deaths no longer counted against the next. Time inside the collector, measured with
`gc.callbacks` in a 0 ms drain: 14-17 % of the service's CPU at 700, 4.8 % at 10,000, 0.3 % at
25,000 (bench/results/2026-12-01-cpu.md, 2.7). What it costs: cyclic garbage waits for up to
that many net allocations before it is freed, a few MB; the peak RSS did not move (97-98 MiB).

Every full collection is timed into the `gc` stage (`callctl_command_stage_seconds`), so a
pause that remains shows where a command's time went.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from service.delivery.stages import StageMeter

FULL = 2
YOUNG_THRESHOLD = 25_000


def freeze_startup_objects() -> int:
    """Collect, then freeze what survives, and collect the young generation less often;
    returns how many objects were frozen."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
    return gc.get_freeze_count()


def freeze_and_time_collections(stage: StageMeter) -> tuple[int, Callable[[], None]]:
    """Freeze the start-up objects and time full collections from now on (on the running
    loop); returns the objects frozen and what stops the timing."""
    frozen = freeze_startup_objects()
    timing = asyncio.get_running_loop().create_task(FullCollectionTimer(stage).run(), name="gc")

    def stop() -> None:
        timing.cancel()

    return frozen, stop


class FullCollectionTimer:
    """Times each full collection while installed; `drain` hands the pauses to a stage meter.

    The collector's callback only appends to a deque: it runs inside whatever allocation set
    the collection off, possibly while a metrics lock is held, so it must not take one itself
    (a Prometheus observation from there could deadlock). The pauses reach the histogram from
    the event loop, once a second."""

    def __init__(self, stage: StageMeter) -> None:
        self._stage = stage
        self._started: float | None = None
        self._pauses: deque[float] = deque(maxlen=1_000)

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if info.get("generation") != FULL:
            return
        if phase == "start":
            self._started = time.perf_counter()
        elif self._started is not None:
            self._pauses.append(time.perf_counter() - self._started)
            self._started = None

    def drain(self) -> None:
        while self._pauses:
            self._stage("gc", self._pauses.popleft())

    async def run(self, every_s: float = 1.0) -> None:
        """Installed while this runs (a task of the service's lifetime)."""
        gc.callbacks.append(self)
        try:
            while True:
                await asyncio.sleep(every_s)
                self.drain()
        finally:
            gc.callbacks.remove(self)
            self.drain()
