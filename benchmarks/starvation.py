"""Benchmark of the explicit starvation search.

    python benchmarks/starvation.py --native --spec NAME --sizes 2,4 [--limit STATES]

runs, each in a child process of its own (wall seconds and that process's
peak RSS), `check-model --starvation SIZE --engine explicit --json` (the
native search in the kernel's list order) and with `--abstract-order`, for
each size, beside the compiled safety search of the same spec run to
exhaustion (`check-model --engine explicit --depth 100000 --json`), and
prints the ratios of time and memory.  The safety search stores one state
per symmetry class and the model's list order, the starvation search every
kernel state with the kernel's order: not the same states, so each row
gives its state count.

    python benchmarks/starvation.py --spec NAME --sizes 2,4 [--kernel-order]
                                    [--starver [--others 2,4]] [--limit STATES]
                                    [--save-lasso DIR]

measures the Python fair-SCC search (the reference) in this process: one
exploration of every reachable kernel state, then the fair strongly
connected component search for each size asked; states, steps, wall and CPU
seconds, peak memory, and each size's verdict (with a lasso's prefix and
loop lengths).  One exploration serves every size, where check-model
explores once per size.

--save-lasso writes each lasso's steps (context, action, choices) and its
loop start as DIR/<spec>-<size>.json, for a replay test.  --starver narrows
the environment to find a lasso faster: alloc#1 makes only atomic requests
of the (one) size asked, the other contexts only non-atomic requests of the
unit (or of the sizes --others lists).  A lasso found so is a lasso of the
whole system (when and what the contexts request is a choice, never a
fairness obligation); "none" then says nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterable

# Run as a script, this directory comes first on sys.path, where its html.py
# and trace.py would hide the standard library's modules and distributed.py
# Dask's: take it off. The package is the installed percpu_mc.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from percpu_mc.checker import specs
from percpu_mc.checker.engines import list_order
from percpu_mc.checker.engines.lasso import Lasso, Refinement, explore, fair_lasso
from percpu_mc.model.machine import Model
from percpu_mc.model.state import State


class Starver:
    """A Refinement that keeps another's steps (or the model's) but the
    requests: alloc#1 only atomic ones of `size`, the others only
    non-atomic ones of the sizes `others` (the whole unit by default)."""

    def __init__(
        self, model: Model, size: int, inner: Refinement | None, others: tuple[int, ...] = ()
    ):
        self.model, self.size, self.inner = model, size, inner
        self.others = others or (model.p.unit_cells,)

    def initial(self, s: State) -> Any:
        return self.inner.initial(s) if self.inner else None

    def advance(self, s: State, t: State, extra: Any) -> Any:
        return self.inner.advance(s, t, extra) if self.inner else None

    def steps(self, s: State, extra: Any) -> Iterable[tuple[int, dict[str, int], State]]:
        for ai, ch, t in self.inner.steps(s, extra) if self.inner else self.model.successors(s):
            a = self.model.actions[ai]
            if a.name == "pcpu_alloc (atomic)" and (a.ctx != 0 or ch["size"] != self.size):
                continue
            if a.name == "pcpu_alloc (non-atomic)" and (
                a.ctx == 0 or ch["size"] not in self.others
            ):
                continue
            yield ai, ch, t


def lasso_doc(model: Model, spec: str, lasso: Lasso, kernel_order: bool) -> dict:
    return {
        "spec": spec,
        "size": lasso.size,
        "kernel_order": kernel_order,
        "loop_start": lasso.loop_start,
        "steps": [
            [model.actions[st.action].ctx, model.actions[st.action].name, st.choices]
            for st in lasso.trace.steps
        ],
    }


def child(args: list[str]) -> dict[str, Any]:
    """check-model with `args` in a process of its own: its JSON document,
    wall seconds and peak RSS (MiB)."""
    cmd = [sys.executable, "-m", "percpu_mc.checker.cli.check_model", *args]
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = proc.stdout.read() if proc.stdout else b""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    doc = json.loads(out) if out.strip() else {}
    return {
        "command": "check-model " + " ".join(args),
        "exit": proc.returncode,
        "wall_seconds": round(time.monotonic() - start, 1),
        "peak_mib": round(usage.ru_maxrss / 1024),
        "doc": doc,
    }


def native(spec: str, sizes: list[int], limit: int) -> int:
    """The native starvation search beside the compiled safety search."""
    run = child(["--spec", spec, "--engine", "explicit", "--depth", "100000", "--json"])
    safety = {k: run[k] for k in ("command", "exit", "wall_seconds", "peak_mib")} | {
        "states": run["doc"].get("states")
    }
    rows = []
    for size in sizes:
        for order in ("kernel", "abstract"):
            args = ["--spec", spec, "--starvation", str(size), "--engine", "explicit"]
            args += ["--limit", str(limit), "--json"]
            args += ["--abstract-order"] if order == "abstract" else []
            run = child(args)
            doc = run.pop("doc")
            row = run | {
                "size": size,
                "list_order": order,
                "verdict": doc.get("verdict"),
                "prefix": doc.get("prefix"),
                "loop": doc.get("loop"),
                "native": doc.get("native"),
            }
            if safety["wall_seconds"] and safety["peak_mib"]:
                row["time_vs_safety"] = round(row["wall_seconds"] / safety["wall_seconds"], 2)
                row["memory_vs_safety"] = round(row["peak_mib"] / safety["peak_mib"], 2)
            rows.append(row)
    print(json.dumps({"spec": spec, "safety": safety, "starvation": rows}, indent=1))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--native", action="store_true", help="the native search (see above)")
    ap.add_argument("--spec", required=True)
    ap.add_argument("--sizes", required=True, help="atomic request sizes in cells, e.g. 2,4")
    ap.add_argument("--kernel-order", action="store_true")
    ap.add_argument("--starver", action="store_true", help="narrow the requests (see above)")
    ap.add_argument(
        "--others",
        default="",
        help="--starver: the sizes the other contexts request, non-atomic (default: the unit)",
    )
    ap.add_argument("--limit", type=int, default=20_000_000)
    ap.add_argument("--save-lasso", type=Path)
    args = ap.parse_args()
    spec = specs.load(args.spec)
    sizes = [int(v) for v in args.sizes.split(",")]
    if args.native:
        return native(spec.name, sizes, args.limit)
    p = dataclasses.replace(spec.params, sizes=tuple(sorted({*spec.params.sizes, *sizes})))
    model = Model(p)
    start, cpu = time.monotonic(), time.process_time()
    refine: Refinement | None = list_order.KernelOrder(model) if args.kernel_order else None
    if args.starver:
        if len(sizes) != 1:
            ap.error("--starver: one size")
        refine = Starver(
            model, sizes[0], refine, tuple(int(v) for v in args.others.split(",") if v)
        )
    g = explore(model, args.limit, refine=refine)
    if g is None:
        print(json.dumps({"spec": spec.name, "verdict": f"more than {args.limit} states"}))
        return 2
    doc = {
        "spec": spec.name,
        "sizes_explored": list(p.sizes),
        "kernel_order": args.kernel_order,
        "starver": args.starver,
        "states": len(g.states),
        "steps": sum(map(len, g.edges)),
        "explore_seconds": round(time.monotonic() - start, 1),
        "explore_cpu_seconds": round(time.process_time() - cpu, 1),
        "sizes": {},
    }
    for size in sizes:
        t0, c0 = time.monotonic(), time.process_time()
        lasso = fair_lasso(model, g, size)
        doc["sizes"][size] = {
            "verdict": "lasso" if lasso else "none",
            "seconds": round(time.monotonic() - t0, 1),
            "cpu_seconds": round(time.process_time() - c0, 1),
            **(
                {"prefix": lasso.loop_start, "loop": len(lasso.trace.steps) - lasso.loop_start}
                if lasso
                else {}
            ),
        }
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
