"""Negative controls: the obligations fail where the design is broken.

Each control is a design the relation interprets (Design) next to
v4.13-counter-fix's, and a spec of the finite model with the same change:

- `work-item`: 1a4d76076cda's per-chunk map_extend_work
  (`map_extension = "work-item"`) in place of 4f996e234dad's list serviced
  by the balance work: the work item lives inside struct pcpu_chunk and the
  balance work frees a chunk with it still queued (CVE-2016-4794, first
  half); no-use-after-free.
- `v4.13`: v4.13's counter (occ_pages subtracted after the population,
  which counts the pages it populates; a failed population gives nothing
  back: the population-failure drift); counter-exact.
- the injected counter bugs rebuilt on v4.13-counter-fix
  (specs/controls/, loaded by path: they are not among the shipped
  specs every engine test runs); counter-exact.

The same obligations are posed for every geometry; a failed one is then
re-posed at small fixed geometries (quantifiers unrolled, decidable) for a
counterexample to induction, and the finite engines (check-model's
portfolio) on the spec find the reachable violation of the property.  The
small CTIs come from the relation, which is looser than the model, so one
may be unreachable at its own geometry; the violation the finite engines
find is what shows the failure real."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

from percpu_mc.checker import specs
from percpu_mc.checker.engines.portfolio import PortfolioEngine
from percpu_mc.checker.parametric.conformance import design_of
from percpu_mc.checker.parametric.prove import Obligation, check, problem
from percpu_mc.checker.parametric.scope import Design, Scope
from percpu_mc.checker.result import Violated
from percpu_mc.model.machine import Model
from percpu_mc.model.params import Params
from percpu_mc.model.properties import PROPERTIES


def work_item_mutant(p: Params) -> Params:
    return replace(p, switches=replace(p.switches, map_extension="work-item"))


# (spec, the property its design breaks)
SPECS = {
    "v4.13": "counter-exact",
    "v4.13-counter-fix-inject-free-forgets-count": "counter-exact",
    "v4.13-counter-fix-inject-occupied-tail-off-by-one": "counter-exact",
    "v4.13-counter-fix-inject-atomic-fit-unpopulated": "counter-exact",
}


def small_scopes() -> list[tuple[int, int, int, int, int, bool]]:
    """(contexts, slots, chunks, cells, static cells, reserved), smallest first."""
    out = []
    for n, m, k, cells in itertools.product((1, 2), (1, 2), (2, 3), (2, 4)):
        out += [(n, m, k, cells, 1, False)] + ([(n, m, k, cells, 1, True)] if k >= 3 else [])
    return sorted(out, key=lambda g: (g[0] + g[1] + g[2] + g[3], g[5]))


def small_cti(design: Design, invariant: str, transition: str) -> Obligation | None:
    """The failed obligation at the smallest fixed geometry where it fails."""
    for geo in small_scopes():
        pb = problem(design, Scope.fixed(*geo))
        (ob,) = check(pb, only={(invariant, transition)})
        if ob.verdict == "sat":
            return ob
    return None


@dataclass(frozen=True)
class Control:
    name: str
    failed: list[Obligation]  # the obligations not proved for every geometry
    ctis: list[Obligation]  # per failed obligation, its counterexample at a small geometry
    violation: Violated | None  # the finite engines on the spec


def run(
    name: str,
    design: Design,
    p: Params,
    prop: str,
    depth: int,
    timeout_ms: int = 20_000,
    invariants: set[str] | None = None,
) -> Control:
    """The obligations of `design` for every geometry (those of `invariants`
    only, if given), a small CTI for each that fails, and the finite
    engines' violation of `prop` on spec params p."""
    pb = problem(design)
    only = None
    if invariants is not None:
        steps = ["init"] + [t.name for t in pb.transitions]
        only = {(i, t) for i in invariants for t in steps}
    failed = [o for o in check(pb, only, timeout_ms) if o.verdict != "unsat"]
    ctis = [c for o in failed if (c := small_cti(design, o.invariant, o.transition))]
    results, _ = PortfolioEngine(Model(p), [PROPERTIES[prop]]).run(depth)
    found = next((r for r in results if isinstance(r, Violated)), None)
    return Control(name, failed, ctis, found)


def run_work_item(p: Params, depth: int = 20, timeout_ms: int = 20_000) -> Control:
    """The work-item mutant of spec params p (no-use-after-free)."""
    q = work_item_mutant(p)
    return run(
        "v4.13-counter-fix, map_extension = work-item",
        design_of(q),
        q,
        "no-use-after-free",
        depth,
        timeout_ms,
    )


def load(name: str) -> specs.Spec:
    """One of SPECS: a shipped spec, or one of specs/controls/."""
    path = specs.SPEC_DIR / "controls" / f"{name}.toml"
    return specs.load(str(path) if path.is_file() else name)


def run_spec(
    name: str, depth: int = 16, timeout_ms: int = 20_000, invariants: set[str] | None = None
) -> Control:
    """The control of one of SPECS."""
    p = load(name).params
    return run(name, design_of(p), p, SPECS[name], depth, timeout_ms, invariants)
