"""Benchmark of check-model: per spec and engine, the time to reach each depth,
the time to each property's first counterexample, and peak memory.

    python benchmarks/model.py [--depth N] [--spec NAME]... [--engine bmc|explicit]...
                               [--property NAME]... [--timeout SECONDS] [--no-lemmas]

Each (spec, engine) run is a subprocess of its own, so its peak resident
memory (ru_maxrss, Z3 included) is its own; a run that exceeds the timeout is
reported with the depths it reached.  Times are wall clock and, in
brackets, the process's CPU time (Z3 runs in it), which a loaded machine
inflates less.  BMC runs as check-model does: the lemmas of
model/invariants.py are proved and asserted once the next depth
looks costlier than the proof (checker/engines/bmc.py and
strengthen.py), unless
--no-lemmas.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

# Run as a script, this directory comes first on sys.path, where its html.py
# and trace.py would hide the standard library's modules and distributed.py
# Dask's: take it off. The package is the installed percpu_mc.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]


def one(spec: str, engine: str, depth: int, props: list[str], lemmas: bool) -> None:
    """Run one check, streaming a JSON line per depth reached, then the results."""
    from percpu_mc.checker import specs
    from percpu_mc.checker.engines import strengthen
    from percpu_mc.checker.engines.bmc import BMCEngine
    from percpu_mc.checker.engines.explicit import ExplicitEngine
    from percpu_mc.checker.result import Unwatched
    from percpu_mc.model.machine import Model
    from percpu_mc.model.properties import PROPERTIES

    sp = specs.load(spec)
    model = Model(sp.params)
    chosen = [PROPERTIES[n] for n in (props or PROPERTIES)]
    eng = (
        BMCEngine(model, chosen, strengthen.proved_lemmas if lemmas else None)
        if engine == "bmc"
        else ExplicitEngine(model, chosen)
    )
    start, cpu0 = time.monotonic(), time.process_time()

    class Levels(Unwatched):
        """A JSON line per depth settled."""

        def level(self, depth: int, **_: float | None) -> None:
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(
                json.dumps(
                    {
                        "depth": depth,
                        "seconds": round(time.monotonic() - start, 2),
                        "cpu": round(time.process_time() - cpu0, 2),
                        "peak_mb": round(rss, 1),
                    }
                ),
                flush=True,
            )

    results, stats = eng.run(depth, Levels())
    proved = getattr(eng, "proved", None)
    print(
        json.dumps(
            {
                "results": [
                    {
                        "property": r.prop,
                        "verdict": r.verdict,
                        "depth": r.depth,
                        "seconds": round(r.seconds, 2),
                    }
                    for r in results
                ],
                "states": stats.states,
                "cpu": round(time.process_time() - cpu0, 2),
                "lemmas": None if proved is None else [lm.name for lm in proved],
            }
        ),
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--depth", type=int, default=12)
    ap.add_argument("--spec", action="append", dest="specs")
    ap.add_argument("--engine", action="append", dest="engines", choices=("bmc", "explicit"))
    ap.add_argument("--property", action="append", dest="props", default=[])
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--no-lemmas", action="store_true", help="plain BMC, no proved lemmas")
    ap.add_argument("--one", nargs=3, metavar=("SPEC", "ENGINE", "DEPTH"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        one(args.one[0], args.one[1], int(args.one[2]), args.props, not args.no_lemmas)
        return
    for spec in args.specs or ["pre-async", "seed", "v3.18", "v4.7", "v4.13"]:
        for engine in args.engines or ["bmc", "explicit"]:
            cmd = [sys.executable, __file__, "--one", spec, engine, str(args.depth)]
            cmd += [f"--property={p}" for p in args.props]
            cmd += ["--no-lemmas"] if args.no_lemmas else []
            lines: list[str] = []
            try:
                out = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
                lines = out.stdout.splitlines()
                done = True
            except subprocess.TimeoutExpired as e:
                lines = (
                    (e.stdout or b"").decode().splitlines()
                    if isinstance(e.stdout, bytes)
                    else (e.stdout or "").splitlines()
                )
                done = False
            docs = [json.loads(ln) for ln in lines if ln.startswith("{")]
            depths = [d for d in docs if "depth" in d and "results" not in d]
            print(f"\n{spec} / {engine}" + ("" if done else f"  (timeout {args.timeout:.0f}s)"))
            if depths:
                print(
                    "  depth: "
                    + "  ".join(f"{d['depth']}:{d['seconds']:.1f}s({d['cpu']:.1f})" for d in depths)
                )
                print(f"  peak memory {max(d['peak_mb'] for d in depths):.0f} MB")
            for d in docs:
                for r in d.get("results", []):
                    when = (
                        f"first counterexample {r['seconds']:.1f}s"
                        if r["verdict"] == "violated"
                        else f"{r['seconds']:.1f}s"
                    )
                    print(f"  {r['property']:<20} {r['verdict']:<9} depth {r['depth']:<3} {when}")
                if d.get("states"):
                    print(f"  {d['states']} states")
                if "results" in d:
                    print(
                        f"  cpu {d['cpu']:.1f}s"
                        + (
                            ""
                            if engine != "bmc"
                            else "; lemmas asserted: "
                            + (
                                "none (not triggered)"
                                if d["lemmas"] is None
                                else ", ".join(d["lemmas"]) or "none proved"
                            )
                        )
                    )


if __name__ == "__main__":
    main()
