#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Python's multiprocessing on the workloads of bench/, for docs/performance.md.

Runs each peer several times and prints (or writes, with --out) JSON: for
each name, the best and the median wall-clock time of one run, the items it
handled, seconds per item, items per second and, for bulk results, bytes
per second. The best run is what report.py compares, as it takes the best
repetition of each Google Benchmark: on a shared machine the fastest run is
the one least disturbed by others.

Standard library only. Processes are started with "fork" on every Python
version, as pprocess does (Python 3.14 makes "forkserver" the default on
Linux).
"""

import argparse
import json
import multiprocessing
import os
import platform
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.connection import wait

CTX = multiprocessing.get_context("fork")
MIB = 1 << 20
BULK_BYTES = 64 * MIB


def trivial(x):
    """The trivial task of the overhead benchmarks (bench::trivial)."""
    return x + 1


def make_bytes(seed):
    """A 64 MiB result, every page written."""
    return bytes([seed & 0xFF]) * BULK_BYTES


def spin(rounds):
    """A CPU-bound loop."""
    x = 88172645463325252
    for _ in range(rounds):
        x = (x * 6364136223846793005 + 1442695040888963407) & 0xFFFFFFFFFFFFFFFF
    return x


def spin_rounds_for(seconds):
    probe = 200_000
    best = min(_timed(lambda: spin(probe)) for _ in range(3))
    return int(probe * seconds / best)


def _timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _send_result(conn, x):
    conn.send(trivial(x))
    conn.close()


def process_per_task(tasks, limit=2):
    """One multiprocessing.Process per task, at most `limit` at once, each
    sending its result through a Pipe; every process is joined."""
    live = {}
    started = done = total = 0
    while done < tasks:
        while len(live) < limit and started < tasks:
            reader, writer = CTX.Pipe(duplex=False)
            process = CTX.Process(target=_send_result, args=(writer, started))
            process.start()
            writer.close()
            live[reader] = process
            started += 1
        for reader in wait(list(live)):
            total += reader.recv()
            reader.close()
            live.pop(reader).join()
            done += 1
    return total


class Peers:
    def __init__(self, reps):
        self.reps = reps
        self.results = {}

    def measure(self, name, fn, items, item_bytes=None, reps=None, check=None):
        times = []
        for _ in range(reps or self.reps):
            start = time.perf_counter()
            value = fn()
            times.append(time.perf_counter() - start)
            if check is not None and not check(value):
                raise SystemExit(f"peers.py: {name} returned a wrong result")
        best = min(times)
        entry = {
            "seconds": best,
            "median_seconds": statistics.median(times),
            "reps": len(times),
            "items": items,
            "seconds_per_item": best / items,
            "items_per_second": items / best,
        }
        if item_bytes is not None:
            entry["bytes_per_second"] = items * item_bytes / best
        self.results[name] = entry
        print(f"{name:36s} {best / items * 1e6:12.2f} us/item", file=sys.stderr)


def expected(n):
    """Sum of trivial(i) for i in range(n)."""
    return n * (n + 1) // 2


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="write the JSON here (default: stdout)")
    parser.add_argument("--reps", type=int, default=3, help="runs of each peer")
    parser.add_argument(
        "--scale", type=float, default=1.0, help="multiply the task counts (quick runs)"
    )
    args = parser.parse_args()

    def n(count):
        return max(10, int(count * args.scale))

    peers = Peers(args.reps)

    # Per-task overhead: a fresh process per task.
    tasks = n(200)
    peers.measure(
        "process_per_task",
        lambda: process_per_task(tasks),
        tasks,
        check=lambda v: v == expected(tasks),
    )

    with CTX.Pool(2) as pool:
        pool.map(trivial, range(100))  # the workers are up: time steady state

        one_by_one = n(20_000)
        peers.measure(
            "pool_map_chunksize1",
            lambda: sum(pool.map(trivial, range(one_by_one), chunksize=1)),
            one_by_one,
            check=lambda v: v == expected(one_by_one),
        )
        for count in (100_000, 1_000_000):
            count = n(count)
            peers.measure(
                f"pool_map_default/{count}",
                lambda: sum(pool.map(trivial, range(count))),
                count,
                check=lambda v, c=count: v == expected(c),
            )
        peers.measure(
            "pool_imap_unordered",
            lambda: sum(pool.imap_unordered(trivial, range(one_by_one))),
            one_by_one,
            check=lambda v: v == expected(one_by_one),
        )
        # Latency: one call at a time, as calls through manage() one by one.
        calls = n(5_000)
        peers.measure(
            "pool_apply_latency",
            lambda: sum(pool.apply(trivial, (i,)) for i in range(calls)),
            calls,
            check=lambda v: v == expected(calls),
        )
        peers.measure(
            "pool_bulk_64mib",
            lambda: pool.map(make_bytes, range(4)),
            4,
            item_bytes=BULK_BYTES,
            check=lambda v: [len(b) for b in v] == [BULK_BYTES] * 4,
        )

    with ProcessPoolExecutor(2, mp_context=CTX) as executor:
        list(executor.map(trivial, range(100)))
        count = n(5_000)
        peers.measure(
            "executor_map",
            lambda: sum(executor.map(trivial, range(count))),
            count,
            check=lambda v: v == expected(count),
        )

    # CPU-bound: 4 tasks of ~200 ms over 1 and 2 processes.
    rounds = spin_rounds_for(0.2 * min(1.0, args.scale))
    for processes in (1, 2):
        with CTX.Pool(processes) as pool:
            pool.map(trivial, range(processes))
            peers.measure(
                f"cpu_bound/{processes}",
                lambda: pool.map(spin, [rounds] * 4),
                4,
                reps=max(2, args.reps),
            )

    report = {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
        "start_method": "fork",
        "cpu_count": os.cpu_count(),
        "results": peers.results,
    }
    text = json.dumps(report, indent=2)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as out:
            out.write(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main()
