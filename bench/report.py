"""The report: Markdown tables, target verdicts, and the two plots (matplotlib, Agg)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.inflight import Sweep
from bench.inflight import table as sweep_table
from bench.runner import RunResult, Scenario
from bench.targets import Target, ratios, targets

# Targets (delivery-and-resilience.md §7.2, as the lead set them for this box).
SPEEDUP_SHARE = 0.7  # at 50 ms: service >= 0.7 x min(K, in-flight) x naive
K1_SHARE = 0.9  # at 50 ms with K = 1: service >= 0.9 x naive
LIMIT_SHARE = 0.6  # at 0 ms: service >= 60 % of limit
P99_ADDED_MS = 25.0  # p99 added latency at 70 % load
CPU_PER_1000 = 0.5  # CPU seconds per 1,000 commands


@dataclass(frozen=True, slots=True)
class Verdict:
    target: str
    where: str
    measured: str
    required: str
    passed: bool


@dataclass
class Report:
    title: str
    date: str
    command_line: str
    duration_s: float
    machine: dict[str, str]
    versions: dict[str, str]
    settings: dict[str, Any]
    default_in_flight: int
    best_in_flight: int | None
    simulator: dict[str, Any] | None = None
    sweep: Sweep | None = None
    closed: list[RunResult] = field(default_factory=list)
    open: list[RunResult] = field(default_factory=list)
    profile: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    suite: str = "matrix"  # "targets": issue 15's (bench/targets.py)
    run_id: str = ""
    ratios: dict[str, float] = field(default_factory=dict)  # what the guard compares


# --- JSON (the raw numbers, and a way to render the report again) -----------------------


def _run_from(data: dict[str, Any]) -> RunResult:
    return RunResult(**{**data, "scenario": Scenario(**data["scenario"])})


def to_json(report: Report) -> dict[str, Any]:
    if report.suite == "targets":
        report.ratios = ratios(report.closed, report.open)
    data = {k: v for k, v in vars(report).items() if k not in ("sweep", "closed", "open")}
    data["closed"] = [r.to_json() for r in report.closed]
    data["open"] = [r.to_json() for r in report.open]
    data["sweep"] = (
        {
            "scenario": dataclasses.asdict(report.sweep.scenario),
            "points": [[v, r.to_json()] for v, r in report.sweep.points],
        }
        if report.sweep
        else None
    )
    return data


def from_json(data: dict[str, Any]) -> Report:
    sweep = data.get("sweep")
    fields = {k: v for k, v in data.items() if k not in ("sweep", "closed", "open")}
    return Report(
        **fields,
        sweep=Sweep(
            Scenario(**sweep["scenario"]), [(int(v), _run_from(r)) for v, r in sweep["points"]]
        )
        if sweep
        else None,
        closed=[_run_from(r) for r in data.get("closed", [])],
        open=[_run_from(r) for r in data.get("open", [])],
    )


def plotting() -> bool:
    """Load matplotlib (Agg) now, while it is installed: a `uv sync` elsewhere may remove it
    before the plots are drawn."""
    try:
        import matplotlib  # type: ignore[import-not-found,unused-ignore]

        matplotlib.use("Agg")
        import matplotlib.backends.backend_agg  # type: ignore[import-not-found,unused-ignore]
        import matplotlib.pyplot  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return False
    return True


def _n(value: float | None, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:,.{digits}f}"


def _find(runs: Iterable[RunResult], scenario: Scenario, name: str) -> RunResult | None:
    for run in runs:
        if run.scenario == scenario and run.contender == name:
            return run
    return None


def service_names(report: Report) -> list[str]:
    names = ["service"]
    if report.best_in_flight is not None and report.best_in_flight != report.default_in_flight:
        names.append(f"service@{report.best_in_flight}")
    return names


def in_flight_of(report: Report, name: str) -> int:
    return report.default_in_flight if name == "service" else int(name.split("@")[1])


def verdicts(report: Report) -> list[Verdict]:
    if report.suite == "targets":
        return [
            Verdict(t.name, t.where, _figure(t.measured, t.unit), _need(t), t.passed)
            for t in targets(report.closed, report.open)
        ]
    out: list[Verdict] = []
    scenarios = sorted({r.scenario for r in report.closed}, key=_order)
    for scenario in scenarios:
        naive = _find(report.closed, scenario, "naive")
        limit = _find(report.closed, scenario, "limit")
        for name in service_names(report):
            service = _find(report.closed, scenario, name)
            if service is None or not service.throughput:
                continue
            if scenario.latency_ms == 50 and naive is not None and naive.throughput:
                factor = min(scenario.calls, in_flight_of(report, name))
                share = K1_SHARE if scenario.calls == 1 else SPEEDUP_SHARE
                need = share * factor * naive.throughput
                required = (
                    f">= {share} x naive = {need:,.0f}"
                    if scenario.calls == 1
                    else f">= {share} x {factor} x naive = {need:,.0f}"
                )
                out.append(
                    Verdict(
                        "speedup vs naive (50 ms)",
                        f"{name}, {scenario.label}",
                        f"{service.throughput:,.0f} cmd/s = "
                        f"{service.throughput / naive.throughput:,.1f} x naive",
                        required,
                        service.throughput >= need,
                    )
                )
            if scenario.latency_ms == 0 and limit is not None and limit.throughput:
                ratio = service.throughput / limit.throughput
                out.append(
                    Verdict(
                        "share of limit (0 ms)",
                        f"{name}, {scenario.label}",
                        f"{ratio:.1%} ({service.throughput:,.0f} / {limit.throughput:,.0f})",
                        f">= {LIMIT_SHARE:.0%}",
                        ratio >= LIMIT_SHARE,
                    )
                )
            if service.cpu_per_1000 is not None and scenario.calls >= 100:
                out.append(
                    Verdict(
                        "CPU per 1,000 commands",
                        f"{name}, {scenario.label}",
                        f"{service.cpu_per_1000:.2f} s",
                        f"<= {CPU_PER_1000} s",
                        service.cpu_per_1000 <= CPU_PER_1000,
                    )
                )
    names = service_names(report)  # not the diagnostic variants
    for run in sorted(report.open, key=lambda r: (_order(r.scenario), r.contender)):
        if run.contender not in names or run.p99 is None or run.rate is None:
            continue
        if run.load_share is None or abs(run.load_share - 0.7) > 1e-6:
            continue
        out.append(
            Verdict(
                "p99 added latency at 70 % load",
                f"{run.contender}, {run.scenario.label}, {run.rate:,.0f} cmd/s",
                f"{run.p99:,.0f} ms (p50 {run.p50:,.0f})",
                f"<= {P99_ADDED_MS:.0f} ms",
                run.p99 <= P99_ADDED_MS,
            )
        )
    return out


def _figure(value: float | None, unit: str) -> str:
    if value is None:
        return "not measured"
    if unit == "x":
        return f"{value:.2f} x"
    return f"{value:,.2f} {unit}" if value < 10 else f"{value:,.0f} {unit}"


def _need(target: Target) -> str:
    sign = ">=" if target.higher_is_better else "<="
    return f"{sign} {_figure(target.required, target.unit)}"


STAGE_ORDER = (
    "fetch", "place_wait", "decode", "claim", "plan", "sign", "request", "snapshot", "store",
    "publish", "publish_ack", "loop_lag", "gc",
)  # fmt: skip


def stage_table(report: Report) -> list[str]:
    """Where the service's time goes, per run: mean (p50 / p99 from the histogram's buckets)."""
    runs = [r for r in [*report.closed, *report.open] if r.stages]
    if not runs:
        return []
    stages = [s for s in STAGE_ORDER if any(s in r.stages for r in runs)]
    lines = [
        "| run | " + " | ".join(stages) + " | duration_ms p50 less Sinch |",
        "|---|" + "---:|" * (len(stages) + 1),
    ]
    for run in runs:
        cells = []
        for stage in stages:
            got = run.stages.get(stage)
            cells.append(
                "-"
                if got is None
                else f"{got['mean_ms']:.2f} ({got['p50_ms']:.2f} / {got['p99_ms']:.1f})"
            )
        where = f"{run.contender}, {run.scenario.label}"
        if run.mode == "open":
            where += f", open {_share(run.load_share)}"
        lines.append(f"| {where} | " + " | ".join(cells) + f" | {_n(run.handler_p50, 1)} |")
    return lines


def _order(s: Scenario) -> tuple[int, int, int]:
    return (s.latency_ms, s.partitions, s.calls)


def closed_table(report: Report) -> list[str]:
    lines = [
        "| scenario | contender | results / expected | cmd/s | CPU s / 1,000 | peak RSS MiB "
        "| in-handler p50 / p99 ms | broker CPU s / 1,000 | simulator cores | other load (cores) "
        "| not succeeded | note |",
        "|---|---|---:|---:|---:|---:|---|---:|---:|---:|---|---|",
    ]
    for run in sorted(report.closed, key=lambda r: (_order(r.scenario), _rank(r.contender))):
        capped = "" if run.drained else " (capped)"
        errors = ", ".join(f"{k} x{v}" for k, v in sorted(run.errors.items())) or "0"
        lines.append(
            f"| {run.scenario.label} | {run.contender} | {run.results:,} / {run.expected:,}"
            f"{capped} | {_n(run.throughput)} | {_n(run.cpu_per_1000, 2)} | "
            f"{_n(run.peak_rss_mib)} | {_n(run.handler_p50, 1)} / {_n(run.handler_p99, 1)} | "
            f"{_n(run.broker_cpu_per_1000, 2)} | {_n(run.sim_cores, 2)} | "
            f"{_n(run.foreign_cores, 2)} | {errors} | {run.note} |"
        )
    return lines


def _rank(name: str) -> tuple[int, str]:
    order = {"limit": 0, "naive": 1, "service": 2}
    return order.get(name.split("@")[0].split("-")[0], 3) + (name != name.split("@")[0]), name


def ratio_table(report: Report) -> list[str]:
    names = service_names(report)
    header = "| scenario | limit | naive | " + " | ".join(names)
    header += " | " + " | ".join(f"{n} / naive | {n} / limit" for n in names) + " |"
    lines = [header, "|---" + "|---:" * (2 + 3 * len(names)) + "|"]
    scenarios = sorted({r.scenario for r in report.closed}, key=_order)
    for scenario in scenarios:
        limit = _find(report.closed, scenario, "limit")
        naive = _find(report.closed, scenario, "naive")
        cells = [scenario.label, _n(limit.throughput if limit else None)]
        cells.append(_n(naive.throughput if naive else None))
        ratios: list[str] = []
        for name in names:
            service = _find(report.closed, scenario, name)
            value = service.throughput if service else None
            cells.append(_n(value))
            ratios.append(_ratio(value, naive.throughput if naive else None, "x"))
            ratios.append(_ratio(value, limit.throughput if limit else None, "%"))
        lines.append("| " + " | ".join(cells + ratios) + " |")
    return lines


def _ratio(a: float | None, b: float | None, kind: str) -> str:
    if not a or not b:
        return "n/a"
    return f"{a / b:.1%}" if kind == "%" else f"{a / b:,.1f} x"


OPEN_INTRO = [
    "Added latency = result timestamp - command timestamp (both the broker's, LogAppendTime) "
    "- Sinch's time, two ways: p50 / p95 / p99 less the simulator's nominal delay, and less "
    "the time the simulator measured for each command's own request (its request log: read "
    "to answer built, its delay, signature check and rules included; `bench/sinch_time.py`). "
    "The verdict uses the second: a stand-in slowed by the busy machine is not the service's "
    "time. floor@64 at the same rates is the no-service reference: what a bare consume, one "
    "request and publish add on this machine.",
]


def open_table(report: Report) -> list[str]:
    lines = [
        "| scenario | contender | load | offered cmd/s | achieved cmd/s | results | "
        "p50 ms | p95 ms | p99 ms | max ms | Sinch measured p50 / p99 ms | "
        "less measured p50 / p95 / p99 ms | in-handler p50 / p99 ms | CPU s / 1,000 | "
        "producer lag p99 ms | other load (cores) |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|---|---:|---:|---:|",
    ]
    for run in sorted(report.open, key=lambda r: (_order(r.scenario), _rank(r.contender))):
        missing = "" if run.drained else f" ({run.expected - run.results:,} missing)"
        lines.append(
            f"| {run.scenario.label} | {run.contender} | {_share(run.load_share)} | "
            f"{_n(run.rate)} | "
            f"{_n(run.achieved)} | {run.results:,}{missing} | {_n(run.p50)} | {_n(run.p95)} | "
            f"{_n(run.p99)} | {_n(run.max_ms)} | {_n(run.sinch_p50, 1)} / {_n(run.sinch_p99, 1)} | "
            f"{_n(run.less_sinch_p50)} / {_n(run.less_sinch_p95)} / {_n(run.less_sinch_p99)}"
            f"{_unmatched(run)} | {_n(run.handler_p50)} / {_n(run.handler_p99)} | "
            f"{_n(run.cpu_per_1000, 2)} | {_n(run.loadgen_lag_p99_ms, 1)} | "
            f"{_n(run.foreign_cores, 2)} |"
        )
    return lines


def budget_table(report: Report) -> list[str]:
    """Where the machine's cores went in the Redis runs: two processes can only use what the
    broker, the simulator, Redis and the harness leave of this machine's cores."""
    runs = [r for r in report.closed if r.contender.startswith("service-redis") and r.busy_cores]
    if not runs:
        return []
    cores = report.machine.get("nproc", "?")
    lines = [
        f"### Two processes / one: where the {cores} cores went",
        "",
        "Cores used while results arrived. 'left for the service' is the machine's cores less "
        "every other process; 'ratio the CPU allows' is what the pair would reach on those "
        "cores at the single process's CPU per command.",
        "",
        "| run | cmd/s | service processes | simulator | broker | Redis | harness | other | "
        "machine busy | left for the service | ratio the CPU allows |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    one = next((r for r in runs if r.contender == "service-redis"), None)
    for run in runs:
        others = run.cores_besides_service
        left = float(cores) - others if cores.isdigit() else None
        allows = None
        if left and one and one.cpu_per_1000 and one.throughput and run is not one:
            allows = left / (one.cpu_per_1000 / 1000) / one.throughput
        processes = " + ".join(f"{c:.2f}" for c in run.replica_cores) or "-"
        lines.append(
            f"| {run.contender} | {_n(run.throughput)} | {processes} | {_n(run.sim_cores, 2)} | "
            f"{_n(run.broker_cores, 2)} | {_n(run.redis_cores, 2)} | "
            f"{_n(run.harness_cores, 2)} | {_n(run.foreign_cores, 2)} | "
            f"{_n(run.busy_cores, 2)} | {_n(left, 2)} | "
            f"{'-' if allows is None else f'{allows:.2f} x'} |"
        )
    return [*lines, ""]


def _unmatched(run: RunResult) -> str:
    return f" ({run.sinch_unmatched:,} unpaired)" if run.sinch_unmatched else ""


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def verdict_table(found: list[Verdict]) -> list[str]:
    lines = ["| target | where | measured | required | verdict |", "|---|---|---|---|---|"]
    for v in found:
        verdict = "**pass**" if v.passed else "**MISS**"
        lines.append(f"| {v.target} | {v.where} | {v.measured} | {v.required} | {verdict} |")
    return lines


def verdict_counts(found: list[Verdict]) -> list[str]:
    """One line per target: how many scenarios pass, and which miss."""
    lines = ["| target | pass | miss | missed in |", "|---|---:|---:|---|"]
    for target in dict.fromkeys(v.target for v in found):
        mine = [v for v in found if v.target == target]
        missed = [v.where for v in mine if not v.passed]
        lines.append(
            f"| {target} | {len(mine) - len(missed)} | {len(missed)} | {'; '.join(missed) or '-'} |"
        )
    return lines


def summary(report: Report) -> list[str]:
    """What stdout shows: the sweep, throughput ratios, latency, and the verdicts."""
    out: list[str] = []
    if report.sweep is not None:
        out += [
            f"In-flight sweep ({report.sweep.scenario.label}):",
            "",
            *sweep_table(report.sweep),
            "",
            f"best {report.sweep.best}, smallest within 5 % of the best {report.sweep.knee}",
            "",
        ]
    if report.suite == "targets":
        out += ["Closed loop, every run:", "", *closed_table(report), ""]
        out += ["Where the service's time goes, ms:", "", *stage_table(report), ""]
    else:
        out += [
            "Closed loop, commands/s (same backlog per scenario):",
            "",
            *ratio_table(report),
            "",
        ]
    if report.open:
        out += ["Open loop, added latency:", "", *open_table(report), ""]
    found = verdicts(report)
    return [*out, "Targets:", "", *verdict_counts(found), "", *verdict_table(found)]


def markdown(report: Report, plots: dict[str, str], findings: str = "") -> str:
    if report.suite == "targets":
        report.ratios = ratios(report.closed, report.open)
    s = report.settings
    out = [
        f"# {report.title}",
        "",
        f"Run on {report.date}, {report.duration_s / 60:.1f} minutes. Command line:",
        "",
        f"    {report.command_line}",
        "",
        "## Machine and versions",
        "",
        "| | |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in report.machine.items()),
        *(f"| {k} | {v} |" for k, v in report.versions.items()),
        "",
        "## Settings of this run",
        "",
        "| | |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in s.items()),
        f"| service CALLCTL_MAX_IN_FLIGHT default | {report.default_in_flight} |",
        f"| best in the sweep | {report.best_in_flight} |",
        "",
    ]
    if findings:
        out += ["## Findings", "", findings.strip(), ""]
    found = verdicts(report)
    out += ["## Verdicts", "", *verdict_counts(found), "", *verdict_table(found), ""]
    if report.notes:
        out += ["## Notes", "", *(f"- {n}" for n in report.notes), ""]
    if report.simulator:
        sim = report.simulator
        out += [
            f"## Simulator capacity (0 ms, signed auth, {sim.get('processes')} separate load "
            "processes, aiohttp client, 64 concurrent each)",
            "",
            "| requests/s served | simulator cores used | simulator CPU s / 1,000 requests | "
            "one simulator core would serve | errors |",
            "|---:|---:|---:|---:|---:|",
            f"| {_n(sim.get('requestsPerSecond'))} | {_n(sim.get('simCores'), 2)} | "
            f"{_n(sim.get('simCpuPer1000'), 3)} | {_n(sim.get('perCore'))} req/s | "
            f"{sim.get('errors', 'n/a')} |",
            "",
        ]
    if report.sweep is not None:
        sweep = report.sweep
        out += [
            f"## In-flight sweep ({sweep.scenario.label}, service)",
            "",
            *sweep_table(sweep),
            "",
            f"Best: {sweep.best}; smallest setting within 5 % of the best: {sweep.knee}.",
            "",
        ]
        if "inflight" in plots:
            out += [f"![throughput vs in-flight]({plots['inflight']})", ""]
    if report.suite == "targets" and report.ratios:
        out += [
            "## Ratios (what `python -m bench` compares with the last committed report)",
            "",
            "| ratio | value |",
            "|---|---:|",
            *(f"| {k} | {v:.3f} |" for k, v in report.ratios.items()),
            "",
        ]
    if report.suite == "targets":
        out += [
            "## Where the service's time goes (callctl_command_stage_seconds)",
            "",
            "Per stage: mean ms (p50 / p99 read from the histogram's buckets), over the whole "
            "run (open loop: after the warm-up). `fetch` is a record's age when the engine "
            "gets it (its timestamp to the hand-over; in a closed loop, the backlog's age); "
            "`request` includes `sign`; `publish_ack` is awaited after the in-flight "
            "place is given back; `loop_lag` is how late a 100 ms timer fires (sampled).",
            "",
            *stage_table(report),
            "",
            *budget_table(report),
        ]
        if "throughput" in plots:
            out += [f"![throughput of every contender]({plots['throughput']})", ""]
    if report.closed and report.suite != "targets":
        out += [
            "## Closed loop: throughput ratios",
            "",
            *ratio_table(report),
            "",
        ]
    if report.closed:
        out += [
            "## Closed loop: every run",
            "",
            *closed_table(report),
            "",
        ]
    if report.open:
        out += ["## Open loop: added latency", "", *OPEN_INTRO, "", *open_table(report), ""]
        if "latency" in plots:
            out += [f"![latency percentiles]({plots['latency']})", ""]
    if report.profile:
        out += ["## Profile of the service", "", *report.profile, ""]
    return "\n".join(out) + "\n"


# --- plots ---------------------------------------------------------------------------------
# Read at a glance and not misread: absolute rates on linear axes, lines for what varies along
# an axis, every figure stamped with its report's run and date.


def _pyplot() -> Any:
    import matplotlib  # type: ignore[import-not-found,unused-ignore]

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # type: ignore[import-not-found,unused-ignore]

    return plt


def _stamp(fig: Any, stamp: str) -> None:
    fig.text(0.99, 0.005, stamp, ha="right", va="bottom", fontsize=7, color="dimgrey")


def plot_inflight(sweep: Sweep, path: Path, stamp: str = "") -> None:
    plt = _pyplot()
    values = [v for v, _ in sweep.points]
    measured = [r.throughput for _, r in sweep.points]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(values, measured, "o-", label="service, measured")
    for v, m in zip(values, measured, strict=True):
        ax.annotate(f"{m:,.0f}", (v, m), textcoords="offset points", xytext=(0, 6), fontsize=7)
    if sweep.scenario.latency_ms:
        bound = [v / (sweep.scenario.latency_ms / 1000) for v in values]
        ax.plot(values, bound, "--", color="grey", label="in-flight / latency (Little's law)")
        ax.set_ylim(0, max([*measured, 0.0]) * 1.6 or 1)
    ax.set_xscale("log", base=2)  # the settings double; the rates stay on a linear axis
    ax.set_xticks(values, [str(v) for v in values])
    ax.set_xlabel("CALLCTL_MAX_IN_FLIGHT")
    ax.set_ylabel("commands/s (linear)")
    ax.set_title(f"Throughput vs in-flight ({sweep.scenario.label})")
    ax.grid(True, alpha=0.3)
    ax.legend()
    _stamp(fig, stamp)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_latency(runs: list[RunResult], path: Path, stamp: str = "") -> None:
    """Added latency percentiles against the offered rate, one line per contender and
    percentile, per simulator delay."""
    plt = _pyplot()
    latencies = sorted({r.scenario.latency_ms for r in runs})
    fig, axes = plt.subplots(len(latencies), 1, figsize=(7.5, 4.6 * len(latencies)), squeeze=False)
    styles = {"p50": "-", "p95": "--", "p99": ":"}
    for ax, latency in zip(axes[:, 0], latencies, strict=True):
        mine = [r for r in runs if r.scenario.latency_ms == latency and r.p50 is not None]
        for index, name in enumerate(sorted({r.contender for r in mine}, key=_rank)):
            points = sorted((r for r in mine if r.contender == name), key=lambda r: r.rate or 0)
            rates = [r.rate or 0.0 for r in points]
            for attr, style in styles.items():
                ax.plot(
                    rates,
                    [float(getattr(r, attr) or 0.0) for r in points],
                    style,
                    marker="o",
                    color=f"C{index}",
                    label=f"{name} {attr}",
                )
        ax.axhline(P99_ADDED_MS, color="red", linewidth=1, label=f"{P99_ADDED_MS:.0f} ms")
        ax.set_xlabel("offered commands/s")
        ax.set_ylabel("added latency, ms (simulator delay subtracted)")
        ax.set_ylim(bottom=0)
        ax.set_xlim(left=0)
        ax.set_title(f"Open loop, simulator {latency} ms")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    _stamp(fig, stamp)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


COLOURS = {"limit": "grey", "floor": "C0", "naive": "C1", "service": "C2"}


def _colour(contender: str) -> str:
    return COLOURS.get(contender.split("@")[0].split("-")[0], "C3")


def _label(contender: str) -> str:
    return "limit (no-HTTP passthrough)" if contender == "limit" else contender


def plot_throughput(runs: list[RunResult], path: Path, stamp: str = "") -> None:
    """Every closed-loop run's rate, on one linear axis, value written on each bar."""
    plt = _pyplot()
    chosen = sorted(runs, key=lambda r: (_order(r.scenario), _rank(r.contender)))
    labels = [f"{_label(r.contender)}, {r.scenario.label}" for r in chosen]
    rates = [r.throughput for r in chosen]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(chosen) + 1.5))
    bars = ax.barh(range(len(chosen)), rates, color=[_colour(r.contender) for r in chosen])
    for bar, rate in zip(bars, rates, strict=True):
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {rate:,.0f}", va="center",
                fontsize=7)  # fmt: skip
    ax.set_yticks(range(len(chosen)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("commands/s (closed loop, linear)")
    ax.set_xlim(0, max([*rates, 1.0]) * 1.15)
    ax.grid(True, axis="x", alpha=0.3)
    ax.set_title("Throughput of every closed-loop run")
    _stamp(fig, stamp)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
