"""The regression guard: a report's ratios against the last committed report's.

Only ratios are compared (each measured side by side within one run, so they travel between
runs on a shared box far better than absolute rates), and only downwards: a ratio more than
`TOLERANCE` below its committed value is a regression, and `python -m bench` exits 1. Never a
timed unit test: this runs with the benchmark, on purpose, on a machine chosen for it.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

TOLERANCE = 0.2


@dataclass(frozen=True, slots=True)
class Comparison:
    name: str
    now: float
    before: float | None

    @property
    def change(self) -> float | None:
        return None if not self.before else self.now / self.before - 1

    def regressed(self, tolerance: float = TOLERANCE) -> bool:
        return self.before is not None and self.now < (1 - tolerance) * self.before


def compare(now: dict[str, float], before: dict[str, float]) -> list[Comparison]:
    """Every ratio of `now`, beside its committed value (None when the baseline lacks it)."""
    return [Comparison(name, value, before.get(name)) for name, value in now.items()]


def regressions(found: list[Comparison], tolerance: float = TOLERANCE) -> list[Comparison]:
    return [c for c in found if c.regressed(tolerance)]


def lines(found: list[Comparison], baseline: str, tolerance: float = TOLERANCE) -> list[str]:
    out = [
        f"Ratios against {baseline} (a regression: more than {tolerance:.0%} below it):",
        "",
        "| ratio | now | committed | change | |",
        "|---|---:|---:|---:|---|",
    ]
    for c in found:
        before = "n/a" if c.before is None else f"{c.before:.3f}"
        change = "n/a" if c.change is None else f"{c.change:+.0%}"
        verdict = "**REGRESSION**" if c.regressed(tolerance) else "ok"
        out.append(f"| {c.name} | {c.now:.3f} | {before} | {change} | {verdict} |")
    return out


def committed_reports(results: Path) -> list[Path]:
    """Report JSON files under `results` known to git, newest commit first."""
    try:
        listed = subprocess.run(
            ["git", "log", "--name-only", "--format=", "--diff-filter=AM", "--", "."],
            cwd=results,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return []
    root = subprocess.run(
        ["git", "rev-parse", "--show-toplevel"], cwd=results, capture_output=True, text=True
    ).stdout.strip()
    seen: dict[Path, None] = {}
    for line in listed.splitlines():
        if line.endswith(".json"):
            seen.setdefault(Path(root) / line, None)
    return list(seen)


BACKLOG = "commands per backlog (N)"


def baseline(
    results: Path, exclude: Path | None = None, backlog: int | None = None
) -> tuple[Path, dict[str, float]] | None:
    """The report to compare with: `exclude` (the one just written) as last committed, when
    it was; else the newest other committed report that has ratios.

    With `backlog`, the newest of the same backlog size comes first: a full run's ratios
    against a quick run's (3,000 commands, 5 s caps) compare different shapes, and flagged
    changes within the machine's own swing as regressions. Any report with ratios is the
    fallback."""
    if exclude is not None:
        # The same report as last committed, before this run wrote over it: the same kind of
        # run. (Unchanged since that commit, it is this run itself: look further.)
        ratios = _ratios(_committed_version(exclude))
        if ratios and ratios != read_ratios(exclude):
            return exclude, ratios
    fallback: tuple[Path, dict[str, float]] | None = None
    for path in committed_reports(results):
        if exclude is not None and path.resolve() == exclude.resolve():
            continue
        data = _read(path)
        ratios = _ratios(data)
        if not ratios:
            continue
        if backlog is None or _backlog(data) == backlog:
            return path, ratios
        fallback = fallback or (path, ratios)
    return fallback


def _committed_version(path: Path) -> dict[str, object]:
    """`path` as the last commit has it (before this run overwrote it), or empty."""
    try:
        shown = subprocess.run(
            ["git", "show", f"HEAD:./{path.name}"],
            cwd=path.parent,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        data = json.loads(shown)
    except (OSError, ValueError, subprocess.CalledProcessError):
        return {}
    return data if isinstance(data, dict) else {}


def read_ratios(path: Path) -> dict[str, float]:
    return _ratios(_read(path))


def _read(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _ratios(data: dict[str, object]) -> dict[str, float]:
    found = data.get("ratios")
    if not isinstance(found, dict):
        return {}
    return {str(k): float(v) for k, v in found.items() if isinstance(v, int | float)}


def _backlog(data: dict[str, object]) -> object:
    settings = data.get("settings")
    return settings.get(BACKLOG) if isinstance(settings, dict) else None
