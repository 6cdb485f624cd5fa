"""Benchmark of check-model --sweep: the parallel overhead of the local
process pool, and the per-job overhead of a Dask distributed cluster.

    python benchmarks/sweep.py [--workers 2] [--depth 5] [--tiny 200]

1. A sweep of real jobs (v4.13, PCPU_EMPTY_POP_PAGES_HIGH=1..4, every
   property, explicit search to --depth) on a local pool of --workers
   processes: wall time against (sum of job times) / workers; 1.0 is perfect.
2. The same sweep on a Dask LocalCluster of --workers processes (one thread
   each), started before the clock: the same ratio.
3. --tiny jobs of one step each on both: (wall time - sum / workers) / jobs is
   the overhead one job costs in each engine.

CPU shared with other work inflates the ratios; `os.getloadavg()` is printed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

# Run as a script, this directory comes first on sys.path, where its html.py
# and trace.py would hide the standard library's modules and distributed.py
# Dask's: take it off. The package is the installed percpu_mc.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from percpu_mc.checker import sweep


def measure(label: str, jobs: list[sweep.Job], workers: int, scheduler: object | None) -> None:
    start = time.monotonic()
    results = sweep.run_dask(jobs, scheduler) if scheduler else sweep.run_local(jobs, workers)
    wall = time.monotonic() - start
    total = sum(r.seconds for r in results)
    ideal = total / workers
    print(
        f"{label:<28} {len(jobs):>4} jobs  wall {wall:7.2f}s  sum {total:7.2f}s  "
        f"sum/{workers} {ideal:6.2f}s  ratio {wall / ideal:5.2f}  "
        f"overhead/job {1000 * (wall - ideal) / len(jobs):6.1f} ms",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--depth", type=int, default=5)
    ap.add_argument("--tiny", type=int, default=200)
    args = ap.parse_args()
    real = sweep.build_jobs(
        ["v4.13"], ["PCPU_EMPTY_POP_PAGES_HIGH=1..4"], [], args.depth, ["explicit"], None
    )
    tiny = sweep.build_jobs(
        ["v4.13"], [f"empty_pop_pages_high=1..{args.tiny // 8}"], [], 1, ["explicit"], None
    )[: args.tiny]
    print(f"load average before: {os.getloadavg()[0]:.2f}, cores: {os.cpu_count()}")
    measure(f"local pool, depth {args.depth}", real, args.workers, None)
    measure("local pool, depth 1", tiny, args.workers, None)

    from distributed import LocalCluster

    with LocalCluster(
        n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as cluster:
        measure(f"dask LocalCluster, depth {args.depth}", real, args.workers, cluster)
        measure("dask LocalCluster, depth 1", tiny, args.workers, cluster)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
