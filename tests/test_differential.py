"""One model, two interpretations (model/ops.py): on any state, every
action with every choice combination gives the same enabledness and the same
successor (field by field), and every property the same value, whether it
runs on Python ints (`Concrete`) or on Z3 bit-vectors (`Z3Ops`).

The symbolic side is built once per variant on fresh state constants; a drawn
state is then substituted for the constants and the ground terms simplified to
values.  States come from two places: random walks from the initial state
(the states the engines actually meet) and arbitrary type-correct states (so
a slip that only shows off the reachable set, where k-induction starts, is
caught too)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import pytest
import z3
from hypothesis import given
from hypothesis import strategies as st
from strategies import STATES, VARIANTS, WALKS, arbitrary_states, model, reachable_states

from percpu_mc.checker.engines.symbolic import Z3Ops, flat, state_vars
from percpu_mc.model.machine import Model
from percpu_mc.model.ops import Concrete
from percpu_mc.model.properties import PROPERTIES
from percpu_mc.model.state import State


@dataclass(frozen=True)
class Instance:
    """One action with one choice combination, and its symbolic step."""

    index: int  # into Model.actions
    choices: dict[str, int]  # every choice name (unused ones 0), as the engines pass them
    guard: Any  # z3 BoolRef (or a folded Python bool)
    post: State  # over the variant's state constants


@dataclass(frozen=True)
class Symbolic:
    model: Model
    width: int
    variables: list[Any]  # the state constants, in flat() order
    instances: list[Instance]
    props: dict[str, Any]  # property name -> z3 formula over the constants


@cache
def symbolic(variant: str) -> Symbolic:
    p = VARIANTS[variant]
    m = model(variant)
    x = Z3Ops(p.width)
    sv = state_vars(p, "d")
    instances = []
    for ai, a in enumerate(m.actions):
        for ch in m.choice_combos(a):
            full = {c: ch.get(c, 0) for c in m.domains}
            guard, post = m.step(x, sv, a, full)
            instances.append(Instance(ai, full, guard, post))
    props = {name: pr.holds(x, m.kernel, sv) for name, pr in PROPERTIES.items()}
    return Symbolic(m, p.width, [v for _, v in flat(sv)], instances, props)


def evaluate(sym: Symbolic, s: State, exprs: list[Any]) -> list[int | bool]:
    """The values of `exprs` (over the state constants) in state `s`: the
    concrete values are substituted and the ground term simplified.  All
    expressions go into one bit-vector concatenation, so shared subterms are
    substituted once."""
    w = sym.width
    pairs = [
        (v, z3.BoolVal(c) if isinstance(c, bool) else z3.BitVecVal(c, w))
        for v, (_, c) in zip(sym.variables, flat(s))
    ]
    parts, layout = [], []
    for e in exprs:
        if isinstance(e, bool) or (isinstance(e, z3.ExprRef) and z3.is_bool(e)):
            b = z3.BoolVal(e) if isinstance(e, bool) else e
            parts.append(z3.If(b, z3.BitVecVal(1, 1), z3.BitVecVal(0, 1)))
            layout.append("bool")
        else:
            parts.append(z3.BitVecVal(e, w) if isinstance(e, int) else e)
            layout.append("int")
    if not parts:
        return []
    packed = parts[0] if len(parts) == 1 else z3.Concat(*parts)
    value = z3.simplify(z3.substitute(packed, *pairs))
    assert z3.is_bv_value(value), f"not ground after substitution: {value}"
    bits = int(value.as_binary_string() or "0", 2)  # base 2: no digit limit on huge ints
    out: list[int | bool] = []
    shift = value.size()
    for kind in layout:
        n = 1 if kind == "bool" else w
        shift -= n
        v = (bits >> shift) & ((1 << n) - 1)
        # ints decode signed, as BitVecNumRef.as_signed_long() does
        out.append(bool(v) if kind == "bool" else v - (1 << w) if v >> (w - 1) else v)
    assert shift == 0 and len(out) == len(exprs)
    return out


def describe(sym: Symbolic, inst: Instance) -> str:
    a = sym.model.actions[inst.index]
    own = {c: inst.choices[c] for c in a.choices}
    return f"{a.context}: {a.name} {own}"


# (variant, state) -> (enabled steps, successor fields) its comparison
# compared: walks share prefixes, and a state is compared once.
_agreed: dict[tuple[str, State], tuple[int, int]] = {}


def assert_agree(variant: str, s: State) -> tuple[int, int]:
    """Both interpretations agree on every step and property in `s`.
    Returns (enabled steps, successor fields) compared."""
    sym = symbolic(variant)
    m, conc = sym.model, Concrete()
    concrete = [m.step(conc, s, m.actions[inst.index], inst.choices) for inst in sym.instances]
    guards = evaluate(sym, s, [inst.guard for inst in sym.instances])
    for inst, (c_en, _), z_en in zip(sym.instances, concrete, guards, strict=True):
        assert bool(c_en) == z_en, (
            f"{variant}: enabledness of {describe(sym, inst)}: concrete {c_en}, symbolic {z_en} in {s}"
        )
    enabled = [(inst, post) for inst, (c_en, post) in zip(sym.instances, concrete) if c_en]
    values = evaluate(sym, s, [v for inst, _ in enabled for _, v in flat(inst.post)])
    pos = 0
    for inst, c_post in enabled:
        for label, c_val in flat(c_post):
            z_val = values[pos]
            pos += 1
            assert c_val == z_val and type(c_val) is type(z_val), (
                f"{variant}: {describe(sym, inst)}: field {label}: concrete {c_val!r}, "
                f"symbolic {z_val!r} in {s}"
            )
    assert pos == len(values)
    names = list(sym.props)
    z_props = evaluate(sym, s, [sym.props[n] for n in names])
    for name, z_val in zip(names, z_props, strict=True):
        c_val = PROPERTIES[name].holds(conc, m.kernel, s)
        assert bool(c_val) == z_val, (
            f"{variant}: property {name}: concrete {c_val}, symbolic {z_val} in {s}"
        )
    _agreed[variant, s] = (len(enabled), pos)
    return len(enabled), pos


# -- the tests -----------------------------------------------------------------


@WALKS
@given(data=st.data())
@pytest.mark.parametrize("variant", VARIANTS)
def test_agree_on_reachable_states(variant: str, data: st.DataObject) -> None:
    """Along random walks from init(), every action and choice combination
    is enabled in the same states under both interpretations, yields the same
    successor in every field, and every property has the same value."""
    walk = data.draw(reachable_states(variant), label="walk")
    counts = [_agreed.get((variant, s)) or assert_agree(variant, s) for s in walk]
    # What was compared, this walk or an earlier one sharing the state: every
    # state the walk left had an enabled step, and each enabled step was
    # compared on every field of its successor.
    fields = len(flat(walk[0]))
    assert all(enabled > 0 for enabled, _ in counts[:-1]), counts
    assert all(compared == enabled * fields for enabled, compared in counts), counts


@STATES
@given(data=st.data())
@pytest.mark.parametrize("variant", VARIANTS)
def test_agree_on_arbitrary_states(variant: str, data: st.DataObject) -> None:
    """The same agreement on arbitrary type-correct states, reachable or not
    (k-induction starts from such states): pcs in their enums, indices in
    range, bitmaps within their cells or pages, small signed counters."""
    assert_agree(variant, data.draw(arbitrary_states(variant), label="state"))


@pytest.mark.parametrize("variant", VARIANTS)
def test_comparison_is_not_vacuous(variant: str) -> None:
    """The harness compares something: in the initial state some steps are
    enabled, each enabled step is compared on every field of the state, and
    the symbolic steps depend on the state: a guard folds to a constant only
    when a choice rules the step out (False), never to True."""
    sym = symbolic(variant)
    s = sym.model.init()
    enabled, compared = assert_agree(variant, s)
    assert enabled == len(list(sym.model.successors(s))) > 0
    assert compared == enabled * len(flat(s))
    assert all(isinstance(inst.guard, z3.BoolRef) or inst.guard is False for inst in sym.instances)
