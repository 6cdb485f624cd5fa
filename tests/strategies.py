"""Hypothesis strategies and settings shared by the tests that compare
interpretations of the model (tests/test_differential.py: concrete against
Z3; tests/test_compiled.py: against the generated C; tests/test_cone.py:
BMC's cone of influence): the variants compared, random walks from the
initial state, and arbitrary type-correct states."""

from __future__ import annotations

from dataclasses import replace
from functools import cache
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from percpu_mc.checker.specs import load
from percpu_mc.model.control import AllocPc, BalancePc, Outer
from percpu_mc.model.machine import Model
from percpu_mc.model.params import MAX_MAP_ALLOC, PCPU_DFL_MAP_ALLOC, Params, Switches
from percpu_mc.model.state import State, schema

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
        "v5.12",
        "v4.13-popfail-fix",
        "v4.13-counter-fix",
        "v5.1-sched",
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


@cache
def model(variant: str) -> Model:
    return Model(VARIANTS[variant])


@st.composite
def reachable_states(draw: st.DrawFn, variant: str) -> list[State]:
    """The states of a random walk of up to WALK_STEPS steps from init().
    Each step first picks who runs (an allocating context, the balance work,
    a map-extension work item), then one of its enabled steps, so the few
    background steps are taken about as often as the many allocation ones."""
    m = model(variant)
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
        "outer": st.integers(0, max(Outer)),
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
