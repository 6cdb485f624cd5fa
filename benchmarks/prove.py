"""Benchmark of check-model --prove: per spec, the time to prove every
property by k-induction (checker/engines/induction.py), each property's k and the
seconds at which it was settled, and peak memory; then, for comparison, how
far BMC gets towards a depth in a time budget (benchmarks/model.py).

    python benchmarks/prove.py [--spec NAME]... [--max-k K] [--timeout SECONDS]
                               [--bmc-depth N] [--bmc-timeout SECONDS]

Each run is a subprocess of its own, so its peak resident memory is its own.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Run as a script, this directory comes first on sys.path, where its html.py
# and trace.py would hide the standard library's modules and distributed.py
# Dask's: take it off. The package is the installed percpu_mc.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]


def one(spec: str, max_k: int) -> None:
    """Prove one spec's properties, printing one JSON document."""
    from percpu_mc.checker import specs
    from percpu_mc.checker.engines.induction import InductionEngine
    from percpu_mc.model.machine import Model
    from percpu_mc.model.properties import PROPERTIES

    sp = specs.load(spec)
    eng = InductionEngine(Model(sp.params), list(PROPERTIES.values()), max_k=max_k)
    start = time.monotonic()
    results, _ = eng.run(sp.depth)  # as check-model --prove: the spec's depth
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "seconds": round(time.monotonic() - start, 2),
                "peak_mb": round(rss, 1),
                "cpu_seconds": round(time.process_time(), 2),
                "base_seconds": round(eng.proof.base_seconds, 2),
                "induction_seconds": round(eng.proof.induction_seconds, 2),
                "results": [
                    {
                        "property": r.prop,
                        "verdict": r.verdict,
                        "k": r.k if r.verdict == "proved" else r.depth,
                        "seconds": round(r.seconds, 2),
                        "reason": getattr(r, "reason", ""),
                    }
                    for r in results
                ],
                "refuted_lemmas": eng.proof.refuted_lemmas,
            }
        ),
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", action="append", dest="specs")
    ap.add_argument("--max-k", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument(
        "--bmc-depth", type=int, default=0, help="also run BMC towards this depth (0: not)"
    )
    ap.add_argument("--bmc-timeout", type=float, default=600)
    ap.add_argument("--one", nargs=2, metavar=("SPEC", "MAX_K"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        one(args.one[0], int(args.one[1]))
        return
    for spec in args.specs or ["v4.13", "v4.13-scaled"]:
        cmd = [sys.executable, __file__, "--one", spec, str(args.max_k)]
        print(f"\n{spec} / induction (max k {args.max_k})", flush=True)
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
            doc = json.loads(out.stdout.strip().splitlines()[-1])
        except subprocess.TimeoutExpired:
            print(f"  timeout {args.timeout:.0f}s")
            doc = None
        if doc:
            print(
                f"  {doc['seconds']:.1f}s wall, {doc['cpu_seconds']:.1f}s cpu, "
                f"peak memory {doc['peak_mb']:.0f} MB; base case (explicit search) "
                f"{doc['base_seconds']:.1f}s, inductive steps {doc['induction_seconds']:.1f}s"
            )
            for r in doc["results"]:
                what = f"k = {r['k']}" if r["verdict"] == "proved" else r["reason"]
                print(
                    f"  {r['property']:<20} {r['verdict']:<9} {what} (settled at {r['seconds']:.1f}s)"
                )
            if doc["refuted_lemmas"]:
                print(f"  lemmas refuted by a reachable state: {doc['refuted_lemmas']}")
        if args.bmc_depth:
            print(f"{spec} / bmc towards depth {args.bmc_depth}", flush=True)
            subprocess.run(
                [
                    sys.executable,
                    str(HERE / "model.py"),
                    "--spec",
                    spec,
                    "--engine",
                    "bmc",
                    "--depth",
                    str(args.bmc_depth),
                    "--timeout",
                    str(args.bmc_timeout),
                ]
            )


if __name__ == "__main__":
    main()
