"""Profiling the service with py-spy (sampling, from outside the process) and summarising the
collapsed stacks: where the CPU goes, by function and by library."""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

PROJECT = ("service", "simulator", "bench")
# The event loop and the entry point sit under every sample: left out of the inclusive tables.
FRAMEWORK = frozenset({"asyncio", "runpy"})
_ENTRY = frozenset({"<module> (service/__main__.py)", "main (service/__main__.py)"})
_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


def py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def keep_copy(workdir: Path) -> str | None:
    """A private copy of the py-spy binary (a `uv sync` elsewhere may remove it mid-run)."""
    found = py_spy()
    if found is None:
        return None
    copy = workdir / "py-spy"
    shutil.copy2(found, copy)
    return str(copy)


async def record(exe: str, pid: int, out: Path, duration_s: float, rate: int = 100) -> int | None:
    """Sample `pid` for `duration_s`; collapsed stacks ("raw") in `out`. py-spy's exit code."""
    proc = await asyncio.create_subprocess_exec(
        exe,
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(max(1, int(duration_s))),
        "--rate",
        str(rate),
        "--format",
        "raw",
        "--nonblocking",
        "-o",
        str(out),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    return await proc.wait()


def package_of(path: str) -> str:
    """py-spy names files relative to their sys.path entry: `aiohttp/client.py` → aiohttp,
    `service/delivery/lanes.py` → service.pipeline, `<frozen runpy>` → runpy."""
    if path.startswith("<frozen "):
        return path.removeprefix("<frozen ").rstrip(">")
    parts = Path(path).parts
    if "site-packages" in parts:
        parts = parts[parts.index("site-packages") + 1 :]
    if not parts:
        return path or "?"
    if parts[0] in PROJECT and len(parts) > 2:
        return f"{parts[0]}.{parts[1]}"
    return parts[0].removesuffix(".py")


@dataclass
class Profile:
    samples: int = 0
    self_by_function: Counter[str] = field(default_factory=Counter)
    inclusive_by_function: Counter[str] = field(default_factory=Counter)
    self_by_package: Counter[str] = field(default_factory=Counter)
    inclusive_by_package: Counter[str] = field(default_factory=Counter)


def _split(frame: str) -> tuple[str, str]:
    match = _FRAME.match(frame)
    if match is None:
        return frame, ""
    return match["func"], match["file"]


def summarise(raw: Path) -> Profile:
    profile = Profile()
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        profile.samples += count
        frames = [_split(f) for f in stack.split(";")]
        named = [f"{func} ({file})" for func, file in frames]
        packages = [package_of(file) for _, file in frames]
        profile.self_by_function[named[-1]] += count
        profile.self_by_package[packages[-1]] += count
        kept = {n for n, p in zip(named, packages, strict=True) if p not in FRAMEWORK}
        for name in kept - _ENTRY:
            profile.inclusive_by_function[name] += count
        for package in set(packages) - FRAMEWORK:
            profile.inclusive_by_package[package] += count
    return profile


def lines(profile: Profile, top: int = 20) -> list[str]:
    if not profile.samples:
        return ["(no samples)"]
    total = profile.samples

    def block(title: str, counter: Counter[str]) -> list[str]:
        out = [f"| {title} | share of CPU samples |", "|---|---:|"]
        out += [f"| `{name}` | {n / total:.1%} |" for name, n in counter.most_common(top)]
        return out

    return [
        f"{total} samples of the service's CPU time (py-spy, idle excluded).",
        "",
        *block("self time, by library (leaf frame)", profile.self_by_package),
        "",
        *block(
            "inclusive time, by library (any frame; asyncio and the entry point left out)",
            profile.inclusive_by_package,
        ),
        "",
        *block("self time, by function", profile.self_by_function),
        "",
        *block("inclusive time, by function (idem)", profile.inclusive_by_function),
    ]
