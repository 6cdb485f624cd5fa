"""checker/peephole.py: the partial-order reduction removes no reachable state.

Its soundness rests on one claim: two steps it calls independent commute in
every state (each is enabled after the other exactly when before, and both
orders reach the same state, history variables aside).  That is checked on
the concrete interpretation, on random reachable states and on arbitrary
type-correct ones, for every pair of footprint classes it calls independent.
Then end to end: BMC with and without the reduction gives the same verdicts
and the same shortest counterexample lengths."""
from __future__ import annotations

from dataclasses import fields
from functools import cache

import pytest
import z3
from hypothesis import given
from hypothesis import strategies as st
from test_differential import STATES, VARIANTS, WALKS, arbitrary_states, reachable_states

from checker import specs
from checker.bmc import BMCEngine, TransitionRelation, bv_solver
from checker.explicit import successors
from checker.peephole import Footprint, Peephole
from checker.symbolic import Z3Ops
from model.machine import Model
from model.ops import Concrete
from model.properties import PROPERTIES
from model.state import HISTORY_FIELDS, State

CHECKED = ("seed", "v4.7", "v4.13", "pre-async", "v5.14", "reserved")
WALKED = CHECKED[:-1]  # the reserved geometry (124 step instances) walks slowly


@cache
def reduction(variant: str) -> tuple[Model, Peephole, dict[int, Footprint]]:
    model = Model(VARIANTS[variant])
    pp = Peephole(TransitionRelation(model, Z3Ops(model.p.width)))
    of = {n: f for f, ns in pp.classes.items() for n in ns}
    return model, pp, of


def kernel_state(s: State) -> tuple:
    return tuple(getattr(s, f.name) for f in fields(State) if f.name not in HISTORY_FIELDS)


def assert_commute(variant: str, s: State) -> int:
    """Every independent pair (a, b) with a enabled in s: b is enabled after a
    iff before, and if so a then b and b then a end in the same kernel state.
    Returns the number of pairs that ran both ways."""
    model, pp, of = reduction(variant)
    x, ran = Concrete(), 0
    insts = pp.trans.instances

    def step(n: int, t: State) -> tuple[bool, State]:
        ai, ch = insts[n]
        return model.step(x, t, model.actions[ai], ch)

    for a, fa in of.items():
        ok_a, after_a = step(a, s)
        if not ok_a:
            continue
        for b, fb in of.items():
            if not fa.independent(fb):
                continue
            ok_ab, ab = step(b, after_a)
            ok_b, after_b = step(b, s)
            assert ok_ab == ok_b, f"{variant}: {insts[a]} changes whether {insts[b]} is enabled in {s}"
            if ok_b:
                ok_ba, ba = step(a, after_b)
                assert ok_ba, f"{variant}: {insts[b]} disables {insts[a]} in {s}"
                assert kernel_state(ab) == kernel_state(ba), \
                    f"{variant}: {insts[a]} and {insts[b]} do not commute in {s}"
                ran += 1
    return ran


@WALKS
@given(data=st.data())
@pytest.mark.parametrize("variant", WALKED)
def test_independent_steps_commute_on_reachable_states(variant: str, data: st.DataObject) -> None:
    for s in data.draw(reachable_states(variant), label="walk"):
        assert_commute(variant, s)


@STATES
@given(data=st.data())
@pytest.mark.parametrize("variant", CHECKED)
def test_independent_steps_commute_on_arbitrary_states(variant: str, data: st.DataObject) -> None:
    assert_commute(variant, data.draw(arbitrary_states(variant), label="state"))


@pytest.mark.parametrize("variant", CHECKED)
def test_commutation_is_not_vacuous(variant: str) -> None:
    """Within two steps of init() some independent pairs run both ways."""
    model = reduction(variant)[0]
    states = [model.init()]
    states += [t for _, _, t in successors(model, states[0])]
    assert sum(assert_commute(variant, s) for s in states) > 0


def test_reduction_applies_only_without_history() -> None:
    """The properties that read a history variable are checked unreduced."""
    _, pp, _ = reduction("v4.13")
    kept = {name for name, pr in PROPERTIES.items() if pp.applies(pr)}
    assert kept == {"counter-nonnegative", "counter-exact", "populated-backing",
                    "no-use-after-free", "no-deadlock"}


def test_reduction_forbids_the_wrong_order() -> None:
    """The constraint is not vacuous: of an independent pair, the order with
    the higher-ranked context first is unsatisfiable, the other is not."""
    model, pp, _ = reduction("seed")
    width = model.p.width
    f, gs = next((f, gs) for f, gs in pp.forbidden if gs)
    a, b = pp.classes[f][0], pp.classes[gs[0]][0]
    for first, second, allowed in ((a, b, False), (b, a, True)):
        solver = bv_solver()
        solver.add(pp.between(z3.BitVecVal(first, width), z3.BitVecVal(second, width)))
        assert (solver.check() == z3.sat) == allowed


@pytest.mark.parametrize("spec, depth, violated", [
    ("seed", 6, {"no-deadlock": 2, "counter-exact": 6})])
def test_same_verdicts_with_and_without(spec: str, depth: int, violated: dict[str, int]) -> None:
    """Every property, both ways: same verdict, same shortest length (plain
    BMC against breadth-first search: tests/test_verdicts.py)."""
    model = Model(specs.load(spec).params)
    props = list(PROPERTIES.values())
    runs = [BMCEngine(model, props, reduce=r).run(depth)[0] for r in (True, False)]
    verdicts = [[(r.prop, r.verdict, r.depth) for r in rs] for rs in runs]
    assert verdicts[0] == verdicts[1]
    assert {p: d for p, v, d in verdicts[0] if v == "violated"} == violated
