"""check-model --starvation SIZE: search a starvation lasso for atomic
requests of SIZE cells (checker/engines/starvation.py) and show it (JSON
document and human output), the loop marked."""

from __future__ import annotations

import dataclasses
import json
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from percpu_mc.checker import specs
from percpu_mc.checker.cli.common import quiet_closed_stdout, stdout_console
from percpu_mc.checker.engines import list_order
from percpu_mc.checker.engines.fairness import FAIRNESS
from percpu_mc.checker.engines.lasso import Lasso
from percpu_mc.checker.engines.liveness import SearchError
from percpu_mc.checker.engines.starvation import UNKNOWN, NoLasso, Searched, search
from percpu_mc.checker.errors import Failure
from percpu_mc.checker.report import counterexample
from percpu_mc.model.machine import Model
from percpu_mc.traces.writer import HEADER_LINES, write_trace


def document(
    spec_name: str, model: Model, size: int, engine: str, found: Lasso | NoLasso, seconds: float
) -> dict[str, Any]:
    p = model.p
    out: dict[str, Any] = {
        "spec": spec_name,
        "engine": engine,
        "size_cells": size,
        "size_pages": size / p.cells_per_page,
        "empty_pop_pages_high": p.empty_pop_pages_high,
        "fairness": FAIRNESS,
        "seconds": round(seconds, 3),
    }
    if isinstance(found, NoLasso):
        out.update(verdict="none" if found.settled else UNKNOWN, reason=found.reason)
        return out
    lasso = found
    steps = counterexample.steps(model, lasso.trace)
    for st in steps:
        st["in_loop"] = st["step"] > lasso.loop_start
    out.update(
        verdict="lasso",
        prefix=lasso.loop_start,
        loop=len(lasso.trace.steps) - lasso.loop_start,
        steps=steps,
    )
    return out


def human(doc: dict[str, Any], model: Model, lasso: Lasso | None, out: Console) -> None:
    head = (
        f"spec {doc['spec']}, atomic requests of {doc['size_cells']} cells "
        f"({doc['size_pages']:g} pages; PCPU_EMPTY_POP_PAGES_HIGH = "
        f"{doc['empty_pop_pages_high']}), engine {doc['engine']} ({doc['seconds']:.1f}s)"
        + (", the kernel's list order" if doc.get("list_order") == "kernel" else "")
    )
    out.print(head, highlight=False, markup=False)
    for ln in textwrap.wrap("fairness: " + FAIRNESS, 96, subsequent_indent="  "):
        out.print(ln, highlight=False, markup=False)
    if lasso is None:
        what = "" if doc["verdict"] == UNKNOWN else "no starvation lasso: "
        out.print(what + doc["reason"], highlight=False, markup=False)
        return
    n = len(lasso.trace.steps)
    out.print(
        f"starvation lasso: a prefix of {lasso.loop_start} steps, then a loop of "
        f"{n - lasso.loop_start} steps repeated forever",
        highlight=False,
        markup=False,
    )
    lines = counterexample.render_steps(model, lasso.trace)
    marker = f"  ---- loop: steps {lasso.loop_start + 1}..{n} repeat forever ----"
    first = f"  {lasso.loop_start + 1:>3}. "
    for ln in lines:
        if ln.startswith(first):
            out.print(marker, highlight=False, markup=False)
        out.print(ln, highlight=False, markup=False)
    out.print(
        f"  ---- the state after step {n} is the state after step {lasso.loop_start} "
        "(kernel state): back to the loop's start ----",
        highlight=False,
        markup=False,
    )


class BadRequest(Failure):
    """A size the spec's geometry cannot have, or options that do not go together."""


