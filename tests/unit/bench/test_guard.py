"""The regression guard compares ratios with the last committed report's, never times."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from bench import guard
from bench.runner import RunResult, Scenario
from bench.stages import parse, quantile
from bench.targets import FLOOR_64, SERVICE_64, SHAPE_0, SHAPE_50, ratios, targets


def test_a_ratio_more_than_20_percent_below_is_a_regression() -> None:
    found = guard.compare(
        {"a": 0.79, "b": 0.81, "c": 2.0, "new": 1.0}, {"a": 1.0, "b": 1.0, "c": 1.0}
    )
    assert [c.name for c in guard.regressions(found)] == ["a"]
    assert next(c for c in found if c.name == "new").before is None, "no baseline: no verdict"
    assert not next(c for c in found if c.name == "c").regressed(), "better is never a regression"
    table = "\n".join(guard.lines(found, "base.json"))
    assert "**REGRESSION**" in table and "-21%" in table


def test_the_tolerance_is_the_callers() -> None:
    found = guard.compare({"a": 0.89}, {"a": 1.0})
    assert not guard.regressions(found)
    assert guard.regressions(found, tolerance=0.1)


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd, check=True,
        capture_output=True,
    )  # fmt: skip


def test_the_baseline_is_the_newest_committed_report_with_ratios(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q")
    results = tmp_path / "bench" / "results"
    results.mkdir(parents=True)
    (results / "old.json").write_text(json.dumps({"ratios": {"a": 1.0}}))
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-qm", "old")
    (results / "new.json").write_text(json.dumps({"ratios": {"a": 2.0}}))
    (results / "matrix.json").write_text(json.dumps({"closed": []}))  # no ratios: skipped
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-qm", "new")
    (results / "uncommitted.json").write_text(json.dumps({"ratios": {"a": 9.0}}))
    found = guard.baseline(results)
    assert found is not None
    assert found[0].name == "new.json" and found[1] == {"a": 2.0}
    found = guard.baseline(results, exclude=results / "new.json")  # the one just written
    assert found is not None and found[0].name == "old.json"


def test_a_report_is_compared_with_the_newest_of_its_own_backlog_size(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q")
    results = tmp_path / "bench" / "results"
    results.mkdir(parents=True)

    def report(name: str, backlog: int, value: float) -> None:
        settings = {guard.BACKLOG: backlog}
        (results / name).write_text(json.dumps({"settings": settings, "ratios": {"a": value}}))
        _git(tmp_path, "add", ".")
        _git(tmp_path, "commit", "-qm", name)

    report("full.json", 20_000, 1.0)
    report("quick.json", 3_000, 2.0)
    found = guard.baseline(results, backlog=20_000)
    assert found is not None and found[0].name == "full.json", "not the newer quick run"
    found = guard.baseline(results, backlog=3_000)
    assert found is not None and found[0].name == "quick.json"
    found = guard.baseline(results, backlog=8_000)
    assert found is not None and found[0].name == "quick.json", "none alike: the newest"


def test_a_report_written_over_is_compared_with_its_committed_version(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q")
    results = tmp_path / "bench" / "results"
    results.mkdir(parents=True)
    (results / "day.json").write_text(json.dumps({"ratios": {"a": 1.0}}))
    (results / "other.json").write_text(json.dumps({"ratios": {"a": 5.0}}))
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-qm", "both")
    (results / "day.json").write_text(json.dumps({"ratios": {"a": 0.5}}))  # this run's
    found = guard.baseline(results, exclude=results / "day.json")
    assert found is not None and found[1] == {"a": 1.0}, "the day's report as committed"


def test_no_committed_report_means_nothing_to_compare(tmp_path: Path) -> None:
    assert guard.baseline(tmp_path) is None


def _run(contender: str, scenario: Scenario, **values: float) -> RunResult:
    run = RunResult(contender, scenario, "closed", 100)
    for name, value in values.items():
        setattr(run, name, value)
    return run


def test_targets_and_ratios_come_from_runs_side_by_side() -> None:
    closed = [
        _run(SERVICE_64.name, SHAPE_50, throughput=1000.0, handler_p50=3.0),
        _run(FLOOR_64.name, SHAPE_50, throughput=1250.0),
        _run("service", SHAPE_0, throughput=800.0, cpu_per_1000=0.6),
        _run("floor", SHAPE_0, throughput=1000.0, cpu_per_1000=0.3),
        _run("service-redis", SHAPE_0, throughput=700.0),
        _run("service-redis-x2", SHAPE_0, throughput=1400.0),
    ]
    found = {t.name: t for t in targets(closed, [])}
    assert found["throughput at 64 in flight, 50 ms"].passed
    assert found["duration_ms p50 less Sinch's 50 ms"].passed
    assert found["service / floor, throughput at 0 ms"].measured == 0.8
    assert not found["service / floor, CPU per command at 0 ms (floor's / service's)"].passed
    assert not found["CPU per 1,000 commands"].passed
    assert found["two processes / one (Redis store), throughput at 0 ms"].measured == 2.0
    p99 = found["added latency p99 at 50 % of the maximum, less Sinch's measured time"]
    assert p99.measured is None
    assert not p99.passed, "not measured: a miss"
    got = ratios(closed, [])
    assert got["service@64 / floor@64 at 50 ms"] == 0.8
    assert got["service@64 at 50 ms / Little's bound"] == 1000 / 1280
    assert "CPU per 1,000 commands" not in got, "only ratios, never absolute figures"


PAGE = """# TYPE callctl_command_stage_seconds histogram
callctl_command_stage_seconds_bucket{stage="claim",le="0.001"} 50.0
callctl_command_stage_seconds_bucket{stage="claim",le="0.01"} 100.0
callctl_command_stage_seconds_bucket{stage="claim",le="+Inf"} 100.0
callctl_command_stage_seconds_count{stage="claim"} 100.0
callctl_command_stage_seconds_sum{stage="claim"} 0.2
callctl_command_stage_seconds_bucket{stage="plan",le="0.001"} 0.0
callctl_command_stage_seconds_bucket{stage="plan",le="+Inf"} 0.0
callctl_command_stage_seconds_count{stage="plan"} 0.0
callctl_command_stage_seconds_sum{stage="plan"} 0.0
"""


def test_stage_figures_add_up_over_replicas() -> None:
    stages = parse([PAGE, PAGE])
    assert set(stages) == {"claim"}, "a stage nobody went through is left out"
    claim = stages["claim"]
    assert claim["count"] == 200
    assert claim["mean_ms"] == 2.0
    assert claim["p50_ms"] == 1.0
    assert 9.0 < claim["p99_ms"] <= 10.0


def test_stage_figures_leave_out_what_the_warm_up_counted() -> None:
    warm = PAGE.replace(" 100.0", " 50.0").replace("} 0.2", "} 0.05")
    # after the warm-up: 50 more claims, all under 10 ms, 0.15 s in all
    claim = parse([PAGE], before=[warm])["claim"]
    assert claim["count"] == 50
    assert claim["mean_ms"] == pytest.approx(3.0)
    assert 1.0 < claim["p50_ms"] <= 10.0, "the 50 warm-up claims under 1 ms are not counted"


def test_quantile_reads_buckets_like_prometheus() -> None:
    buckets = [(0.1, 10.0), (0.2, 20.0), (float("inf"), 30.0)]
    assert quantile(buckets, 0.5) == pytest.approx(0.15)
    assert quantile(buckets, 0.99) == 0.2, "in +Inf: the last finite bound"
