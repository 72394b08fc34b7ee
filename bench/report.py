#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes docs/performance.md and its plots from one `make bench` run.

Reads the Google Benchmark JSON files (raw-N.json, pprocess-N.json) and
peers.py's JSON (peers-N.json) in RESULTS, one of each per round of `make
bench`, and, when pprocess::mpi was built, the JSON of mpi_bench and
mpi4py_peer.py under mpirun (mpi-npR-N.json, mpi4py-npR-N.json: R ranks);
computes the ratios of the performance targets, and writes the page, plus
two PNG plots drawn with gnuplot:

    bench/report.py build/bench/results docs/performance.md

Every benchmark and peer ran once per round, the rounds one after the other
(or several times in one file, --benchmark_repetitions): the best run counts,
since on a shared machine the fastest run is the one least disturbed by
other work. Standard library only.
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

MIB = 1 << 20
BULK_BYTES = 64 * MIB
REPO = Path(__file__).resolve().parent.parent

# Colours of the three families in the plots.
COLOURS = {"pprocess": "#1f77b4", "raw": "#7f7f7f", "python": "#d62728"}

# Suffixes Google Benchmark appends to a name for its settings.
SETTING = re.compile(
    r"^(min_time:.*|min_warmup_time:.*|iterations:\d+|repeats:\d+|real_time|"
    r"process_time|manual_time|threads:\d+)$"
)


def base_name(run_name):
    return "/".join(p for p in run_name.split("/") if not SETTING.match(p))


class Results:
    """The best repetition of every benchmark and peer, by name.

    Benchmarks are named as in bench/*.cpp without their settings
    ("pprocess/pmap/tasks:1000000"); peers are "python/<name>".
    """

    def __init__(self, directory):
        self.directory = Path(directory)
        self.best = {}
        self.errors = {}
        self.paired = {}  # name -> the "ratio" counter of each round
        self.costs = {}  # name -> the "cost_us" counter of each round
        self.contexts = {}
        for stem in ("raw", "pprocess"):
            for path in self._files(stem):
                data = json.loads(path.read_text())
                self.contexts.setdefault(stem, data.get("context", {}))
                for run in data.get("benchmarks", []):
                    if run.get("run_type", "iteration") != "iteration":
                        continue
                    name = base_name(run.get("run_name", run["name"]))
                    if run.get("error_occurred"):
                        if name not in self.best:  # another round may have run
                            self.errors[name] = run.get("error_message", "error")
                        continue
                    if "ratio" in run:
                        self.paired.setdefault(name, []).append(run["ratio"])
                    if "cost_us" in run:
                        self.costs.setdefault(name, []).append(run["cost_us"])
                    self._offer(name, run)
        self.peers = {}
        for path in self._files("peers"):
            peers = json.loads(path.read_text())
            self.peers = self.peers or peers
            for name, entry in peers.get("results", {}).items():
                self._offer("python/" + name, entry)
        # pprocess::mpi (mpi_bench) and mpi4py.futures under mpirun: timed
        # runs by name ("mpi/...", "mpi4py/..."), the per-round ratios of
        # the work done in turn in one job, and the idle rank's CPU share.
        self.mpi_rounds = {}  # name -> ratios of every round of every job
        self.mpi_idle = {}  # name -> CPU shares of a core
        self.mpi_self_cpu = {}  # name -> the process's own CPU seconds per run
        self.mpi_info = {}  # the MPI library, mpi4py's version
        for stem in ("mpi", "mpi4py"):
            for path in self._files(stem):
                data = json.loads(path.read_text())
                for key in ("mpi", "mpi4py", "python"):
                    if key in data:
                        self.mpi_info.setdefault(f"{stem}:{key}", data[key])
                for name, entry in data.get("results", {}).items():
                    self._offer(name, entry)
                for name, values in data.get("paired", {}).items():
                    self.mpi_rounds.setdefault(name, []).extend(values)
                for name, values in data.get("idle_cpu", {}).items():
                    self.mpi_idle.setdefault(name, []).extend(values)
                for name, values in data.get("self_cpu_seconds", {}).items():
                    self.mpi_self_cpu.setdefault(name, []).extend(values)
        self.has_mpi = bool(self._files("mpi"))

    def _files(self, stem):
        """The files of `stem`, one per round (or one for all rounds)."""
        return sorted(self.directory.glob(f"{stem}-*.json")) + [
            path for path in [self.directory / f"{stem}.json"] if path.exists()]

    def _offer(self, name, run):
        entry = {
            "items_per_second": run.get("items_per_second"),
            "bytes_per_second": run.get("bytes_per_second"),
        }
        old = self.best.get(name)
        key = "bytes_per_second" if entry["bytes_per_second"] else "items_per_second"
        if entry[key] is None:
            return
        if old is None or entry[key] > old[key]:
            self.best[name] = entry
            self.errors.pop(name, None)

    def seconds_per_item(self, name):
        entry = self.best.get(name)
        if entry and entry["items_per_second"]:
            return 1.0 / entry["items_per_second"]
        return None

    def bytes_per_second(self, name):
        entry = self.best.get(name)
        return entry["bytes_per_second"] if entry else None

    def why_missing(self, name):
        if name in self.errors:
            return self.errors[name]
        return "not measured"


# --- formatting ---------------------------------------------------------------


def fmt_us(seconds):
    if seconds is None:
        return "–"
    us = seconds * 1e6
    if us >= 100:
        return f"{us:,.0f}"
    if us >= 10:
        return f"{us:.1f}"
    if us >= 1:
        return f"{us:.2f}"
    return f"{us:.3f}"


def fmt_rate(per_second):
    if per_second is None:
        return "–"
    for scale, suffix in ((1e9, " G"), (1e6, " M"), (1e3, " k")):
        if per_second >= scale:
            return f"{per_second / scale:.3g}{suffix}"
    return f"{per_second:.3g}"


def fmt_gbs(bytes_per_second):
    return "–" if bytes_per_second is None else f"{bytes_per_second / 1e9:.2f}"


def fmt_ratio(value):
    return "–" if value is None else f"{value:.2f} ×"


# The target text of a row measured for information only (a cost in µs).
NO_TARGET = "none"


def fmt_measured(value, target):
    """A target row's value in the unit of its target (a ratio, or a share
    in percent)."""
    if value is None:
        return "–"
    if target == NO_TARGET:
        return f"{fmt_us(value * 1e-6)} µs"
    return f"{value:.1f} %" if target.rstrip().endswith("%") else fmt_ratio(value)


# --- what was measured ----------------------------------------------------------

# (name, family, what it is). The order is the order of the raw-numbers table.
BENCHMARKS = [
    ("raw/fork_per_task/limit:1", "raw", "fork + one int over a socketpair + waitpid, per task, 1 at a time"),
    ("raw/fork_per_task/limit:2", "raw", "the same, 2 processes at a time (poll)"),
    ("pprocess/map_fork_per_task/limit:1", "pprocess", "Map + manage(MakeParallel(f)), a process per task, limit 1"),
    ("pprocess/map_fork_per_task/limit:2", "pprocess", "the same, limit 2"),
    ("pprocess/start_per_task", "pprocess", "pprocess::start + receive, one at a time (no exchange)"),
    ("python/process_per_task", "python", "multiprocessing.Process per task + Pipe + join, 2 at a time"),
    ("raw/ping_pong", "raw", "socketpair ping-pong with one process (round trip)"),
    ("pprocess/channel_round_trip", "pprocess", "Channel send + receive<int> round trip"),
    ("pprocess/manage_reuse_latency", "pprocess", "reuse = true, manage(MakeReusable(f)): call, read the result, repeat"),
    ("python/pool_apply_latency", "python", "Pool(2).apply, one call at a time"),
    ("raw/pool2/batch:1", "raw", "2 pre-forked workers, one message per task, both busy"),
    ("pprocess/manage_reuse_throughput", "pprocess", "reuse = true: 20 000 calls made, then every result read"),
    ("python/pool_map_chunksize1", "python", "Pool(2).map(chunksize=1)"),
    ("python/pool_imap_unordered", "python", "Pool(2).imap_unordered (chunksize 1)"),
    ("python/executor_map", "python", "concurrent.futures.ProcessPoolExecutor(2).map"),
    ("raw/pool2/batch:1000", "raw", "2 pre-forked workers, 1000 tasks per message, 1M tasks"),
    ("pprocess/pmap/tasks:10000", "pprocess", "pmap(f, 10k ints, limit 2)"),
    ("pprocess/pmap/tasks:100000", "pprocess", "pmap(f, 100k ints, limit 2)"),
    ("pprocess/pmap/tasks:1000000", "pprocess", "pmap(f, 1M ints, limit 2)"),
    ("pprocess/pmap_journal_paired", "pprocess", "pmap(f, 1M ints, limit 2), with a journal and without, in turn (per element of both)"),
    ("python/pool_map_default/100000", "python", "Pool(2).map, default chunksize, 100k tasks"),
    ("python/pool_map_default/1000000", "python", "Pool(2).map, default chunksize, 1M tasks"),
    ("raw/thread_pool2", "raw", "std::thread pool of 2 threads, std::function tasks"),
    ("raw/socket_bulk_64mib", "raw", "64 MiB through a socketpair into warm memory"),
    ("raw/memcpy_warm_64mib", "raw", "memcpy 64 MiB into warm memory"),
    ("raw/memcpy_fresh_64mib", "raw", "memcpy 64 MiB into fresh memory (page faults)"),
    ("raw/first_touch_64mib", "raw", "memset 64 MiB of fresh memory (page faults alone)"),
    ("raw/first_touch_memfd_64mib", "raw", "the same in a memfd mapping (the pages of a SharedArray)"),
    ("raw/bulk_by_hand_4x64mib", "raw", "4 × 64 MiB vector<double> by hand: socketpair, read into a fresh vector, 2 at a time"),
    ("pprocess/bulk_vector_4x64mib", "pprocess", "4 × 64 MiB as Map<std::vector<double>>, limit 2"),
    ("pprocess/bulk_shared_array_4x64mib", "pprocess", "4 × 64 MiB as Map<SharedArray<double>>, limit 2"),
    ("pprocess/bulk_pmap_vector_4x64mib", "pprocess", "4 × 64 MiB as pmap returning std::vector<double>, limit 2"),
    ("python/pool_bulk_64mib", "python", "Pool(2).map returning 4 × 64 MiB bytes"),
    ("raw/cpu_bound/processes:1", "raw", "4 tasks of ~200 ms of integer work, a process each by hand, 1 at a time"),
    ("raw/cpu_bound/processes:2", "raw", "the same, 2 at a time"),
    ("pprocess/cpu_bound/processes:1", "pprocess", "4 tasks of ~200 ms of integer work, limit 1"),
    ("pprocess/cpu_bound/processes:2", "pprocess", "the same, limit 2"),
    ("python/cpu_bound/1", "python", "4 tasks of ~200 ms of pure-Python work, Pool(1)"),
    ("python/cpu_bound/2", "python", "the same, Pool(2)"),
]
HEAPS_MIB = [2, 16, 128, 1024]
PMAP_SIZES = [1_000_000, 100_000, 10_000]


def ratio(results, measure, numerator, denominator):
    """`measure` (a Results method) of `numerator` over that of
    `denominator`; with a note naming what is missing."""
    a = measure(numerator)
    b = measure(denominator)
    if a is None or b is None:
        missing = numerator if a is None else denominator
        return None, f"{missing}: {results.why_missing(missing)}"
    return a / b, ""


def time_ratio(results, numerator, denominator):
    """How many times the per-item time of `numerator` is that of
    `denominator`."""
    return ratio(results, results.seconds_per_item, numerator, denominator)


def rate_ratio(results, numerator, denominator):
    return ratio(results, results.bytes_per_second, numerator, denominator)


def fork_ratio(results, limit):
    """pprocess's time per task over the raw loop's, fork per task: from the
    paired benchmark (both in turn in one process, the median of its
    rounds), or else from the separate ones (each at its best)."""
    separate, note = time_ratio(results, f"pprocess/map_fork_per_task/limit:{limit}",
                                f"raw/fork_per_task/limit:{limit}")
    rounds = sorted(results.paired.get(f"pprocess/fork_per_task_paired/limit:{limit}", []))
    if not rounds:
        return separate, note
    median = rounds[len(rounds) // 2] if len(rounds) % 2 else (
        rounds[len(rounds) // 2 - 1] + rounds[len(rounds) // 2]) / 2
    spread = ", ".join(f"{r:.2f}" for r in rounds)
    also = f"; the separate runs, each at its best: {separate:.2f} ×" if separate else ""
    return median, (f"raw and pprocess in turn, 100 tasks each, in one process: "
                    f"the median of {len(rounds)} round{'s' if len(rounds) > 1 else ''} "
                    f"({spread}){also}")


def paired_ratio(results, name):
    """The median of the "ratio" counter over the rounds of a paired
    benchmark (two ways of the same work in turn, in one process)."""
    rounds = sorted(results.paired.get(name, []))
    if not rounds:
        return None, f"{name}: {results.why_missing(name)}"
    median = rounds[len(rounds) // 2] if len(rounds) % 2 else (
        rounds[len(rounds) // 2 - 1] + rounds[len(rounds) // 2]) / 2
    spread = ", ".join(f"{r:.2f}" for r in rounds)
    return median, f"both in turn in one process: the median of {len(rounds)} round(s) ({spread})"


def median_of(values):
    ordered = sorted(values)
    n = len(ordered)
    return ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2


def mpi_paired_ratio(results, name):
    """The median of the per-round ratios of two ways of the same work done
    in turn in one mpirun job (which goes first changing each round), over
    every round of every job."""
    rounds = sorted(results.mpi_rounds.get(name, []))
    if not rounds:
        return None, f"{name}: not measured"
    quarter = len(rounds) // 4
    spread = (f"; the middle half of the rounds {rounds[quarter]:.2f}–"
              f"{rounds[len(rounds) - 1 - quarter]:.2f} ×" if len(rounds) >= 4 else
              " (" + ", ".join(f"{r:.2f}" for r in rounds) + ")")
    return median_of(rounds), (f"in turn in one mpirun job, which goes first changing "
                               f"each round: the median of {len(rounds)} rounds{spread}")


def mpi_targets(results, add):
    """The target rows of pprocess::mpi (see mpi_bench.cpp), added with
    `add` as in targets()."""
    for ranks in (3, 2):
        ours = f"mpi/pmap_trivial/ranks:{ranks}"
        peer = f"mpi4py/map_chunksize1000/ranks:{ranks}"
        value, note = time_ratio(results, peer, ours)
        if value is not None:
            note = (f"best runs: {fmt_rate(1 / results.seconds_per_item(ours))} tasks/s "
                    f"against {fmt_rate(1 / results.seconds_per_item(peer))} tasks/s")
        add(f"pprocess::mpi pmap of 1M trivial tasks over {ranks} ranks: speed-up over "
            f"mpi4py MPIPoolExecutor().map(chunksize=1000) on the same mpirun -np {ranks}",
            value, note, "≥ 10 ×")
    value, note = mpi_paired_ratio(results, "mpi/cpu_bound_speedup/ranks:2_limit:1")
    add("pprocess::mpi CPU-bound, 16 tasks of ~60 ms over 2 ranks × limit 1: speed-up over "
        "the sequential loop in the same program", value, note, "≥ 1.8 ×",
        raw=mpi_paired_ratio(results, "mpi/cpu_bound_speedup/fork2_by_hand")[0])
    for workload, what in (("trivial", "1M trivial tasks"),
                           ("spin_50us", "10k tasks of ~50 µs of arithmetic")):
        value, note = mpi_paired_ratio(results, f"mpi/one_rank_vs_local/{workload}")
        local = results.mpi_self_cpu.get(f"mpi/one_rank/local_pmap_{workload}")
        over_mpi = results.mpi_self_cpu.get(f"mpi/one_rank/mpi_pmap_{workload}")
        if value is not None and local and over_mpi:
            note += (f"; the rank's own CPU time per run (its processes' not counted), "
                     f"median: {1e3 * median_of(over_mpi):.1f} ms through pprocess::mpi "
                     f"against {1e3 * median_of(local):.1f} ms through pprocess::pmap")
        add(f"pprocess::mpi pmap on one rank (-np 1), {what}: speed vs pprocess::pmap in "
            "the same process", value, note, "≥ 0.9 ×")
    shares = results.mpi_idle.get("mpi/idle_rank_cpu/ranks:2", [])
    value, note = None, "mpi/idle_rank_cpu/ranks:2: not measured"
    if shares:
        value = 100 * median_of(shares)
        note = ("rank 1's own CPU time (getrusage RUSAGE_SELF, all its threads, not its "
                "processes) over the wall time it waited, the median of "
                f"{len(shares)} waits of 3 s (" +
                ", ".join(f"{100 * s:.1f} %" for s in sorted(shares)) + ")")
    add("pprocess::mpi idle rank (-np 2): CPU of rank 1 waiting in begin() while rank 0 "
        "computes alone outside the library, in % of a core", value, note, "≤ 5 %",
        at_most=True)


def journal_cost(results):
    """What a journal adds to each element of a pmap of 1M trivial tasks, in
    µs: the median over the rounds of the paired benchmark."""
    name = "pprocess/pmap_journal_paired"
    costs = results.costs.get(name, [])
    if not costs:
        return None, f"{name}: {results.why_missing(name)}"
    ratios = ", ".join(f"{r:.2f}" for r in sorted(results.paired.get(name, [])))
    return median_of(costs), (
        f"1M trivial tasks, limit 2, a fresh journal each run, in the temporary "
        f"directory, both in turn in one process: the median of {len(costs)} "
        f"round(s); time with a journal over without: {ratios} ×")


def largest_pmap(results):
    for size in PMAP_SIZES:
        name = f"pprocess/pmap/tasks:{size}"
        if results.seconds_per_item(name) is not None:
            return name, size
    return "pprocess/pmap/tasks:1000000", 1_000_000


def python_pool_default(results, size):
    for candidate in (size, 1_000_000, 100_000):
        name = f"python/pool_map_default/{candidate}"
        if results.seconds_per_item(name) is not None:
            return name
    return f"python/pool_map_default/{size}"


def targets(results):
    """Rows of the target table: (what, measured, target text, ok, note)."""
    rows = []

    def add(what, value, note, target, at_most=False, raw=None):
        """`raw`: the same ratio with the raw limit in pprocess's place, when
        the ratio compares with something else than the raw limit."""
        if value is None or target == NO_TARGET:
            rows.append((what, value, target, None, note, raw))
            return
        limit = float(re.search(r"[\d.]+", target).group())
        ok = value <= limit if at_most else value >= limit
        rows.append((what, value, target, ok, note, raw))

    fork_pp = "pprocess/map_fork_per_task/limit:2"
    for limit in (2, 1):
        value, note = fork_ratio(results, limit)
        add(f"fork-per-task Map (limit {limit}): time per task vs raw fork + result + waitpid",
            value, note, "≤ 1.2 ×", at_most=True)
    value, note = time_ratio(results, "python/process_per_task", fork_pp)
    add("fork-per-task Map: speed-up over multiprocessing.Process per task",
        value, note, "≥ 15 ×",
        raw=time_ratio(results, "python/process_per_task", "raw/fork_per_task/limit:2")[0])

    reuse = "pprocess/manage_reuse_throughput"
    value, note = time_ratio(results, "raw/pool2/batch:1", reuse)
    add("reuse = true through manage (calls queued): speed vs raw 2-worker pool, one message per task",
        value, note, "≥ 0.7 ×")
    value, note = time_ratio(results, "raw/ping_pong", "pprocess/manage_reuse_latency")
    add("reuse = true through manage, one call at a time: speed vs raw socketpair ping-pong (same bar, latency form)",
        value, note, "≥ 0.7 ×")
    value, note = time_ratio(results, "python/pool_map_chunksize1", reuse)
    add("reuse = true through manage (calls queued): speed-up over Pool.map(chunksize=1)",
        value, note, "≥ 10 ×",
        raw=time_ratio(results, "python/pool_map_chunksize1", "raw/pool2/batch:1")[0])
    value, note = time_ratio(results, "python/pool_apply_latency", "pprocess/manage_reuse_latency")
    add("reuse = true through manage, one call at a time: speed-up over Pool.apply one at a time (latency form)",
        value, note, "≥ 10 ×",
        raw=time_ratio(results, "python/pool_apply_latency", "raw/ping_pong")[0])

    pmap, size = largest_pmap(results)
    scale = "" if size == 1_000_000 else f" (at {size:,} tasks: larger sizes were skipped)"
    py_default = python_pool_default(results, size)
    value, note = time_ratio(results, py_default, pmap)
    add(f"pmap of 1M trivial tasks: speed-up over Pool.map, default chunksize{scale}",
        value, note, "≥ 2 ×",
        raw=time_ratio(results, py_default, "raw/pool2/batch:1000")[0])
    value, note = time_ratio(results, "raw/pool2/batch:1000", pmap)
    add(f"pmap of 1M trivial tasks: speed vs raw 2-worker pool, 1000 tasks per message{scale}",
        value, note, "≥ 0.6 ×")

    bulk = "pprocess/bulk_vector_4x64mib"
    value, note = rate_ratio(results, bulk, "raw/bulk_by_hand_4x64mib")
    add("4 × 64 MiB vector<double>, 2 at a time: throughput vs the same by hand",
        value, note, "≥ 0.8 ×")
    value, note = rate_ratio(results, bulk, "python/pool_bulk_64mib")
    add("4 × 64 MiB vector<double>: throughput vs Pool returning 64 MiB bytes",
        value, note, "≥ 2.5 ×",
        raw=rate_ratio(results, "raw/bulk_by_hand_4x64mib", "python/pool_bulk_64mib")[0])
    value, note = rate_ratio(results, "pprocess/bulk_pmap_vector_4x64mib", "raw/bulk_by_hand_4x64mib")
    add("pmap of 4 × 64 MiB vector<double>, limit 2: throughput vs the same by hand",
        value, note, "≥ 0.8 ×")
    value, note = rate_ratio(results, "pprocess/bulk_pmap_vector_4x64mib", "python/pool_bulk_64mib")
    add("pmap of 4 × 64 MiB vector<double>: throughput vs Pool returning 64 MiB bytes",
        value, note, "≥ 2.5 ×")
    value, note = rate_ratio(results, "pprocess/bulk_shared_array_4x64mib", "raw/bulk_by_hand_4x64mib")
    add("4 × 64 MiB SharedArray<double>: throughput vs the hand-written socket floor",
        value, note, "≥ 1.5 ×")

    value, note = paired_ratio(results, "pprocess/timeout_paired/limit:2")
    add("fork-per-task Map with a timeout set: time per task vs without",
        value, note, "≤ 1.05 ×", at_most=True)
    value, note = paired_ratio(results, "pprocess/pmap_crash_paired")
    add("pmap of 100k tiny elements, one of which crashes its process: time vs without the crash",
        value, note, "≤ 1.1 ×", at_most=True)
    value, note = paired_ratio(results, "pprocess/pmap_progress_paired")
    if value is not None:
        value, note = 1 / value, note + " (speed: the time without over the time with)"
    add("pmap of 1M trivial tasks with progress = true: speed vs without",
        value, note, "≥ 0.95 ×")

    value, note = paired_ratio(results, "pprocess/raytracer_paired")
    if value is not None:
        value, note = 1 / value, note + " (the pmap time over the sequential one, inverted)"
    add("the ray tracer of make demo, 1024 × 768: pmap over its rows (limit 2) vs sequential",
        value, note, "≥ 1.8 ×")
    value, note = journal_cost(results)
    add("pmap with a journal: cost per element", value, note, NO_TARGET)

    value, note = time_ratio(results, "pprocess/cpu_bound/processes:1", "pprocess/cpu_bound/processes:2")
    add("CPU-bound: 2 processes vs 1", value, note, "≥ 1.9 ×",
        raw=time_ratio(results, "raw/cpu_bound/processes:1", "raw/cpu_bound/processes:2")[0])

    if results.has_mpi:
        mpi_targets(results, add)
    return rows


# --- the machine ------------------------------------------------------------------


def run(command, cwd=None):
    try:
        out = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cmake_cache(build_dir):
    values = {}
    path = Path(build_dir) / "CMakeCache.txt"
    if path.exists():
        for line in path.read_text().splitlines():
            m = re.match(r"^([A-Za-z_]+):[A-Z]+=(.*)$", line)
            if m:
                values[m.group(1)] = m.group(2)
    return values


def machine(results, build_dir):
    cache = cmake_cache(build_dir)
    compiler = cache.get("CMAKE_CXX_COMPILER", "c++")
    version = run([compiler, "--version"]).splitlines()
    build_type = cache.get("CMAKE_BUILD_TYPE", "?")
    flags = " ".join(
        f for f in (cache.get("CMAKE_CXX_FLAGS", ""),
                    cache.get(f"CMAKE_CXX_FLAGS_{build_type.upper()}", "")) if f
    )
    context = results.contexts.get("pprocess") or results.contexts.get("raw") or {}
    loads = [f"{stem}_bench: " + " ".join(f"{x:.2f}" for x in c["load_avg"])
             for stem, c in results.contexts.items() if c.get("load_avg")]
    thp = ""
    try:
        thp = Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text().strip()
    except OSError:
        pass
    try:
        meminfo = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
        memory = f"{int(meminfo) / (1 << 20):.0f} GiB"
    except (OSError, IndexError, ValueError):
        memory = "?"
    commit = run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO)
    dirty = run(["git", "status", "--porcelain", "--", "include", "src"], cwd=REPO)
    peers = results.peers
    return [
        ("CPU", f"{cpu_model()}, {os.cpu_count()} processors (nproc), "
                f"{context.get('mhz_per_cpu', '?')} MHz"),
        ("Memory", memory),
        ("Kernel", f"Linux {platform.release()}; transparent huge pages: {thp or '?'}"),
        ("Compiler", f"{version[0] if version else compiler}; {build_type} ({flags})"),
        ("Google Benchmark", f"Debian libbenchmark-dev (library built as "
                             f"{context.get('library_build_type', '?')}; it only times)"),
        ("Python", f"{peers.get('implementation', '?')} {peers.get('python', '?')}, "
                   f"start method {peers.get('start_method', '?')}"),
        ("pprocess", f"commit {commit or '?'}" + (" plus uncommitted changes in include/ or src/" if dirty else "")),
        ("Load average (1, 5, 15 min) as each benchmark program started",
         "; ".join(loads) or "?"),
    ] + ([("MPI", f"{results.mpi_info.get('mpi:mpi', '?')}; mpi4py "
                  f"{results.mpi_info.get('mpi4py:mpi4py', 'not run')} on Python "
                  f"{results.mpi_info.get('mpi4py:python', '?')}")]
         if results.has_mpi else [])


# --- plots ---------------------------------------------------------------------------

OVERHEAD_BARS = [
    # (label, name)
    ("fork per task: raw", "raw/fork_per_task/limit:2"),
    ("fork per task: pprocess Map", "pprocess/map_fork_per_task/limit:2"),
    ("fork per task: Python Process", "python/process_per_task"),
    ("1 call at a time: raw ping-pong", "raw/ping_pong"),
    ("1 call at a time: pprocess manage, reuse", "pprocess/manage_reuse_latency"),
    ("1 call at a time: Python Pool.apply", "python/pool_apply_latency"),
    ("1 msg per task: raw 2-worker pool", "raw/pool2/batch:1"),
    ("1 msg per task: pprocess manage, reuse", "pprocess/manage_reuse_throughput"),
    ("1 msg per task: Python Pool.map(chunksize=1)", "python/pool_map_chunksize1"),
    ("1 msg per task: Python imap_unordered", "python/pool_imap_unordered"),
    ("1 msg per task: Python ProcessPoolExecutor", "python/executor_map"),
    ("batched: raw 2-worker pool, 1000/msg", "raw/pool2/batch:1000"),
    ("batched: pprocess pmap", None),  # the largest pmap measured
    ("batched: Python Pool.map default chunksize", None),
    ("threads: std::thread pool of 2", "raw/thread_pool2"),
]


def family(name):
    return name.split("/", 1)[0]


def gnuplot(script, workdir):
    if shutil.which("gnuplot") is None:
        print("report.py: gnuplot not found (Debian: gnuplot-nox); no plots", file=sys.stderr)
        return False
    done = subprocess.run(["gnuplot"], input=script, text=True, cwd=workdir,
                          capture_output=True)
    if done.returncode != 0:
        print("report.py: gnuplot failed:\n" + done.stderr, file=sys.stderr)
        return False
    return True


def quote(label):
    return '"' + label.replace('"', "'") + '"'


def plot_overhead(results, workdir, png):
    pmap, size = largest_pmap(results)
    rows = []
    for label, name in OVERHEAD_BARS:
        if label.startswith("batched: pprocess pmap"):
            name, label = pmap, f"batched: pprocess pmap, {size:,} tasks"
        elif label.startswith("batched: Python Pool.map"):
            name = python_pool_default(results, size)
            label = ("batched: Python Pool.map default chunksize, "
                     f"{int(name.rsplit('/', 1)[1]):,} tasks")
        seconds = results.seconds_per_item(name)
        if seconds is not None:
            rows.append((label, seconds * 1e6, COLOURS[family(name)]))
    data = workdir / "overhead.dat"
    with data.open("w") as out:
        for label, us, colour in rows:
            out.write(f"{quote(label)}\t{us:.6g}\t{int(colour[1:], 16)}\n")
    low = min(us for _, us, _ in rows) / 3 if rows else 0.01
    high = max(us for _, us, _ in rows) * 8 if rows else 1e6
    script = f"""
set terminal pngcairo noenhanced size 1100,{150 + 34 * len(rows)} font "sans,10"
set output {quote(str(png))}
set title "Per-task overhead of trivial tasks, 2 processes (or threads): lower is better"
set logscale x
set xrange [{low:g}:{high:g}]
set xlabel "µs per task (log scale)"
set yrange [{len(rows) - 0.4}:-0.6]
set grid xtics
set style fill solid 0.85 noborder
set bmargin 6
set key at screen 0.62, 0.03 center bottom horizontal box
set datafile separator "\\t"
plot {quote(str(data))} using 2:0:({low:g}):2:($0-0.38):($0+0.38):3:ytic(1) \\
       with boxxyerror lc rgb variable notitle, \\
     '' using 2:0:($2 >= 100 ? sprintf(" %.0f", $2) : sprintf(" %.3g", $2)) \\
       with labels left font "sans,9" notitle, \\
     NaN with boxes lc rgb "{COLOURS['pprocess']}" title "pprocess", \\
     NaN with boxes lc rgb "{COLOURS['raw']}" title "raw C/C++ limit", \\
     NaN with boxes lc rgb "{COLOURS['python']}" title "Python multiprocessing"
"""
    return gnuplot(script, workdir)


def heap_series(results):
    rows = []
    for heap in HEAPS_MIB:
        raw = results.seconds_per_item(f"raw/fork_heap/heap_mib:{heap}")
        pp = results.seconds_per_item(f"pprocess/fork_heap/heap_mib:{heap}")
        rows.append((heap, raw, pp))
    return rows


def plot_heap(results, workdir, png):
    data = workdir / "fork_heap.dat"
    with data.open("w") as out:
        for heap, raw, pp in heap_series(results):
            out.write(f"{heap}\t{raw * 1e6 if raw else 'NaN'}\t{pp * 1e6 if pp else 'NaN'}\n")
    script = f"""
set terminal pngcairo noenhanced size 900,560 font "sans,10"
set output {quote(str(png))}
set title "Fork-per-task cost as the creator's touched heap grows (limit 2)"
set logscale xy
set xlabel "creator's touched heap (MiB, log scale)"
set ylabel "µs per task (log scale)"
set xtics (2, 16, 128, 1024)
set xrange [1.4:1500]
set grid
set key top left box opaque
set datafile separator "\\t"
plot {quote(str(data))} using 1:2 with linespoints lw 2 pt 7 lc rgb "{COLOURS['raw']}" title "raw fork + result + waitpid", \\
     '' using 1:3 with linespoints lw 2 pt 5 lc rgb "{COLOURS['pprocess']}" title "pprocess Map, manage(MakeParallel(f))", \\
     '' using 1:3:(sprintf("%.0f", $3)) with labels offset 0,1 font "sans,9" notitle
"""
    return gnuplot(script, workdir)


# --- the page ------------------------------------------------------------------------


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def advice(results):
    """The 'when to use reuse' section, from the measured numbers."""
    fork = results.seconds_per_item("pprocess/map_fork_per_task/limit:2")
    reuse = results.seconds_per_item("pprocess/manage_reuse_throughput")
    latency = results.seconds_per_item("pprocess/manage_reuse_latency")
    pmap, _ = largest_pmap(results)
    batched = results.seconds_per_item(pmap)
    lines = []
    if fork is None or reuse is None:
        return "Not enough was measured to give numbers here.\n"
    lines.append(
        "A task's overhead is paid once per task, so what matters is its share of the "
        "task: with overhead *c* and work *w* per task, the time is *c* + *w* and the "
        "overhead costs *c* / (*c* + *w*). Below 10 % of the time needs *w* ≥ 9 *c*. "
        "Here (2 processes at a time, per task, measured above):")
    lines.append("")
    rows = [
        ("a fresh process per task (Map, no reuse), small creator",
         fmt_us(fork), fmt_us(9 * fork)),
    ]
    for heap, _, pp in heap_series(results):
        if pp is not None and heap > 2:
            rows.append((f"a fresh process per task, creator with {heap:,} MiB touched",
                         fmt_us(pp), fmt_us(9 * pp)))
    rows.append(("reuse = true, calls queued through manage", fmt_us(reuse), fmt_us(9 * reuse)))
    if latency is not None:
        rows.append(("reuse = true, one call at a time (result read before the next call)",
                     fmt_us(latency), fmt_us(9 * latency)))
    if batched is not None:
        rows.append(("pmap over a range (batched)", fmt_us(batched), fmt_us(9 * batched)))
    lines.append(table(["how", "overhead per task (µs)", "work per task for ≤ 10 % overhead (µs)"], rows))
    lines.append("")
    big = results.seconds_per_item("pprocess/fork_heap/heap_mib:1024")
    ratio = fork / reuse
    lines.append(
        f"- **Use `reuse = true` (with `MakeReusable`) when tasks are short**: below about "
        f"{fmt_us(9 * fork)} µs of work per task a fresh process per task spends more than "
        f"10 % of the time forking; reuse cuts the per-task cost about {ratio:.0f} times.")
    if big is not None:
        lines.append(
            f"- **The bigger the creator, the stronger the case for reuse.** fork copies the "
            f"page tables of everything the creator has touched: with 1 GiB touched, one "
            f"process per task costs {fmt_us(big)} µs, so tasks then need about "
            f"{9 * big * 1e3:,.0f} ms of work each before forking is cheap. Reused processes "
            f"pay the fork once.")
    lines.append(
        "- **Keep a fresh process per task (no reuse) when each task needs the creator's state "
        "as it is at the call** (reused processes keep what earlier calls changed), when "
        "a task may crash, leak or corrupt global state that the next task must not see, or "
        "when the arguments cannot be serialized (a fresh process sees them by copy-on-write; "
        "a reused one is sent them).")
    lines.append(
        "- **For many tiny tasks over a range, use `pmap`**: it sends tasks in batches, so "
        "the per-task cost is that of the work itself plus a small share of a message.")
    shared = results.bytes_per_second("pprocess/bulk_shared_array_4x64mib")
    vector = results.bytes_per_second("pprocess/bulk_vector_4x64mib")
    anon = results.bytes_per_second("raw/first_touch_64mib")
    memfd = results.bytes_per_second("raw/first_touch_memfd_64mib")
    text = ("- **For large results, return a `SharedArray`**: a `std::vector` is copied "
            "through the socket into new memory on the creator's side, and new memory costs "
            "page faults (the first-touch rows); a SharedArray is mapped, not copied")
    if shared and vector:
        text += f" ({fmt_gbs(shared)} GB/s here against {fmt_gbs(vector)} GB/s)"
    text += "."
    if anon and memfd:
        text += (f" Its pages cost the child more to fill, though: memory-file pages fault "
                 f"in at {fmt_gbs(memfd)} GB/s against {fmt_gbs(anon)} GB/s for ordinary "
                 "memory, so the gain shrinks when producing the results, not collecting "
                 "them, is what bounds the run.")
    lines.append(text)
    return "\n".join(lines) + "\n"


# (name, what) of the pprocess::mpi section's table, in its order.
MPI_BENCHMARKS = [
    ("mpi/pmap_trivial/ranks:2", "pprocess::mpi pmap(f, 1M ints) over 2 ranks (each: its processors' worth of processes)"),
    ("mpi4py/map_chunksize1000/ranks:2", "mpi4py MPIPoolExecutor().map(f, range(1M), chunksize=1000), -np 2 (1 worker)"),
    ("mpi4py/map_chunksize1/ranks:2", "the same, chunksize=1 (2 000 tasks)"),
    ("mpi/pmap_trivial/ranks:3", "pprocess::mpi pmap(f, 1M ints) over 3 ranks"),
    ("mpi4py/map_chunksize1000/ranks:3", "mpi4py MPIPoolExecutor().map(f, range(1M), chunksize=1000), -np 3 (2 workers)"),
    ("mpi4py/map_chunksize1/ranks:3", "the same, chunksize=1 (2 000 tasks)"),
    ("mpi/one_rank/local_pmap_trivial", "-np 1: pprocess::pmap(f, 1M ints), in turn with the next"),
    ("mpi/one_rank/mpi_pmap_trivial", "-np 1: pprocess::mpi pmap(f, 1M ints)"),
    ("mpi/one_rank/local_pmap_spin_50us", "-np 1: pprocess::pmap over 10k tasks of ~50 µs, in turn with the next"),
    ("mpi/one_rank/mpi_pmap_spin_50us", "-np 1: pprocess::mpi pmap over the same"),
    ("mpi/cpu_bound/sequential", "-np 2: 16 tasks of ~60 ms of integer work, a loop on rank 0, in turn with the next"),
    ("mpi/cpu_bound/ranks:2_limit:1", "-np 2: the same through pprocess::mpi pmap, limit 1 per rank"),
    ("mpi/cpu_bound/fork2_by_hand", "-np 2: the same on rank 0 in 2 processes forked by hand, 8 tasks each (the ceiling)"),
]


def mpi_section(results):
    """The pprocess::mpi section: how it was measured, and its numbers."""
    lines = []
    if not results.has_mpi:
        return ("Not measured in this run: pprocess::mpi was not built (MPI not "
                "found), so `make bench` did not run `mpi_bench`.\n")
    lines.append(
        "`mpi_bench` (bench/mpi_bench.cpp) ran under `mpirun -np N --oversubscribe "
        "--bind-to none` with 1, 2 and 3 ranks, the runs with 2 and 3 each followed by "
        "`bench/mpi4py_peer.py` under `mpirun -np N ... python3 -m mpi4py.futures` "
        "with the same N (mpi4py's rank 0 runs the script and computes nothing; the "
        "other ranks are its workers). All ranks share this machine's processors: more "
        "ranks bring no more cores here, so the rows over 2 and 3 ranks measure what "
        "spreading the work costs, not how it scales. Each rank runs its share in as "
        "many processes as it has processors (`limit` unset) unless said otherwise. "
        "Items per second count tasks; the best run of every job counts.\n")
    rows = []
    for name, what in MPI_BENCHMARKS:
        seconds = results.seconds_per_item(name)
        if seconds is None:
            rows.append((f"`{name}`", what, "–", "–"))
            continue
        rows.append((f"`{name}`", what, fmt_us(seconds), fmt_rate(1 / seconds)))
    lines.append(table(["benchmark", "what", "µs per item", "items/s"], rows))
    shares = results.mpi_idle.get("mpi/idle_rank_cpu/ranks:2", [])
    if shares:
        lines.append(
            "\nIdle rank: with `-np 2`, rank 0 starts a pmap of 2 elements, then computes "
            "alone for 3 s in its own code; rank 1 waits for the results in the Map's "
            "`begin()`. Rank 1's own CPU time over those waits: " +
            ", ".join(f"{100 * s:.1f} %" for s in shares) + " of a core.")
    return "\n".join(lines) + "\n"


