"""The callbacks benchmark's load generator, and the two floors its figures sit on.

The generator is `bench/callbacksload` (Go, stdlib only), built into the run's directory and
driven from here.

Go, not Python: on a 2-core machine the client shares the cores with the service, and a Python
client cost about as much CPU per callback as the service itself (session 2 only reached about
60/s with it). The Go client holds 1,000 signed callbacks/s on a fifth of a core; `alone()`
measures it against its own trivial server, so a report shows the client is not the bottleneck.
`kafka_alone()` is the other floor: the broker's acknowledgement time for the same rate of
events from a producer set like the service's (idempotent, acks=all, no linger), with no
service in between. On a shared machine it moves with the load, and the service cannot answer
faster than it.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from testkit.kafka import create_topics, delete_topics, new_producer
from testkit.processes import ROOT, SIM_KEY, SIM_SECRET

SOURCE = ROOT / "bench" / "callbacksload"


@dataclass
class Answer:
    status: int  # 0: no answer within the client's timeout
    from_due_ms: float  # the answer time from the schedule: what the target is about
    from_send_ms: float
    late_ms: float  # how far behind its due time the request was sent


@dataclass
class LoadRun:
    sent: int
    send_seconds: float  # first due time to the last send
    seconds: float  # to the last answer
    cpu_seconds: float
    answers: list[Answer]

    @property
    def achieved_rate(self) -> float:
        # One interval fewer than requests: 0 ... n-1 over the sending window.
        return round((self.sent - 1) / self.send_seconds, 1) if self.send_seconds else 0.0


def go_binary() -> str:
    found = shutil.which("go") or (
        "/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None
    )
    if found is None:
        raise RuntimeError(
            "the callbacks benchmark's client is Go: install Go 1.22+ (`go` on PATH)"
        )
    return found


async def build(workdir: Path) -> Path:
    exe = workdir / "callbacksload"
    process = await asyncio.create_subprocess_exec(
        go_binary(),
        "build",
        "-o",
        str(exe),
        ".",
        cwd=SOURCE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"go build of {SOURCE} failed:\n{output.decode(errors='replace')}")
    return exe


async def drive(exe: Path, url: str, rate: float, seconds: float, run: str) -> LoadRun:
    """Open-loop at `rate` for `seconds`; returns once every request is answered or timed out."""
    process = await asyncio.create_subprocess_exec(
        str(exe),
        "-url",
        url,
        "-rate",
        str(rate),
        "-seconds",
        str(seconds),
        "-run",
        run,
        "-key",
        SIM_KEY,
        env={**os.environ, "CALLBACKS_LOAD_SECRET": SIM_SECRET},
        stdout=asyncio.subprocess.PIPE,
    )
    output, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"the load generator exited with {process.returncode}")
    report = json.loads(output)
    answers = [
        Answer(r["status"], r["fromDueMs"], r["fromSendMs"], r["lateMs"]) for r in report["results"]
    ]
    return LoadRun(
        report["sent"], report["sendSeconds"], report["seconds"], report["cpuSeconds"], answers
    )


async def alone(exe: Path, rate: float, seconds: float) -> LoadRun:
    """The generator against its own trivial server (answers 200 at once): its own cost."""
    server = await asyncio.create_subprocess_exec(
        str(exe), "-serve", "127.0.0.1:0", stdout=asyncio.subprocess.PIPE
    )
    try:
        assert server.stdout is not None
        port = int((await asyncio.wait_for(server.stdout.readline(), 10)).decode())
        return await drive(exe, f"http://127.0.0.1:{port}/sinch/callbacks", rate, seconds, "alone")
    finally:
        server.terminate()
        await server.wait()


EVENT_BYTES = 700  # about the size of an ICE event


async def kafka_alone(bootstrap: str, rate: float, seconds: float) -> list[float]:
    """Acknowledgement times (ms from each event's due time) of `rate` events/s, open-loop,
    keyed by call like the service's, on a fresh 6-partition topic."""
    topic = f"cbbench-floor-{uuid.uuid4().hex[:8]}"
    await create_topics(bootstrap, [topic], partitions=6)
    producer = new_producer(bootstrap, linger_ms=0)
    await producer.start()
    acked: list[float] = []

    async def one(index: int, due: float) -> None:
        future = await producer.send(topic, b"e" * EVENT_BYTES, key=f"call-{index // 3}".encode())
        await future
        acked.append((time.perf_counter() - due) * 1000)

    try:
        await (await producer.send(topic, b"warm", key=b"warm"))
        tasks = []
        start = time.perf_counter() + 0.1
        for index in range(int(rate * seconds)):
            due = start + index / rate
            if (delay := due - time.perf_counter()) > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(index, due)))
        await asyncio.gather(*tasks)
    finally:
        await producer.stop()
        await delete_topics(bootstrap, [topic])
    return acked
