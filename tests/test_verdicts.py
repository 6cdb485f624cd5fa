"""The known bugs of this code's history, found with their shortest
counterexamples, and the fixed variants holding: every spec is held to the
verdicts it states (specs/*.toml, [expect]) at the depths CI can afford."""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any

import pytest
from shared import PRE_ASYNC_STARVES, pre_async_starvation_plan

from percpu_mc.checker import specs
from percpu_mc.checker.engines.bmc import BMCEngine
from percpu_mc.checker.engines.compiled import CompiledEngine
from percpu_mc.checker.engines.explicit import ExplicitEngine
from percpu_mc.checker.result import Result
from percpu_mc.model.actions import Kernel
from percpu_mc.model.control import AllocPc
from percpu_mc.model.machine import Model
from percpu_mc.model.ops import Concrete, Ops, select
from percpu_mc.model.properties import PROPERTIES, Property
from percpu_mc.model.state import State

AGREE_DEPTH = 7  # both engines, every property, every spec of the README's known-bug table
MAIN_SPECS = ("pre-async", "seed", "v3.18", "v4.7", "v4.13")
CVE_DEPTH = 14  # both halves of CVE-2016-4794 at the default geometry (13 and 14 steps)


def run(engine: type, spec: specs.Spec, props: list[Property], depth: int) -> dict[str, Result]:
    results, _ = engine(Model(spec.params), props).run(depth)
    return {r.prop: r for r in results}


@pytest.mark.parametrize("name", MAIN_SPECS)
def test_engines_agree(name: str) -> None:
    """BMC and breadth-first search give the same verdict and the same
    shortest counterexample length for every property; and every spec's
    expectations hold as far as this depth reaches."""
    spec = specs.load(name)
    props = list(PROPERTIES.values())
    bmc = run(BMCEngine, spec, props, AGREE_DEPTH)
    exp = run(ExplicitEngine, spec, props, AGREE_DEPTH)
    for p in PROPERTIES:
        assert (bmc[p].verdict, bmc[p].depth) == (exp[p].verdict, exp[p].depth), p
        if p in spec.holds:
            assert bmc[p].verdict == "holds", p
        if bmc[p].verdict == "violated":
            assert p in spec.violated, f"{name}: unexpected violation of {p}"
            trace = bmc[p].trace
            assert trace is not None and len(trace.steps) == bmc[p].depth
            m = Model(spec.params)
            assert not PROPERTIES[p].holds(Concrete(), m.kernel, trace.steps[-1].state)


@pytest.mark.parametrize("name", [n for n in specs.available() if n not in MAIN_SPECS])
def test_engines_agree_on_every_other_spec(name: str) -> None:
    """The same agreement for every other shipped spec, at a shallow depth:
    3 steps, 2 for the scaled-up sets (their state count grows fastest)."""
    spec = specs.load(name)
    depth = 2 if name.endswith("-scaled") else 3
    props = list(PROPERTIES.values())
    bmc = run(BMCEngine, spec, props, depth)
    exp = run(ExplicitEngine, spec, props, depth)
    for p in PROPERTIES:
        assert (bmc[p].verdict, bmc[p].depth) == (exp[p].verdict, exp[p].depth), p
        if bmc[p].verdict == "violated" and (spec.violated or spec.holds):
            assert p in spec.violated, f"{name}: unexpected violation of {p}"