def write_page(results, out, pngs, build_dir, started):
    lines = []
    add = lines.append
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    add("# Performance\n")
    add(f"Generated by `make bench` ({now}) from one run of `bench/`: Google Benchmark "
        "microbenchmarks (`raw_bench`, `pprocess_bench`) and Python's multiprocessing "
        "(`bench/peers.py`), and, when pprocess::mpi is built, `mpi_bench` and mpi4py "
        "(`bench/mpi4py_peer.py`) under mpirun, written up by `bench/report.py`. Do not "
        "edit by hand: change the benchmarks or the report and run `make bench` again.")
    if started:
        add(f"\nThe whole `make bench` (configure, build, runs, this page) took "
            f"about {started} s.")
    add("\nEverything that forks is timed in wall-clock time. Each benchmark ran "
        "several times; the best run counts (on a shared machine, the one least disturbed). "
        "Ratios compare numbers of the same run. Trivial tasks return `x + 1` for an `int`.\n")

    add("## Machine\n")
    add(table(["", ""], machine(results, build_dir)))
    add("")

    add("## Targets\n")
    add("Each ratio is arranged so that the target reads as in the issue: *speed vs X* "
        "is X's time per task divided by pprocess's (higher is better), *time vs X* the "
        "reverse. Where a ratio is not taken against the raw limit itself, the last column "
        "gives the same ratio with the hand-written raw limit in pprocess's place: what "
        "the best possible implementation of that scheme scored in this run.\n")
    raw_scaling = time_ratio(results, "raw/cpu_bound/processes:1",
                             "raw/cpu_bound/processes:2")[0]
    if raw_scaling is not None and raw_scaling < 1.8:
        add(f"**Other programs kept the processors busy during this run**: 2 hand-forked "
            f"CPU-bound processes ran only {raw_scaling:.2f} times as fast as 1 (2 on an "
            "idle machine). Rows that depend on free cores (scaling, fork per task, "
            "latency, bulk) read low; run `make bench` again on a quiet machine.\n")
    rows = []
    for what, value, target, ok, note, raw in targets(results):
        verdict = "–" if ok is None else ("PASS" if ok else "MISS")
        measured = fmt_measured(value, target) if value is not None else f"n/a ({note})"
        rows.append((what, measured, target, verdict, fmt_ratio(raw) if raw else ""))
    add(table(["what", "measured", "target", "", "raw limit's ratio"], rows))
    add("")
    for what, value, target, ok, note, raw in targets(results):
        if value is not None and note:
            add(f"- {what}: {note}.")
    add("")
    misses = [(what, raw) for what, value, target, ok, note, raw in targets(results)
              if ok is False]
    if misses:
        add("### Targets that do not hold in this run\n")
        for what, raw in misses:
            why = next((text for prefix, text in WHY_MISSED if what.startswith(prefix)),
                       "No explanation recorded for this row.")
            raw_text = f" (the raw limit's ratio: {fmt_ratio(raw)})" if raw else ""
            add(f"- **{what}**{raw_text}: {why}")
        add("")

    add("## Per-task overhead\n")
    add(f"![Per-task overhead, log scale]({pngs[0].name})\n")
    add("## All numbers\n")
    rows = []
    for name, fam, what in BENCHMARKS:
        seconds = results.seconds_per_item(name)
        rate = results.bytes_per_second(name)
        if seconds is None and rate is None:
            rows.append((f"`{name}`", what, "–", "–", f"n/a: {results.why_missing(name)}"))
            continue
        rows.append((f"`{name}`", what, fmt_us(seconds),
                     fmt_rate(1 / seconds) if seconds else "–", fmt_gbs(rate)))
    add(table(["benchmark", "what", "µs per item", "items/s", "GB/s"], rows))
    add("\nAn item is a task, a round trip or a call; for the bulk rows it is one 64 MiB "
        "result (the time per item then includes creating and filling it in the child). "
        "GB/s counts 10⁹ bytes. Fresh memory costs page faults: the `first_touch` row is the "
        "bound on any copy into new memory, which is what receiving a `std::vector` does; "
        "a `SharedArray` is mapped instead.\n")

    add("## pprocess::mpi\n")
    add(mpi_section(results))

    add("## Fork cost as the creator's heap grows\n")
    add("The creator touches (writes) a heap of the given size first, then runs trivial "
        "tasks a fresh process each, 2 at a time. fork copies the page tables of the "
        "creator's touched memory (not the memory: it is shared copy-on-write), and "
        "the exit tears the copy down again, so the cost per task grows with the heap.\n")
    rows = []
    for heap, raw, pp in heap_series(results):
        rows.append((f"{heap:,}", fmt_us(raw), fmt_us(pp),
                     fmt_ratio(pp / raw) if raw and pp else "–"))
    add(table(["touched heap (MiB)", "raw fork + result + waitpid (µs/task)",
               "pprocess Map (µs/task)", "pprocess / raw"], rows))
    add(f"\n![Fork-per-task cost vs the creator's heap]({pngs[1].name})\n")

    add("## When to use reuse\n")
    add(advice(results))

    add("## What each optimization bought\n")
    add("Each was measured before it was kept, with the benchmarks above, on this "
        "machine (numbers from single runs, so read them as a direction and a "
        "size, not to the last digit).\n")
    add("| optimization | what it bought |\n|---|---|")
    for row in OPTIMIZATIONS:
        add("| " + row[0] + " | " + row[1] + " |")
    add("")

    add("## Reproducing\n")
    add("`make bench` installs what is missing (`scripts/install-deps`), builds the "
        "`bench` preset (`build/bench`), then runs `raw_bench`, `pprocess_bench` "
        "and `bench/peers.py` (with the `python3` on `PATH`) in turn, "
        "`BENCH_REPETITIONS` rounds (3 by default; JSON in "
        "`build/bench/results/`), so that a change in the machine's load falls "
        "on all of them alike; when `mpi_bench` was built (pprocess::mpi), each "
        "round also runs it under `mpirun` with 1, 2 and 3 ranks, the runs with 2 and "
        "3 each followed by `bench/mpi4py_peer.py` under `mpi4py.futures` on the same "
        "`mpirun` line "
        "(`MPI4PY_PYTHON`, `/usr/bin/python3` by default: Debian's python3-mpi4py). "
        "Then this report; the best round of each "
        "benchmark counts. `BENCH_REPETITIONS=1 make bench` is quicker and "
        "noisier. The machine is "
        "shared: expect some spread between runs, most on the latency and "
        "scaling rows.")
    Path(out).write_text("\n".join(lines) + "\n", encoding="utf-8")


