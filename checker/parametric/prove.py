"""Initiation and consecution of the quantified invariants, one Z3 query per
obligation, for every geometry: the geometry is free constants (Scope.symbolic)
under the constraints it states, and each query is `unsat` when the
obligation holds.

An obligation of consecution assumes every invariant in the pre-state, the
guard of one transition with its choices free, and the negation of one
invariant in the post-state.  A model of a failed one is a counterexample to
induction at some geometry, decoded by `cti` (its geometry and the indices
it names)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import z3

from percpu_mc.checker.parametric.counting import counting_facts, implied_facts, initial_facts
from percpu_mc.checker.parametric.invariants import Invariant, all_invariants
from percpu_mc.checker.parametric.relation import initial, transitions
from percpu_mc.checker.parametric.scope import Design, PState, Scope, Transition, choice_const

CELLS_PER_PAGE = 2  # v4.13-counter-fix's cells_per_page: the page of a cell stays linear


@dataclass(frozen=True)
class Obligation:
    invariant: str
    transition: str  # "init" for initiation
    verdict: str  # "unsat" (holds), "sat" (fails), "unknown"
    seconds: float  # wall
    cti: str = ""  # for a failed one: the geometry and values that break it
    cpu: float = 0.0  # seconds of this process's CPU (Z3 runs in it)


@dataclass(frozen=True)
class Problem:
    """Everything one proof needs: the scope, the pre- and post-states'
    invariants, the transitions."""

    scope: Scope
    pages: Any
    geometry: list[Any]
    invariants: list[Invariant]
    transitions: list[Transition]
    # properties the invariants imply (each one query, "implied")
    implied: list[Invariant]


def problem(design: Design = Design(), scope: Scope | None = None) -> Problem:
    """The obligations of `design` for every geometry, or at one fixed
    `scope` (where a failed obligation's model is a counterexample to
    induction small enough to read)."""
    if scope is None:
        S, pages, geometry = Scope.symbolic(CELLS_PER_PAGE)
    else:
        S, pages, geometry = scope, z3.IntVal(0), []
    return Problem(
        S,
        pages,
        geometry,
        all_invariants(design.map_extension == "balance-list"),
        transitions(design),
        [
            Invariant(
                "counter-nonnegative",
                "pcpu_nr_empty_pop_pages: 'The number of empty populated pages' "
                "(b539b87fed37) is never negative",
                lambda S, s: s.ctr >= 0,
                "counter-nonnegative",
            )
        ],
    )


def _solver(timeout_ms: int) -> z3.Solver:
    s = z3.Solver()
    s.set("timeout", timeout_ms)
    return s


def _cti(pb: Problem, m: z3.ModelRef, s: PState, post: PState, w: dict[str, Any]) -> str:
    S = pb.scope

    def v(e: Any) -> str:
        return str(m.eval(e if z3.is_expr(e) else z3.IntVal(e), model_completion=True))

    geo = (
        f"contexts={v(S.N)} live_slots={v(S.M)} chunks={v(S.K)} cells={v(S.C)} "
        f"static_cells={v(S.STATIC)} reserved={v(S.R)}"
    )
    picks = " ".join(f"{k}={v(e)}" for k, e in w.items() if not z3.is_array(e))
    out = f"{geo}; choices: {picks}; mutex {v(s.mutex)}->{v(post.mutex)}, "
    out += f"balance_pc {v(s.bpc)}->{v(post.bpc)}"
    if S.finite:
        nk, n, nm = (e.as_long() for e in (S.K, S.N, S.M))
        for name in ("live", "linked", "to_free", "mep", "ext_running"):
            pre_v = [v(getattr(s, name)[c]) for c in range(nk)]
            post_v = [v(getattr(post, name)[c]) for c in range(nk)]
            out += f"; {name} {pre_v}->{post_v}"
        out += f"; pc {[v(s.pc[i]) for i in range(n)]}->{[v(post.pc[i]) for i in range(n)]}"
        out += f"; chunk {[v(s.chunk[i]) for i in range(n)]}"
        out += f"; live allocations {[v(s.lv[h]) for h in range(nm)]}"
        nc, npg = S.C.as_long(), S.PG.as_long()

        def rows(arr: Any, n: int) -> str:
            return str(
                [
                    "".join("1" if v(arr[c][k]) == "True" else "0" for k in range(n))
                    for c in range(nk)
                ]
            )

        out += f"; counter {v(s.ctr)}->{v(post.ctr)}"
        out += f"; cells in use {rows(s.amap, nc)}->{rows(post.amap, nc)}"
        out += f"; populated {rows(s.pop, npg)}->{rows(post.pop, npg)}"
    return out


def check(
    pb: Problem, only: set[tuple[str, str]] | None = None, timeout_ms: int = 60_000
) -> list[Obligation]:
    """Every obligation (or those named in `only`, as (invariant, transition)
    pairs), in order: initiation, then each transition against each invariant."""
    S = pb.scope
    s = PState.fresh("pre")
    out: list[Obligation] = []
    pre = [inv.holds(S, s) for inv in pb.invariants]

    def pose(inv: Invariant, step: str, query: list[Any], post: PState, w: dict) -> None:
        if only is not None and (inv.name, step) not in only:
            return
        sol = _solver(timeout_ms)
        sol.add(*pb.geometry, *query, z3.Not(inv.holds(S, post)))
        t0, c0 = time.monotonic(), time.process_time()
        r = sol.check()
        wall, cpu = time.monotonic() - t0, time.process_time() - c0
        cti = _cti(pb, sol.model(), s, post, w) if r == z3.sat else ""
        out.append(Obligation(inv.name, step, str(r), wall, cti, cpu))

    for inv in pb.invariants:
        pose(inv, "init", [initial(S, s), *initial_facts(S, s)], s, {})
    for inv in pb.implied:
        pose(inv, "implied", [*pre, *implied_facts(S, s)], s, {})
    for tr in pb.transitions:
        w = {name: choice_const(name, sort, tr.name) for name, sort in tr.choices}
        guard, post = tr.fn(S, s, w)
        facts = counting_facts(S, tr.touches(S, s, w), post)
        for inv in pb.invariants:
            pose(inv, tr.name, [*pre, *facts, guard], post, w)
    return out