# (spec, property, shortest length): each found by compiled explicit search at
# exactly that length and not before; BMC confirms the lengths it reaches
# within CI's budget (the others: docs/benchmarks.md)
KNOWN_BUGS = [
    ("seed", "no-deadlock", 2, True),  # 1a4d76076cda: create failure keeps the mutex
    ("pre-async", "no-deadlock", 2, True),
    ("seed", "counter-exact", 10, False),  # unlocked pcpu_nr_empty_pop_pages update
    ("v3.18", "counter-exact", 10, False),
    ("v4.7", "counter-exact", 10, True),
    ("pre-async", "counter-exact", 10, False),
    ("v4.7", "counter-nonnegative", 10, True),  # a consequence of the lost updates
    ("seed", "no-use-after-free", 13, False),  # CVE-2016-4794
    ("v3.18", "no-use-after-free", 13, False),
    ("pre-async", "refill", 14, False),  # a balance run that only frees
    ("pre-async", "atomic-progress", 15, False),
    ("v4.13", "counter-exact", 12, False),  # the population-failure drift (docs/findings.md)
    ("v4.13", "counter-nonnegative", 14, False),
    ("v4.13-spin-k2", "counter-exact", 11, False),  # the same drift at the SPIN geometry
    ("v4.13-spin-k2", "counter-nonnegative", 13, False),
    ("v4.13-spin-k2", "refill", 20, False),  # balance trusts the drifted counter
    ("v5.1-sched", "no-deadlock", 15, False),  # 198790d9a3ae: wakeup under pcpu_lock
    ("v5.6-nofs", "no-deadlock", 3, True),  # 28307d938fb2: NOFS caller waits for the mutex
    # 0760fa3d8f7f: one counter for both memcg chunk types (BMC agrees at 14 in
    # 50 s of CPU; refill breaks in the same 14 steps: tests/test_memcg.py)
    ("v5.9", "atomic-progress", 14, False),
]
# v6.13-sched and v6.15-nofs (no-deadlock at 3) are held to that length by
# test_engines_agree_on_every_other_spec's depth 3 (BMC's first violation is
# the shortest) and replayed in tests/test_lock_order.py


@pytest.mark.parametrize("name,prop,depth,bmc", KNOWN_BUGS)
def test_known_bug_shortest(name: str, prop: str, depth: int, bmc: bool) -> None:
    """Each known bug is found at exactly its shortest length by explicit
    search (nothing one step shorter), and by BMC at the same length where
    marked."""
    spec = specs.load(name)
    assert prop in spec.violated
    r = run(CompiledEngine, spec, [PROPERTIES[prop]], depth)[prop]
    assert (r.verdict, r.depth) == ("violated", depth)
    if depth > 1:
        shorter = run(CompiledEngine, spec, [PROPERTIES[prop]], depth - 1)[prop]
        assert shorter.verdict == "holds"
    if bmc:
        r = run(BMCEngine, spec, [PROPERTIES[prop]], depth)[prop]
        assert (r.verdict, r.depth) == ("violated", depth)


def test_pre_async_atomic_progress_at_the_default_geometry() -> None:
    """pre-async's row of the known-bug table at its own spec: explicit
    search finds atomic-progress broken at 15 steps and nothing shorter, the
    counterexample replays on the concrete model and ends with the failed
    request still not fitting after a complete balance run."""
    spec = specs.load("pre-async")
    m = Model(spec.params)
    r = run(CompiledEngine, spec, [PROPERTIES["atomic-progress"]], 15)["atomic-progress"]
    assert (r.verdict, r.depth) == ("violated", 15)
    s, x = m.init(), Concrete()
    for st in r.trace.steps:
        enabled, s = m.step(x, s, m.actions[st.action], st.choices)
        assert enabled is True and s == st.state
    assert s.ap_phase == 3 and not PROPERTIES["atomic-progress"].holds(x, m.kernel, s)


def work_item_on_destroyed_chunk(x: Ops, k: Kernel, s: State) -> Any:
    """CVE-2016-4794, first half (4f996e234dad): a map_extend_work queued or
    running on a chunk pcpu_balance_workfn destroyed."""
    return x.and_(
        *[
            x.or_(s.live[c], x.not_(x.or_(s.map_extend_pending[c], s.ext_running[c])))
            for c in range(k.p.nr_chunks)
        ]
    )


def extension_on_destroyed_chunk(x: Ops, k: Kernel, s: State) -> Any:
    """CVE-2016-4794, second half (6710e594f71c): pcpu_alloc() about to extend
    (or rescan after extending) the map of a chunk destroyed meanwhile."""
    pcs = (AllocPc.EXTEND, AllocPc.RESTART)
    return x.and_(
        *[
            x.or_(x.not_(x.or_(*[x.eq(pc, int(q)) for q in pcs])), select(x, s.live, s.chunk[i]))
            for i, pc in enumerate(s.pc)
        ]
    )


HALF_A = Property("cve-2016-4794-a", "4f996e234dad", work_item_on_destroyed_chunk)
HALF_B = Property("cve-2016-4794-b", "6710e594f71c", extension_on_destroyed_chunk)


