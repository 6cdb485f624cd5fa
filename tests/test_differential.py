"""DESIGN principle 1, one model, two interpretations: on any state, every
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

from dataclasses import dataclass, replace
from functools import cache
from typing import Any

import pytest
import z3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from percpu_mc.checker.engines.symbolic import Z3Ops, flat, state_vars
from percpu_mc.checker.specs import load
from percpu_mc.model.machine import Model
from percpu_mc.model.ops import Concrete
from percpu_mc.model.params import MAX_MAP_ALLOC, PCPU_DFL_MAP_ALLOC, Params, Switches
from percpu_mc.model.properties import PROPERTIES
from percpu_mc.model.state import AllocPc, BalancePc, State, schema

# Reproducible runs; examples are few because each compares every step of a
# state (about a hundred action instances) on both interpretations.
WALKS = settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
STATES = settings(WALKS, max_examples=30)

# The shipped variants the two interpretations must agree on, plus one
# geometry the specs do not use: a reserved chunk (its own search path and the
# `reserved` choice), two live allocations per context, alignment 2.
VARIANTS: dict[str, Params] = {
    name: load(name).params
    for name in (
        "seed",
        "v4.7",
        "v4.13",
        "pre-async",
        "v5.14",
        "v5.14-noflush",
        "v4.13-popfail-fix",
        "v4.13-counter-fix",
    )
}
VARIANTS["reserved"] = Params(
    unit_pages=2,
    cells_per_page=2,
    nr_chunks=3,
    first_chunk_static_cells=1,
    reserved_cells=2,
    nr_contexts=2,
    live_per_context=2,
    sizes=(1, 2, 3),
    aligns=(1, 2),
    switches=Switches(create_fail_unlocks_mutex=True),
)
# Every injected-bug switch (specs/inject-*.toml) flipped at once on v4.13, so
# each of their branches is compared too; `populate_slot_offset` both ways.
INJECTED = dict(
    occ_pages_counts="populated-before",
    occupied_tail_test=">",
    alloc_population_counted=False,
    alloc_create_relocates=False,
    atomic_fail_sets_flag=False,
    balance_spares_free=0,
    atomic_fit_pop_only=False,
    low_check_test="<=",
    extend_fail_unlocks_mutex=False,
    free_schedules_balance=False,
    free_counts_pages=False,
    counter_update="unlocked-atomic",
    async_gate=False,
)
VARIANTS["injected"] = replace(
    VARIANTS["v4.13"],
    switches=replace(VARIANTS["v4.13"].switches, populate_slot_offset=-1, **INJECTED),
)
VARIANTS["injected-slot-above"] = replace(
    VARIANTS["v4.13"],
    switches=replace(VARIANTS["v4.13"].switches, populate_slot_offset=1, **INJECTED),
)

WALK_STEPS = 12
MAP_SIZES = [
    PCPU_DFL_MAP_ALLOC << k for k in range((MAX_MAP_ALLOC // PCPU_DFL_MAP_ALLOC).bit_length())
]
SMALL_INT = (-4, 8)  # counters, offsets, sizes: a small signed range, well inside the width


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
    m = Model(p)
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


_agreed: set[tuple[str, State]] = set()  # states already compared (walks share prefixes)


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
    _agreed.add((variant, s))
    return len(enabled), pos


# -- states --------------------------------------------------------------------


@st.composite
def reachable_states(draw: st.DrawFn, variant: str) -> list[State]:
    """The states of a random walk of up to WALK_STEPS steps from init().
    Each step first picks who runs (an allocating context, the balance work,
    a map-extension work item), then one of its enabled steps, so the few
    background steps are taken about as often as the many allocation ones."""
    m = symbolic(variant).model
    s = m.init()
    walk = [s]
    for _ in range(draw(st.integers(0, WALK_STEPS))):
        by_context: dict[str, list[State]] = {}
        for ai, _, t in m.successors(s):
            by_context.setdefault(m.actions[ai].context.label, []).append(t)
        if not by_context:
            break
        steps = draw(st.sampled_from(sorted(by_context.items())))[1]
        s = steps[draw(st.integers(0, len(steps) - 1))]
        walk.append(s)
    return walk


def field_strategy(p: Params, name: str, kind: str) -> st.SearchStrategy:
    """Every value the field's type admits (small ranges for plain integers)."""
    if kind == "bool":
        return st.booleans()
    chunk = st.integers(0, p.nr_chunks - 1)
    bounded = {
        "pc": st.integers(0, max(AllocPc)),
        "balance_pc": st.integers(0, max(BalancePc)),
        "chunk": chunk,
        "live_chunk": chunk,
        "balance_chunk": chunk,
        "alloc_map": st.integers(0, (1 << p.unit_cells) - 1),
        "bound_map": st.integers(0, (1 << p.unit_cells) - 1),
        "populated": st.integers(0, (1 << p.unit_pages) - 1),
        "stale": st.integers(0, (1 << p.unit_pages) - 1),
        "map_alloc": st.sampled_from(MAP_SIZES),
        "new_alloc": st.sampled_from([0] + MAP_SIZES),
        "ext_new_alloc": st.sampled_from([0] + MAP_SIZES),
        "balance_new_alloc": st.sampled_from([0] + MAP_SIZES),
        "alloc_mutex": st.integers(0, p.nr_contexts + 1),
        "ap_phase": st.integers(0, 3),
    }
    return bounded.get(name, st.integers(*SMALL_INT))


@st.composite
def arbitrary_states(draw: st.DrawFn, variant: str) -> State:
    """A type-correct state, reachable or not."""
    p = VARIANTS[variant]
    vals: dict[str, Any] = {}
    for name, (kind, n) in schema(p).items():
        one = field_strategy(p, name, kind)
        vals[name] = draw(one) if n is None else tuple(draw(st.lists(one, min_size=n, max_size=n)))
    return State(**vals)


# -- the tests -----------------------------------------------------------------


@WALKS
@given(data=st.data())
@pytest.mark.parametrize("variant", VARIANTS)
def test_agree_on_reachable_states(variant: str, data: st.DataObject) -> None:
    """Along random walks from init(), every action and choice combination
    is enabled in the same states under both interpretations, yields the same
    successor in every field, and every property has the same value."""
    walk = data.draw(reachable_states(variant), label="walk")
    enabled = [assert_agree(variant, s)[0] for s in walk if (variant, s) not in _agreed]
    # every state of a walk but the last has a successor, so the comparison is never vacuous
    assert sum(enabled) > 0 or len(enabled) <= 1


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
