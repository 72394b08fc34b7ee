#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""mpi4py.futures on the workload of mpi_bench.cpp, for docs/performance.md.

Runs under the same mpirun line as mpi_bench (the same -np):

    mpirun -np 3 --oversubscribe --bind-to none \\
        /usr/bin/python3 -m mpi4py.futures bench/mpi4py_peer.py --out FILE

Rank 0 runs this script and the other ranks are MPIPoolExecutor's workers
(rank 0 computes nothing). Times MPIPoolExecutor().map over trivial tasks
with chunksize 1000 (1M tasks) and chunksize 1 (fewer: it is slow) and
writes JSON in the shape of mpi_bench's: for each name, the best and median
wall-clock time of one run and items per second. The best run is what
report.py compares, as for the other peers.

mpi4py is Debian's python3-mpi4py, installed for /usr/bin/python3 (built
against the system's Open MPI), not necessarily for the python3 on PATH.
"""

import argparse
import json
import platform
import statistics
import sys
import time

import mpi4py
from mpi4py import MPI
from mpi4py.futures import MPIPoolExecutor


def trivial(x):
    """The trivial task of the overhead benchmarks (bench::trivial)."""
    return x + 1


def expected(n):
    """Sum of trivial(i) for i in range(n)."""
    return n * (n + 1) // 2


def measure(results, name, fn, items, reps, check):
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
        if not check(value):
            raise SystemExit(f"mpi4py_peer.py: {name} returned a wrong result")
    best = min(times)
    results[name] = {
        "items": items,
        "runs": len(times),
        "seconds": best,
        "median_seconds": statistics.median(times),
        "seconds_per_item": best / items,
        "items_per_second": items / best,
    }
    print(f"{name:44s} {best / items * 1e6:12.4f} us/item  {items / best:10.4g} items/s "
          f"(best of {len(times)})", file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="write the JSON here (default: stdout)")
    parser.add_argument("--reps", type=int, default=3, help="runs of each measurement")
    args = parser.parse_args()

    ranks = MPI.COMM_WORLD.Get_size()
    results = {}
    with MPIPoolExecutor() as executor:
        # The workers are up and connected: time steady state.
        list(executor.map(trivial, range(1000), chunksize=1))
        tasks = 1_000_000
        measure(results, f"mpi4py/map_chunksize1000/ranks:{ranks}",
                lambda: sum(executor.map(trivial, range(tasks), chunksize=1000)),
                tasks, args.reps, lambda v: v == expected(tasks))
        # One message per task: context only, on fewer tasks.
        few = 2_000
        measure(results, f"mpi4py/map_chunksize1/ranks:{ranks}",
                lambda: sum(executor.map(trivial, range(few), chunksize=1)),
                few, max(2, args.reps - 1), lambda v: v == expected(few))

    report = {
        "ranks": ranks,
        "workers": ranks - 1,
        "mpi4py": mpi4py.__version__,
        "python": platform.python_version(),
        "executable": sys.executable,
        "mpi": MPI.Get_library_version().split(",")[0].strip(),
        "results": results,
    }
    text = json.dumps(report, indent=2)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as out:
            out.write(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main()