@pytest.mark.parametrize(
    "half,fix",
    [(HALF_A, {"map_extension": "balance-list"}), (HALF_B, {"alloc_mutex": "whole-call"})],
)
def test_cve_2016_4794_halves(half: Property, fix: dict[str, str]) -> None:
    """Both halves of CVE-2016-4794 are reachable in seed, each a violation of
    no-use-after-free, and each fix closes its own half (up to the depth)."""
    seed = specs.load("seed")
    r = run(CompiledEngine, seed, [half, PROPERTIES["no-use-after-free"]], CVE_DEPTH)
    assert r[half.name].verdict == "violated"
    assert r["no-use-after-free"].verdict == "violated"
    assert r["no-use-after-free"].depth <= r[half.name].depth
    fixed = run(CompiledEngine, specs.with_switches(seed, **fix), [half], CVE_DEPTH)[half.name]
    assert fixed.verdict == "holds"


def test_cve_2016_4794_second_half_alone() -> None:
    """With the first half fixed (4f996e234dad), seed still destroys a chunk
    under a pcpu_extend_area_map() that holds no lock: the second half is
    independent of the first."""
    seed = specs.with_switches(specs.load("seed"), map_extension="balance-list")
    r = run(CompiledEngine, seed, [HALF_B], CVE_DEPTH)[HALF_B.name]
    assert (r.verdict, r.depth) == ("violated", CVE_DEPTH)


INJECTED = [n for n in specs.available() if n.startswith("inject-")]


def test_enough_injected_bugs() -> None:
    """At least 12 injected bugs ship, each one switch away from v4.13 with
    its population-failure drift fixed (so that every violation is the
    mutant's own)."""
    assert len(INJECTED) >= 12
    base = specs.load("v4.13-popfail-fix").params
    for name in INJECTED:
        p = specs.load(name).params
        changed = [
            f.name
            for f in fields(base.switches)
            if getattr(base.switches, f.name) != getattr(p.switches, f.name)
        ]
        assert len(changed) == 1, (name, changed)
        assert replace(p, switches=base.switches) == base, name


# BMC at the default geometry: 48 s for a 9-step counterexample, over 10 min for 12
MUTANT_BMC_DEPTH = 7


@pytest.mark.parametrize("name", INJECTED)
def test_injected_bug_as_expected(name: str) -> None:
    """Each injected bug does what its spec says: the properties it must
    break are violated within its depth, the rest hold there (compiled
    explicit search, every property), and the first broken property's
    shortest counterexample is the same length for BMC where that costs
    seconds (up to MUTANT_BMC_DEPTH steps: 5 of the 7 breaking mutants;
    the others' BMC agreement is measured in docs/benchmarks.md)."""
    spec = specs.load(name)
    exp = run(CompiledEngine, spec, list(PROPERTIES.values()), spec.depth)
    for p in spec.violated:
        assert exp[p].verdict == "violated", (name, p)
    for p in spec.holds:
        assert exp[p].verdict == "holds", (name, p, exp[p].depth)
    assert set(spec.violated) | set(spec.holds) == set(PROPERTIES)
    first = min(spec.violated, key=lambda p: exp[p].depth, default=None)
    if first is not None and exp[first].depth <= MUTANT_BMC_DEPTH:
        bmc = run(BMCEngine, spec, [PROPERTIES[first]], exp[first].depth)[first]
        assert (bmc.verdict, bmc.depth) == ("violated", exp[first].depth), name


def test_pre_async_atomic_starves() -> None:
    """pre-async's row of the known-bug table, by a schedule worked out from
    its code (README): with a first chunk of one free cell and two live
    allocations per context, a failed atomic request still fails after a
    complete balance run, because the run only destroys chunks and the one
    fully free chunk left is one whose population failed.  Every chunk
    choice below is the kernel's list order (the chunk just moved to the
    free slot's head); the spared chunk is the only free one."""
    m, x = Model(PRE_ASYNC_STARVES), Concrete()
    plan = pre_async_starvation_plan()
    s = m.init()
    for ctx, name, want in plan:
        assert PROPERTIES["atomic-progress"].holds(x, m.kernel, s)
        [s] = [
            t
            for ai, ch, t in m.successors(s)
            if m.actions[ai].name == name
            and m.actions[ai].ctx == ctx
            and all(ch.get(k) == v for k, v in want.items())
        ]
    assert len(plan) == 24 and s.ap_phase == 3
    assert not PROPERTIES["atomic-progress"].holds(x, m.kernel, s)