# Why a target can miss, and what was tried; shown under the target table for
# the rows that miss in a run (matched by the start of the row's text).
WHY_MISSED = [
    ("fork-per-task Map: speed-up over multiprocessing.Process",
     "A process per task cannot be cheaper than its fork: the hand-written fork "
     "+ socketpair + waitpid (its ratio in parentheses) is the ceiling, and on "
     "this machine a fork of even a small process costs about 60 µs of the "
     "creator's time. pprocess is measured against that ceiling in the rows "
     "above; the work that brought it there is listed under What each "
     "optimization bought."),
    ("fork-per-task Map (limit",
     "Per task the creator forks and takes a copy-on-write fault for each "
     "page it writes after the fork: about 8.5 against the raw loop's 3, at "
     "about 3 µs each on this machine (two stack pages, the fork page of the "
     "process tables, two for the stdio lock and cleanup record of the "
     "fflush that the docs promise before every fork, and two or three heap "
     "pages of the exchange's records and read buffers). At limit 2 the "
     "creator is the bottleneck, and the created processes share its two "
     "cores: each does more than the raw one (it hides its siblings' "
     "descriptors, sets its parent-death signal, flushes its streams) and "
     "takes about 18 page faults against 12, most of them first touches of "
     "code. At limit 1 the next fork waits for the exit. Tried and kept: "
     "binding at load, no allocation per task once warm, one page for what "
     "every fork writes, a pidfd only for processes that run a while, "
     "/dev/null kept open for the hiding, read-ahead. Tried and dropped: "
     "letting a MakeParallel process stop counting toward the limit once "
     "its result arrived, so that its exit overlaps the next fork (limit 1: "
     "0.86x the raw fork instead of about 1.25x), because the limit promises "
     "never more processes at once, and bounds the memory they hold. Not "
     "done: skipping the fflush when no stream holds output (it would need "
     "glibc's private list of streams). This ratio moves a lot between runs "
     "on this shared machine."),
    ("pprocess::mpi pmap of 1M trivial tasks over",
     "All ranks share this machine's 2 processors, so more ranks bring no more "
     "cores: over 3 ranks, 3 rank processes and their 6 pool processes share 2 "
     "cores, and spreading the work costs more than it gains. Each piece a rank "
     "is given runs as a new local pmap, which forks a fresh pool of `limit` "
     "processes (2 here): measured when this row was added, a pmap of 1M tasks "
     "handed each rank about 7 pieces over 2 ranks and about 11 over 3 "
     "(sched_process_fork: 335-362 per rank over 16 pmaps at -np 3), and a rank "
     "is a costly process to fork: about 410 mappings (Open MPI's libraries and "
     "shared-memory segments), 30 MB resident. In `perf record -g` at -np 3, "
     "copying and tearing down page tables and mappings for those forks "
     "(copy_page_range, dup_mmap, ...) took about 32% of each rank's own CPU "
     "samples, page faults 13%, scheduling 11%, pprocess::mpi's own code 3-10%. "
     "mpi4py's rate grows with its workers (0.7-1.1 M tasks/s with 1, "
     "0.9-2.0 M with 2 in those runs) while pmap's fell from 2 ranks to 3 "
     "(10-14 M to 5-10 M tasks/s): 4.2-7.4x over 3 ranks, 12-16x over 2. Since "
     "then a rank forks one pool per call, which serves every piece it is given "
     "(Exchange::start_parts): 13.9x over 3 ranks, 23.8x over 2 in the run of "
     "2026-12-02."),
    ("pprocess::mpi pmap on one rank (-np 1), 1M trivial",
     "On one rank the whole pmap is one piece that rank 0 runs through the same "
     "local pprocess::Map as pprocess::pmap; what differs is the second trip of "
     "every result, and with 1M trivial elements taking in the results is what "
     "bounds the run (the rank's own CPU time per run is in the note above). "
     "Measured when this row was added (0.68-0.73x): half of the extra time was "
     "a scan of the local Map's states one element at a time, the rest fresh "
     "pages for a second copy of the elements and a second result table. Since "
     "then the scan goes a run of storage at a time (Map::settled_count, "
     "value_count), the elements are shared with the pool (Exchange::start_parts) "
     "and rank 0 stores its own results as they come (0.83x in the run of "
     "2026-12-02, 03:42). Then rank 0's mpi::Map stopped copying its own "
     "pieces' results: it reads them in the local Map where they are (lent "
     "runs; 0.89x at 05:52, the rank's own CPU 33 against 29 ms), and reading "
     "in order goes through a window of those values that lie together, a "
     "compare per element instead of a look-up: about 1.0x, the rank's CPU "
     "equal to pprocess::pmap's, in interleaved runs since. With elements "
     "that do work (the 50 µs row) "
     "the difference disappears."),
    ("pprocess::mpi pmap on one rank (-np 1), 10k",
     "Both sides run the same local pool; the rank's own CPU per run (in the "
     "note) stays within a millisecond or so of pprocess::pmap's, so a miss here "
     "is the machine's load: compare the middle half of the rounds."),
    ("pprocess::mpi CPU-bound",
     "The raw limit's column is the same 16 tasks on rank 0 in 2 processes "
     "forked by hand, in turn with the other two in the same job: when it too "
     "is below 1.8x, other programs held the processors during the run."),
    ("pprocess::mpi idle rank",
     "A waiting rank polls: a turn of its loop (MPI_Improbe for messages, "
     "MPI_Testall for sends) and a sleep that doubles up to a millisecond, "
     "about a thousand wake-ups a second; Open MPI's own threads count too "
     "(RUSAGE_SELF covers the whole process)."),
    ("reuse = true through manage, one call at a time: speed-up over Pool.apply",
     "This row is the latency twin of the Pool.map(chunksize=1) target, added "
     "here: one call at a time is a round trip, bounded by two wake-ups of the "
     "processes involved. The raw socketpair ping-pong (its ratio in "
     "parentheses) is the ceiling; pprocess's round trip is measured against it "
     "in the row above."),
]

