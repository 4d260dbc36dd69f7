"""Setting a bench up and tearing it down: work directory, simulator, topics; plus the facts
about the machine and the versions that go into a report."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from bench.runner import Bench
from service.settings import Settings
from testkit.processes import ROOT, SimulatorProcess

PACKAGES = ("aiokafka", "faststream", "httpx", "httpcore", "anyio", "pydantic", "aiohttp")


def default_in_flight() -> int:
    default = Settings.model_fields["max_in_flight"].default
    return int(default)


def snapshot(workdir: Path, use_checkout: bool = False) -> Path:
    """Copy service/, simulator/, testkit/ and bench/ as they are now: other people edit the
    checkout while a bench runs, and every run of one bench must measure the same code."""
    if use_checkout:
        return ROOT
    code = workdir / "code"
    for package in ("service", "simulator", "testkit", "bench"):
        shutil.copytree(
            ROOT / package,
            code / package,
            ignore=shutil.ignore_patterns("__pycache__", "results"),
            dirs_exist_ok=True,
        )
    return code


def code_hash(code: Path) -> str:
    """A short digest of the service's source, to tell runs of different code apart."""
    digest = hashlib.sha256()
    for path in sorted((code / "service").rglob("*.py")):
        digest.update(str(path.relative_to(code)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


@contextlib.asynccontextmanager
async def session(
    bootstrap: str, workdir: Path | None = None, *, use_checkout: bool = False
) -> AsyncIterator[Bench]:
    workdir = workdir or Path(tempfile.mkdtemp(prefix="callctl-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    code = snapshot(workdir, use_checkout)
    simulator = SimulatorProcess(
        workdir,
        "--auto-create-calls",
        "--latency-ms",
        "0",
        "--request-log-limit",
        "100000",
        cwd=code,
    )
    await asyncio.to_thread(simulator.start)
    bench = Bench(bootstrap, workdir, simulator, code)
    try:
        yield bench
    finally:
        await bench.drop_topics()
        await simulator.close()


def kafka_version() -> str:
    local = Path(os.environ.get("CALLCTL_LOCAL_DIR", ROOT / ".local"))
    with contextlib.suppress(OSError):
        stamp = (local / "kafka" / "lib" / ".version").read_text().split()
        for token in stamp:  # "kafka=4.1.2 log4j2=... pom=..."
            if token.startswith("kafka="):
                return token.removeprefix("kafka=")
    with contextlib.suppress(OSError):
        for line in (ROOT / "deploy" / "kafka.sh").read_text().splitlines():
            if line.startswith("KAFKA_VERSION="):
                return line.split(":-", 1)[1].rstrip("}")
    return "unknown"


def machine() -> dict[str, str]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "memory": memory,
        "kernel": platform.release(),
        "loadavg at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def revision() -> str:
    """The commit measured, and whether service/ differed from it."""
    try:
        head = (
            subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, check=True
            )
            .stdout.decode()
            .strip()
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "service"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout.decode()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head} (service/ with uncommitted changes)" if dirty.strip() else head


def versions() -> dict[str, str]:
    found = {
        "git commit": revision(),
        "python": sys.version.split()[0],
        "Kafka broker": kafka_version(),
    }
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found
