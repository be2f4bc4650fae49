"""Runs the benchmarks with the previous design beside the current one and writes docs/performance.md: the
machine, kernel and date; throughput against untraced and the floor (also resolved finer, benchmarks/throughput.py),
BPF time per request per program, where the BPF time of a request goes; the agent's CPU and memory under load,
how much traffic is counted exactly, and how soon the agent shows it; what the TLS uprobes cost per OpenSSL call;
with PNG plots in docs/performance/. The file's second part, each design change measured on its own (from the
JOURNAL heading on), is kept as it is.

    sudo .venv/bin/python -m benchmarks.report --before GIT_REF [--rounds 3] [--seconds 3]

Needs matplotlib (`scripts/setup.sh --bench`). Run it while nothing else loads the machine: on a shared host,
under the kernel tests' lock (`flock /tmp/intuition-kernel.lock ...`).
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import subprocess
import sys
import textwrap

from benchmarks import agent_cost, capacity, freshness, overhead, profile, side_by_side, throughput, tls

OUTPUT = os.path.join(side_by_side.ROOT, "docs", "performance.md")
PLOTS = os.path.join(side_by_side.ROOT, "docs", "performance")
# The heading of docs/performance.md's second part: each design change measured on its own, side by side with the
# tree before it, by hand. A report rewrites the part above it and keeps it.
JOURNAL = "# Measured change by change"


def journal(report: str) -> str:
    """The part of a report from the JOURNAL heading on, or "" where it has none."""
    lines = report.splitlines(keepends=True)
    for n, line in enumerate(lines):
        if line.rstrip("\n") == JOURNAL:
            return "".join(lines[n:])
    return ""


def machine() -> str:
    with open("/proc/cpuinfo") as f:
        model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), platform.machine())
    with open("/proc/meminfo") as f:
        mem_gib = int(f.readline().split()[1]) / 1024 / 1024
    return f"{os.cpu_count()} × {model}, {mem_gib:.0f} GiB, kernel {os.uname().release}"


def commit(ref: str) -> str:
    return subprocess.run(["git", "-C", side_by_side.ROOT, "rev-parse", "--short", ref], check=True,
                          capture_output=True, text=True).stdout.strip()


def plot(name: str, title: str, draw) -> str:
    """A PNG in docs/performance/ drawn by draw(axes); returns its link for the markdown."""
    import matplotlib   # here, not at the top: journal() and the sections need no plotting library
    matplotlib.use("Agg")   # files only: no display
    from matplotlib import pyplot
    figure, axes = pyplot.subplots(figsize=(9, 4))
    draw(axes)
    axes.set_title(title)
    figure.tight_layout()
    os.makedirs(PLOTS, exist_ok=True)
    figure.savefig(os.path.join(PLOTS, f"{name}.png"), dpi=90)
    pyplot.close(figure)
    return f"![{title}](performance/{name}.png)"


def bars(axes, labels: list[str], series: dict[str, list[float]], ylabel: str) -> None:
    width = 0.8 / len(series)
    for n, (legend, values) in enumerate(series.items()):
        axes.bar([i + n * width for i in range(len(labels))], values, width, label=legend)
    axes.set_xticks([i + width * (len(series) - 1) / 2 for i in range(len(labels))],
                    [textwrap.fill(label, 18) for label in labels], fontsize=7)
    axes.set_ylabel(ylabel)
    if len(series) > 1:
        axes.legend(fontsize=7)


def overhead_section(summary: overhead.Summary, rounds: int, seconds: int) -> list[str]:
    arms = list(summary.rate)
    lines = [
        "## Throughput and BPF time", "",
        f"nginx (one worker) under `wrk -t1 -c{overhead.WRK_CONNECTIONS}` on loopback; {rounds} rounds of "
        f"{seconds} s, nginx's worker and wrk pinned to different CPUs, each round running every traced arm in turn "
        "between untraced runs. Ratios are medians of per-round ratios to the mean of the untraced runs just before "
        "and after (untraced: to the untraced run before; lowest and highest in brackets). BPF time is the kernel's own accounting "
        "(`BPF_ENABLE_STATS`) in a second wrk run of each arm, per request, both ends (wrk's and nginx's).", "",
        "| arm | requests/s | of untraced | BPF ns per request | program runs per request |",
        "|---|---|---|---|---|",
    ]
    for arm in arms:
        low, high = summary.spread[arm]
        lines.append(f"| {overhead.ARM_TITLES[arm]} | {summary.rate[arm]:.0f} | {summary.ratio[arm]:.3f} "
                     f"({low:.2f} to {high:.2f}) | {summary.bpf_ns[arm]:.0f} | {summary.bpf_runs[arm]:.2f} |")
    lines += ["", plot("bpf_ns", "BPF ns per request, both ends", lambda axes: bars(
        axes, [overhead.ARM_TITLES[arm] for arm in arms[1:]], {"ns": [summary.bpf_ns[arm] for arm in arms[1:]]},
        "ns per request")),
        "", "### BPF time per program", "",
        "| arm | program | ns per request | runs per request | ns per run |", "|---|---|---|---|---|"]
    for arm, programs in summary.programs.items():
        for name, (ns, runs) in sorted(programs.items(), key=lambda item: -item[1][0]):
            if runs >= 0.01:
                lines.append(f"| {overhead.ARM_TITLES[arm]} | `{name}` | {ns:.0f} | {runs:.2f} | {ns / runs:.0f} |")
    return lines


def throughput_section(summary: overhead.Summary, rounds: int) -> list[str]:
    lines = ["", "## Throughput, resolved finer", "",
             "`benchmarks/throughput.py`: the agent's own programs loaded once by its loader, the floor's empty ones "
             "beside them, their sock length hooks attached and detached between "
             f"{throughput.SLICE_SECONDS}-second slices of one wrk run, {rounds} rounds, the arms' order rotating; "
             "each arm's ratio to the mean of the untraced slices just before and after (medians, quartiles and the "
             "lowest and highest), nginx's CPU per request, which sets the rate, and what the arm adds to it "
             "(medians).", "",
             "| arm | of untraced | quartiles | lowest to highest | nginx's CPU µs per request | added |",
             "|---|---|---|---|---|---|"]
    for arm, title in throughput.ARM_TITLES.items():
        (first, third), (low, high) = summary.quartiles[arm], summary.spread[arm]
        lines.append(f"| {title} | {summary.ratio[arm]:.3f} | {first:.3f} to {third:.3f} | {low:.2f} to {high:.2f} "
                     f"| {summary.server_cpu_us[arm]:.2f} | {summary.server_added_us[arm]:.2f} |")
    return lines


def profile_section(cuts: dict[str, list[float]]) -> list[str]:
    lines = ["", "## Where the BPF time of a request goes", "",
             "`benchmarks/profile.py`: the current probes cut short at successive points, nginx under `wrk -t1 -c1` "
             "(one connection: no batching, so more per request than above). Each row adds the part it names.", "",
             "| probes up to | BPF ns per request (median) | rounds |", "|---|---|---|"]
    for name, values in cuts.items():
        lines.append(f"| {name} | {statistics.median(values):.0f} | {', '.join(f'{v:.0f}' for v in values)} |")
    return lines


def agent_section(costs: dict[str, dict[str, agent_cost.Cost]], seconds: float) -> list[str]:
    trees = list(costs)
    levels = list(agent_cost.LEVELS)
    lines = ["", "## The agent's own cost", "",
             f"`benchmarks/agent_cost.py`: one agent at a time (L7 on), {seconds:g} s per level; the rate is wrk's "
             "real one (paced by a Lua delay, `benchmarks/load.py`); CPU is the agent's user and system time over "
             "the wall time; RSS is read at the end of each level.", "",
             "| agent | level | requests/s | CPU, % of one core | RSS (MB) |", "|---|---|---|---|---|"]
    for tree in trees:
        for level in levels:
            cost = costs[tree][level]
            lines.append(f"| {tree} | {level} | {cost.rate:.0f} | {cost.cpu_share * 100:.1f} | {cost.rss_mb:.0f} |")
    lines += ["", plot("agent_cpu", "The agent's CPU, % of one core", lambda axes: bars(
        axes, levels, {tree: [costs[tree][level].cpu_share * 100 for level in levels] for tree in trees}, "%")),
        "", plot("agent_rss", "The agent's resident memory", lambda axes: bars(
            axes, levels, {tree: [costs[tree][level].rss_mb for level in levels] for tree in trees}, "MB"))]
    return lines


def capacity_section(steps: dict[str, capacity.Step], seconds: float) -> list[str]:
    lines = ["", "## Counted exactly as load grows", "",
             f"`benchmarks/capacity.py`: the probes in the benchmark's process, nginx on loopback, {seconds:g} s "
             "per step. Requests counted at nginx's end beside nginx's access log; with new connections (each "
             "carrying one request) the connections nginx accepted too, which may exceed the log by the few wrk "
             "cut before their request. Misses: logged requests or connections not counted.", "",
             "| step | requests/s | logged | counted | connections opened | misses | events lost |",
             "|---|---|---|---|---|---|---|"]
    for name, step in steps.items():
        lines.append(f"| {name} | {step.rate:.0f} | {step.logged} | {step.requests} | {step.opens} | "
                     f"{step.misses(capacity.STEPS[name].new_connections)} | {step.lost} |")
    names = list(steps)
    lines += ["", plot("capacity", "Requests in nginx's log and counted by the probes", lambda axes: bars(
        axes, names,
        {"logged": [steps[n].logged for n in names], "counted": [steps[n].requests for n in names]}, "requests"))]
    return lines


def freshness_section(times: dict[str, dict[str, list[float]]]) -> list[str]:
    lines = ["", "## How soon the agent shows traffic", "",
             "`benchmarks/freshness.py`: from starting `intuition agent` to `/healthz` 200 (probes attached and "
             "drained once), and from a new client's first request to its edge in `/api/graph`; medians, each "
             "start's value in brackets.", "",
             "| agent | start to /healthz 200 (s) | first request to edge in /api/graph (s) |", "|---|---|---|"]
    for tree, values in times.items():
        lines.append(f"| {tree} | {statistics.median(values['start']):.2f} "
                     f"({', '.join(f'{v:.2f}' for v in values['start'])}) | {statistics.median(values['edge']):.2f} "
                     f"({', '.join(f'{v:.2f}' for v in values['edge'])}) |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", required=True, metavar="GIT_REF", help="the previous design's commit")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=3)
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        parser.error("needs root: the agent loads BPF programs")
    started = datetime.datetime.now(datetime.timezone.utc)
    lines = ["# Performance", "",
             f"Written by `benchmarks/report.py` on {started:%Y-%m-%d %H:%M} UTC. Machine: {machine()}. "
             f"Current tree: {commit('HEAD')}; previous design: {commit(args.before)}. Load average at the "
             f"start (other work on the host): {' '.join(f'{n:.2f}' for n in os.getloadavg())}.", ""]

    with open(OUTPUT) as f:
        kept = journal(f.read())

    def written(section: list[str]) -> None:
        """Each benchmark's section is written as soon as it is measured: a later failure keeps it."""
        lines.extend(section)
        with open(OUTPUT, "w") as f:
            f.write("\n".join(lines) + "\n" + ("\n" + kept if kept else ""))

    # The agents' memory first: once this process loads probes itself (profile, capacity), it maps the
    # compiler's libraries too, and pages two processes share stay resident (tracer/capture/compiler_memory.py).
    with side_by_side.source_tree(args.before) as before:
        summary = overhead.summarise(overhead.measure(args.rounds, args.seconds, before))
        print(overhead.report(summary), flush=True)
        written(overhead_section(summary, args.rounds, args.seconds))
        costs = agent_cost.measure(args.seconds, before)
        print(agent_cost.report(costs), flush=True)
        written(agent_section(costs, args.seconds))
        times = freshness.measure(2, before)
        print(freshness.report(times), flush=True)
        written(freshness_section(times))
    finer = overhead.summarise(throughput.measure(throughput.ROUNDS, throughput.SLICE_SECONDS))
    print(throughput.report(finer, throughput.ROUNDS), flush=True)
    written(throughput_section(finer, throughput.ROUNDS))
    written(profile_section(profile.profile(args.seconds, repeats=2)))
    steps = capacity.measure(args.seconds)
    print(capacity.report(steps), flush=True)
    written(capacity_section(steps, args.seconds))
    written([""] + tls.markdown(tls.run(args.rounds, args.seconds), args.rounds, args.seconds).splitlines())
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