# What each library optimization bought, measured when it went in. Kept here
# (not in the generated page) so that `make bench` rewrites the page whole.
OPTIMIZATIONS = [
    ("No acknowledgement on socketpair channels (only persistent channels "
     "acknowledge)",
     "A value costs one write and one read: the channel round trip is within "
     "a few percent of the raw socketpair ping-pong."),
    ("Gather writes (`sendmsg` of header, type name and payload) and reads "
     "straight into the destination for trivially-copyable data",
     "No intermediate copy for `std::vector<double>`: 4 x 64 MiB results at "
     "about the hand-written socket floor before huge pages (0.94x-1.03x)."),
    ("Reuse: two calls in flight per kept process",
     "Queued calls through `manage` went past the raw one-message-per-task "
     "pool (1.11x-1.13x): a kept process never waits for its next call."),
    ("Reuse: short calls several to a write (as many as run in about 2 ms, "
     "up to 256), and read-ahead on the channels of kept processes (one read "
     "takes every frame that has arrived)",
     "Queued calls through `manage` from 89 k to 650 k calls/s (11.2 to 1.5 "
     "µs a call), about 10x the raw one-message-per-task pool; one call at a "
     "time unchanged."),
    ("pmap on a pool forked at the call, sending ranges, with adaptive range "
     "sizes",
     "1M trivial tasks: from a process per element (hundreds of µs each) to "
     "about 0.03 µs per task, 4.5x-6x Pool.map with its default chunksize."),
    ("SharedArray (memfd + SCM_RIGHTS, MAP_POPULATE on receipt)",
     "64 MiB results without any copy: 1.6x-1.8x the hand-written socket "
     "floor when the machine is quiet."),
    ("Transparent huge pages for large received vectors",
     "Zeroing fresh pages bounds bulk results; with huge pages 4 x 64 MiB "
     "`vector<double>` went from about 0.94x to about 1.6x the hand-written "
     "floor."),
    ("Map's results in doubling blocks that never move (was a deque of "
     "512-byte blocks)",
     "pmap of 1M trivial tasks from about 27.7 M to 36 M tasks/s: far fewer "
     "small allocations, and fresh pages instead of heap pages the pool "
     "still shares (each write to those copied a page)."),
    ("Bind symbols at load (`-z now`, passed on to every program that links "
     "pprocess)",
     "A created process no longer runs the dynamic linker for each function "
     "its creator never called, writing a page they share: fork-per-task Map "
     "(limit 2) from 4.7 k to 5.7 k tasks/s. The raw limits link the same way "
     "(they gained as much: 7.0 k to 9.3 k), so the ratios stay fair."),
    ("No allocation per task in the creator's bookkeeping where it could be "
     "avoided (lists that allocate nothing while empty, flat lists of children "
     "and descriptors, the poll loop's vectors kept), and stdio-synchronized "
     "C++ streams no longer flushed on top of `fflush`",
     "Each allocation or flush after a fork writes a page the new process "
     "shares: from 13 to 4.6 allocations and from 14 to 11 page faults per "
     "task in the creator; fork-per-task Map (limit 2) from 6.6 k to 7.4 k "
     "tasks/s."),
    ("Map's results as a value array and a state byte per task in blocks of "
     "fresh pages (was a 16-byte variant per task on the heap), batches "
     "decoded into reused buffers and moved into place a block run at a time",
     "pmap of 1M trivial tasks from 36-38 M to 66 M tasks/s: heap pages the "
     "pool processes still shared were copied on each write (glibc's mmap "
     "threshold grows, so big blocks came from the heap), and a result took "
     "16 bytes instead of 5."),
    ("Read-ahead on the channels an exchange starts for one value (one read "
     "per value instead of a peek, a header read and a payload read), and no "
     "allocation "
     "when sending (iovecs on the stack)",
     "Fork-per-task Map (limit 2) from about 7.4 k to 8.0-8.5 k tasks/s "
     "(measured while a finished process's exit still overlapped the next "
     "fork, an overlap since dropped: see the misses above)."),
    ("The exchange's owner check (a created process may not use its "
     "creator's exchange) from a pid remembered until the next fork, not a "
     "getpid() per call",
     "getpid was 11% of the creator's time with queued reused calls: from "
     "about 640 k to 660-740 k calls/s."),
    ("No allocation per task in the creator once warm (retired exchange "
     "records and their read buffers reused, waiting work in a list that "
     "keeps its capacity, small closures kept inline, the poll loop's lists "
     "held by the exchange instead of thread_local), and one page for the "
     "process table, the descriptor list and the cached pid",
     "Creator allocations per task from 4 to 0.5 (what is left is per Map), "
     "page faults per task from 12 to 9 in the creator and from 24 to 20 in "
     "the created process; the creator's CPU time per task from about 1.45x "
     "to 1.31x the raw loop's. Time per task moved less than this machine's "
     "noise (the created processes compete for the same two cores)."),
    ("A pidfd only for a process that has run 5 ms, or whose end must be "
     "waited for (its channel tells of its end otherwise); a process that "
     "delivered its value reaped when its channel hangs up; /dev/null for "
     "hiding siblings' descriptors opened by the creator once, not by every "
     "created process; only the processes whose end was seen are waited "
     "for; a created process's channel closed by its _exit, not before its "
     "flush (the creator woke at the hang-up before the process could be "
     "reaped, and opened a pidfd to wait)",
     "System calls per task (creator and created process) from 20.2 to "
     "14.3-14.5; pidfds opened from 1 to about 0.12 per task (at limit 1 and "
     "limit 2). Fork-per-task Map (limit 2) from about 1.30x to about "
     "1.1x the raw loop's time per task, compared in alternating runs."),
    ("Small frames (payload up to 64 KiB) read with their type name in one "
     "read; a finished process waited for briefly instead of another poll "
     "round",
     "One syscall fewer per value on each side; fork-per-task Map within a "
     "few percent of before (its cost is the fork and the pages the creator "
     "touches after it, see below)."),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", help="directory with raw-N.json, pprocess-N.json, "
                        "peers-N.json")
    parser.add_argument("out", help="the page to write (docs/performance.md)")
    parser.add_argument("--build-dir", help="the CMake build directory "
                        "(default: the parent of RESULTS)")
    args = parser.parse_args()

    results_dir = Path(args.results).resolve()
    build_dir = Path(args.build_dir) if args.build_dir else results_dir.parent
    results = Results(results_dir)
    if not results.best:
        raise SystemExit(f"report.py: no results in {results_dir}")
    out = Path(args.out).resolve()
    pngs = (out.with_suffix(".png"), out.with_name(out.stem + "-fork-heap.png"))
    plot_overhead(results, results_dir, pngs[0])
    plot_heap(results, results_dir, pngs[1])

    started = None
    stamp = results_dir / "started"
    if stamp.exists():
        try:
            started = int(datetime.datetime.now().timestamp() - float(stamp.read_text()))
        except ValueError:
            pass
    write_page(results, out, pngs, build_dir, started)

    for what, value, target, ok, note, _ in targets(results):
        verdict = ("info" if target == NO_TARGET and value is not None
                   else "n/a " if ok is None else ("PASS" if ok else "MISS"))
        shown = f"{fmt_measured(value, target):>8}" if value is not None else "   n/a  "
        print(f"{verdict}  {shown}  (target {target})  {what}" + (f"  [{note}]" if note else ""))
    print(f"report.py: wrote {out} and {', '.join(p.name for p in pngs)}")


if __name__ == "__main__":
    main()
