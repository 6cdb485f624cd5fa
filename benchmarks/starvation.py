"""Benchmark of the explicit starvation search (check-model --starvation
SIZE --engine explicit): one exploration of every reachable kernel state,
then the fair strongly connected component search for each size asked;
states, steps, wall and CPU seconds, peak memory, and each size's verdict
(with a lasso's prefix and loop lengths).  One exploration serves every
size, where check-model explores once per size.

    python benchmarks/starvation.py --spec NAME --sizes 2,4 [--kernel-order]
                                    [--limit STATES] [--save-lasso DIR]

--save-lasso writes each lasso's steps (context, action, choices) and its
loop start as DIR/<spec>-<size>.json, for a replay test.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from checker import list_order, specs  # noqa: E402
from checker.lasso import Lasso, explore, fair_lasso  # noqa: E402
from model.machine import Model  # noqa: E402


def lasso_doc(model: Model, spec: str, lasso: Lasso, kernel_order: bool) -> dict:
    return {"spec": spec, "size": lasso.size, "kernel_order": kernel_order,
            "loop_start": lasso.loop_start,
            "steps": [[model.actions[st.action].ctx, model.actions[st.action].name, st.choices]
                      for st in lasso.trace.steps]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", required=True)
    ap.add_argument("--sizes", required=True, help="atomic request sizes in cells, e.g. 2,4")
    ap.add_argument("--kernel-order", action="store_true")
    ap.add_argument("--limit", type=int, default=20_000_000)
    ap.add_argument("--save-lasso", type=Path)
    args = ap.parse_args()
    spec = specs.load(args.spec)
    sizes = [int(v) for v in args.sizes.split(",")]
    p = dataclasses.replace(spec.params, sizes=tuple(sorted({*spec.params.sizes, *sizes})))
    model = Model(p)
    start, cpu = time.monotonic(), time.process_time()
    g = explore(model, args.limit, refine=list_order.KernelOrder(model) if args.kernel_order
                else None)
    if g is None:
        print(json.dumps({"spec": spec.name, "verdict": f"more than {args.limit} states"}))
        return 2
    doc = {"spec": spec.name, "sizes_explored": list(p.sizes), "kernel_order": args.kernel_order,
           "states": len(g.states), "steps": sum(map(len, g.edges)),
           "explore_seconds": round(time.monotonic() - start, 1),
           "explore_cpu_seconds": round(time.process_time() - cpu, 1), "sizes": {}}
    for size in sizes:
        t0, c0 = time.monotonic(), time.process_time()
        lasso = fair_lasso(model, g, size)
        doc["sizes"][size] = {
            "verdict": "lasso" if lasso else "none",
            "seconds": round(time.monotonic() - t0, 1),
            "cpu_seconds": round(time.process_time() - c0, 1),
            **({"prefix": lasso.loop_start, "loop": len(lasso.trace.steps) - lasso.loop_start}
               if lasso else {})}
        if lasso and args.save_lasso:
            args.save_lasso.mkdir(parents=True, exist_ok=True)
            out = args.save_lasso / f"{spec.name}-{size}.json"
            tmp = out.with_suffix(".tmp")
            tmp.write_text(json.dumps(lasso_doc(model, spec.name, lasso, args.kernel_order)))
            tmp.replace(out)
    doc["total_seconds"] = round(time.monotonic() - start, 1)
    doc["total_cpu_seconds"] = round(time.process_time() - cpu, 1)
    doc["peak_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(doc, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
