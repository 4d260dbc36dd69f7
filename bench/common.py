"""Shared pieces: the command load, and per-process CPU and memory from /proc (no psutil needed).
Processes, topics and Kafka helpers come from `testkit`, shared with the tests."""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer

MAX_COMMAND_BYTES = 65_536
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# --- the load ------------------------------------------------------------------------------


def command(index: int, calls: int, run: str) -> tuple[bytes, bytes]:
    """Command `index` of a load spread round-robin over `calls` calls: (key, value).

    Never a hangup: every contender replays the same calls against one simulator, and a call
    that ended would answer 404 to the next contender. Four PATCH shapes, all valid SVAML."""
    call_id = f"{run}-c{index % calls}"
    base: dict[str, Any] = {"commandId": f"{run}-{index}", "callId": call_id}
    kind = index % 4
    if kind == 0:
        body = {**base, "type": "say", "text": f"Hello number {index}", "locale": "en-US"}
    elif kind == 1:
        body = {**base, "type": "playFiles", "ids": [f"#tts[prompt {index}]"], "locale": "en-US"}
    elif kind == 2:
        body = {**base, "type": "sendDtmf", "value": "1234#"}
    else:
        # Not unpark: it needs a parked call and an ICE action (docs/sinch-fidelity.md).
        body = {**base, "type": "stopRecording"}
    return call_id.encode(), json.dumps(body, separators=(",", ":")).encode()


def commands(n: int, calls: int, run: str, start: int = 0) -> list[tuple[bytes, bytes]]:
    return [command(i, calls, run) for i in range(start, start + n)]


# --- /proc -----------------------------------------------------------------------------


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds of a process (its threads included), None once it is gone."""
    if pid is None:
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def peak_rss_mib(pid: int | None) -> float | None:
    """VmHWM: the process's peak resident set, in MiB."""
    if pid is None:
        return None
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def system_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot."""
    parts = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = parts[3] + parts[4]
    total = sum(parts[:8])
    return (total - idle) / CLOCK_TICKS, total / CLOCK_TICKS


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted sequence."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


# --- the hand-written contenders (floor, limit) --------------------------------------------


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT: how the runner ends a contender."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


def commands_consumer(args: argparse.Namespace) -> AIOKafkaConsumer:
    """The contenders' consumer: their own group, manual commits, from the start."""
    return AIOKafkaConsumer(
        args.topic,
        bootstrap_servers=args.bootstrap,
        group_id=args.group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=args.max_records,
    )
