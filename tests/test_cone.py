"""checker/engines/bmc.py's cone of influence: BMC leaves the fields outside the cone
of the properties it checks without a next-state equation.  That removes no
run only if nothing inside the cone depends on them: checked syntactically
(the cone is closed) and on the concrete interpretation (whatever values the
fields outside it hold, every step is enabled alike and moves the fields in
it alike, and the property keeps its value)."""

from __future__ import annotations

from dataclasses import fields
from functools import cache

import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import STATES, VARIANTS, arbitrary_states, reachable_states

from percpu_mc.checker.engines.bmc import TransitionRelation
from percpu_mc.checker.engines.symbolic import Z3Ops, flat
from percpu_mc.model.machine import Model
from percpu_mc.model.ops import Concrete
from percpu_mc.model.properties import PROPERTIES
from percpu_mc.model.state import HISTORY_FIELDS, State

CASES = [
    (v, p) for v in ("seed", "v4.13", "v5.14") for p in ("no-use-after-free", "atomic-progress")
]


@cache
def relation(variant: str, prop: str) -> TransitionRelation:
    model = Model(VARIANTS[variant])
    return TransitionRelation(model, Z3Ops(model.p.width), [PROPERTIES[prop]])


def with_outside(trans: TransitionRelation, s: State, other: State) -> State:
    """`s` with every field outside the cone taken from `other`."""
    vals = [
        v if j in trans.cone else o for j, ((_, v), (_, o)) in enumerate(zip(flat(s), flat(other)))
    ]
    out, i = {}, 0
    for f in fields(State):
        cur = getattr(s, f.name)
        if isinstance(cur, tuple):
            out[f.name] = tuple(vals[i : i + len(cur)])
            i += len(cur)
        else:
            out[f.name] = vals[i]
            i += 1
    return State(**out)


@pytest.mark.parametrize("variant, prop", CASES)
def test_cone_is_closed(variant: str, prop: str) -> None:
    """It holds what the property and every guard read, and what the update
    of any field in it reads."""
    trans = relation(variant, prop)
    x, s = trans.x, trans.s0
    assert (
        trans.fields.of(x.boolean(PROPERTIES[prop].holds(x, trans.model.kernel, s))) <= trans.cone
    )
    for eff in trans.effects:
        if eff is None:
            continue
        guard, news = eff
        assert trans.fields.of(guard) <= trans.cone
        for j, new in news.items():
            if j in trans.cone:
                assert trans.fields.of(new) <= trans.cone


@pytest.mark.parametrize("variant", ["seed", "v4.13"])
def test_cone_leaves_out_the_history_of_other_properties(variant: str) -> None:
    history = {
        j
        for j, (name, _) in enumerate(flat(relation(variant, "no-use-after-free").s0))
        if name.split("[")[0] in HISTORY_FIELDS
    }
    assert not history & relation(variant, "no-use-after-free").cone
    assert history & relation(variant, "atomic-progress").cone
    everything = TransitionRelation(
        relation(variant, "no-use-after-free").model, Z3Ops(VARIANTS[variant].width)
    )
    assert everything.cone == frozenset(range(len(flat(everything.s0))))


@STATES
@given(data=st.data())
@pytest.mark.parametrize("variant, prop", CASES)
def test_fields_outside_the_cone_change_nothing(
    variant: str, prop: str, data: st.DataObject
) -> None:
    trans = relation(variant, prop)
    model, x = trans.model, Concrete()
    walk = data.draw(reachable_states(variant), label="walk")
    s = walk[-1]
    t = with_outside(trans, s, data.draw(arbitrary_states(variant), label="outside"))
    pr = PROPERTIES[prop]
    assert pr.holds(x, model.kernel, s) == pr.holds(x, model.kernel, t)
    for ai, ch in trans.instances:
        a = model.actions[ai]
        ok_s, next_s = model.step(x, s, a, ch)
        ok_t, next_t = model.step(x, t, a, ch)
        assert ok_s == ok_t, f"{a.name} {ch}"
        if ok_s:
            assert trans.in_cone(next_s) == trans.in_cone(next_t), f"{a.name} {ch}"