def emit(out_dir: Path, spec_name: str, model: Model, lasso: Lasso, err: Console) -> dict[str, Any]:
    """--emit-log: the lasso as DIR/<spec>-starvation-<size>.trace; the header
    names the loop's steps, and its first and last log lines are reported."""
    n, first = len(lasso.trace.steps), lasso.loop_start + 1
    path = out_dir / f"{spec_name}-starvation-{lasso.size}.trace"
    step_line = write_trace(
        path,
        model,
        lasso.trace,
        f"spec {spec_name}, starvation lasso for atomic requests of "
        f"{lasso.size} cells: steps {first}..{n} repeat forever",
    )
    before = step_line[lasso.loop_start - 1] if lasso.loop_start > 0 else HEADER_LINES
    lines = (before + 1, step_line[n - 1])
    err.print(
        f"wrote {path} (the loop: lines {lines[0]}..{lines[1]})", highlight=False, markup=False
    )
    return {"path": str(path), "loop_lines": list(lines)}


def main(args: Any) -> int:
    """The --starvation run of check-model: exit 1 when a lasso is found."""
    spec = specs.load(args.spec)
    p = spec.params
    size = args.starvation
    if not 1 <= size <= p.unit_cells:
        raise BadRequest(
            f"--starvation: the size must be between 1 and {p.unit_cells} cells "
            f"(the unit of spec {spec.name}), not {size}"
        )
    if args.kernel_order and args.engine not in ("explicit", "explicit-python"):
        raise BadRequest(
            "--kernel-order: only the explicit engine tracks the list order (--engine explicit)"
        )
    if args.kernel_order and args.abstract_order:
        raise BadRequest("--kernel-order and --abstract-order: one list order or the other")
    if size not in p.sizes:  # the request must be one the environment can make
        p = dataclasses.replace(p, sizes=tuple(sorted({*p.sizes, size})))
    model = Model(p)
    depth = spec.depth if args.depth is None else args.depth
    engine = args.engine if args.engine in ("explicit", "explicit-python") else "bmc"
    start = time.monotonic()
    err = Console(stderr=True)

    def progress(n: int, secs: float) -> None:
        # BMC reports the depth done, the explicit searches the states stored
        what = f"no lasso of {n} steps" if engine == "bmc" else f"{n} states"
        if secs > 3:
            err.print(f"[dim]{spec.name}: {what} ({secs:.1f}s)[/dim]", highlight=False)

    # the kernel's list order by default where it is tracked (the explicit searches)
    order = engine != "bmc" and not args.abstract_order
    why = list_order.untracked(model)
    if order and why and not args.kernel_order:
        err.print(f"check-model: {why}: the model's order instead", highlight=False, markup=False)
        order = False
    searched = Searched()
    try:
        found = search(model, size, engine, depth, args.limit, progress, order, searched)
    except (SearchError, ValueError) as e:
        raise BadRequest(f"--starvation: {e}") from None
    for note in searched.notes:
        err.print(f"check-model: {note}", highlight=False, markup=False)
    doc = document(spec.name, model, size, engine, found, time.monotonic() - start)
    lasso = found if isinstance(found, Lasso) else None
    doc["list_order"] = "kernel" if order else "any (the model's abstraction)"
    doc["search"] = searched.search
    if searched.stats is not None:
        st = searched.stats
        doc["native"] = {
            "states": st.states,
            "loop_edges": st.edges,
            "transitions": st.transitions,
            "components": st.components,
            "saturated": st.saturated,
            "bytes": st.bytes,
            "explore_seconds": round(st.explore_seconds, 3),
            "seconds": round(st.seconds, 3),
        }
    if lasso is not None and args.emit_log is not None:
        doc["log"] = emit(args.emit_log, spec.name, model, lasso, err)
    try:
        if args.json:
            json.dump(doc, sys.stdout, indent=1)
            sys.stdout.write("\n")
        else:
            human(doc, model, lasso, stdout_console(width=100, soft_wrap=True))
        sys.stdout.flush()
    except BrokenPipeError:  # the reader left (`| head`): the verdict's status stands
        quiet_closed_stdout()
    return 1 if lasso else 0
