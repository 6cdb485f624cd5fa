"""Negative controls: the obligations fail where the design is broken.

The mutant is v4.13-counter-fix with 1a4d76076cda's per-chunk
map_extend_work (`map_extension = "work-item"`) in place of 4f996e234dad's
list serviced by the balance work: the work item lives inside struct
pcpu_chunk and the balance work frees a chunk with it still queued
(CVE-2016-4794, first half).  The parameterized relation interprets that
switch, so the same obligations are posed; a failed one is then re-posed
at small fixed geometries (quantifiers unrolled, decidable) for a
counterexample to induction, and the finite engines on the mutant find the
reachable violation of the property it points at.  The small CTIs come
from the relation, which is looser than the model (the balance work may
collect any subset of the free chunks), so one may be unreachable at its
own geometry; the violation the finite engines find is what shows the
failure real."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

from percpu_mc.checker.engines.portfolio import PortfolioEngine
from percpu_mc.checker.parametric.prove import Obligation, check, problem
from percpu_mc.checker.parametric.scope import Scope
from percpu_mc.checker.result import Violated
from percpu_mc.model.machine import Model
from percpu_mc.model.params import Params
from percpu_mc.model.properties import PROPERTIES


def work_item_mutant(p: Params) -> Params:
    return replace(p, switches=replace(p.switches, map_extension="work-item"))


def small_scopes() -> list[tuple[int, int, int, int, int, bool]]:
    """(contexts, slots, chunks, cells, static cells, reserved), smallest first."""
    out = []
    for n, m, k, cells in itertools.product((1, 2), (1, 2), (2, 3), (2, 4)):
        out += [(n, m, k, cells, 1, False)] + ([(n, m, k, cells, 1, True)] if k >= 3 else [])
    return sorted(out, key=lambda g: (g[0] + g[1] + g[2] + g[3], g[5]))


def small_cti(map_extension: str, invariant: str, transition: str) -> Obligation | None:
    """The failed obligation at the smallest fixed geometry where it fails."""
    for geo in small_scopes():
        pb = problem(map_extension, Scope.fixed(*geo))
        (ob,) = check(pb, only={(invariant, transition)})
        if ob.verdict == "sat":
            return ob
    return None


@dataclass(frozen=True)
class Control:
    name: str
    failed: list[Obligation]  # the obligations not proved for every geometry
    ctis: list[Obligation]  # per failed obligation, its counterexample at a small geometry
    violation: Violated | None  # the finite engines on the mutant


def run_work_item(p: Params, depth: int = 20, timeout_ms: int = 20_000) -> Control:
    """The work-item mutant of spec params p: the obligations for every
    geometry, a small CTI for each that fails, and the finite engines'
    (check-model's portfolio) violation of no-use-after-free."""
    failed = [o for o in check(problem("work-item"), timeout_ms=timeout_ms) if o.verdict != "unsat"]
    ctis = [c for o in failed if (c := small_cti("work-item", o.invariant, o.transition))]
    model = Model(work_item_mutant(p))
    results, _ = PortfolioEngine(model, [PROPERTIES["no-use-after-free"]]).run(depth)
    found = next((r for r in results if isinstance(r, Violated)), None)
    return Control("v4.13-counter-fix, map_extension = work-item", failed, ctis, found)
