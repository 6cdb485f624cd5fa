"""pre-async's row of the README's known-bug table, atomic-progress, at
whole-page units and requests: specs/pre-async-starve.toml is pre-async's
code at that geometry (the default one breaks it too, tests/test_verdicts.py),
and both engines find the violation at the same shortest length, the spec's
expect.depth (docs/findings.md)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from percpu_mc.checker import specs
from percpu_mc.checker.cli.check_model import main
from percpu_mc.checker.engines.bmc import BMCEngine
from percpu_mc.checker.engines.explicit import ExplicitEngine
from percpu_mc.checker.engines.induction import InductionEngine
from percpu_mc.checker.engines.list_order import KernelOrder, replay
from percpu_mc.checker.result import Result
from percpu_mc.model.actions import Kernel
from percpu_mc.model.control import AllocPc, BalancePc
from percpu_mc.model.geometry import area_mask, fully_free
from percpu_mc.model.invariants import Lemma, areas
from percpu_mc.model.machine import Model
from percpu_mc.model.ops import Concrete, Ops
from percpu_mc.model.params import PCPU_DFL_MAP_ALLOC
from percpu_mc.model.properties import PROPERTIES, Property
from percpu_mc.model.state import State, fixed_cells, full

SPEC = "pre-async-starve"


def final_state(m: Model, r: Result) -> State:
    """The counterexample run again, step by step, on the concrete model."""
    assert r.trace is not None and len(r.trace.steps) == r.depth
    s, x = m.init(), Concrete()
    for st in r.trace.steps:
        enabled, s = m.step(x, s, m.actions[st.action], st.choices)
        assert enabled is True and s == st.state
    return s


def test_same_code_as_pre_async() -> None:
    """Only the geometry differs from pre-async: every switch is pre-async's."""
    starve, pre = specs.load(SPEC).params, specs.load("pre-async").params
    assert starve.switches == pre.switches
    assert starve != pre


def test_explicit_search_holds_the_spec_to_its_expectations() -> None:
    """Breadth-first search over every property to the spec's depth: the
    expected violations are found, the expected holds hold, and
    atomic-progress's shortest counterexample takes exactly that depth and
    makes only choices the kernel's list order makes (checker/engines/list_order.py)."""
    spec = specs.load(SPEC)
    m = Model(spec.params)
    results, _ = ExplicitEngine(m, list(PROPERTIES.values())).run(spec.depth)
    got = {r.prop: r for r in results}
    assert set(spec.violated) | set(spec.holds) == set(PROPERTIES)
    for p in spec.violated:
        assert got[p].verdict == "violated", p
    for p in spec.holds:
        assert (got[p].verdict, got[p].depth) == ("holds", spec.depth), p
    r = got["atomic-progress"]
    assert r.depth == spec.depth
    last = final_state(m, r)
    assert last.ap_phase == 3
    assert not PROPERTIES["atomic-progress"].holds(Concrete(), m.kernel, last)
    replay(m, [(st.action, st.choices) for st in r.trace.steps])


def test_bmc_finds_the_same_shortest_length() -> None:
    """BMC, by increasing depth, first finds atomic-progress broken at the
    spec's depth, the length breadth-first search finds; its counterexample
    replays concretely."""
    spec = specs.load(SPEC)
    m = Model(spec.params)
    [r], _ = BMCEngine(m, [PROPERTIES["atomic-progress"]]).run(spec.depth)
    assert (r.verdict, r.depth) == ("violated", spec.depth)
    assert not PROPERTIES["atomic-progress"].holds(Concrete(), m.kernel, final_state(m, r))


# The explicit engine's shortest run up to the failed atomic request
# (README): (context, action, choices), every chunk choice the kernel's.
ALLOC, ATOMIC, CREATE = "pcpu_alloc (non-atomic)", "pcpu_alloc (atomic)", "pcpu_create_chunk"
EXTEND, COUNTER = "pcpu_extend_area_map", ["pcpu_alloc: counter load", "pcpu_alloc: counter store"]
UP_TO_THE_FAILURE: list[tuple[int, str, dict[str, int]]] = [
    *[
        (0, a, {})
        for a in [ALLOC, CREATE, EXTEND, "pcpu_alloc: restart", "pcpu_populate_chunk", *COUNTER]
    ],
    (1, ALLOC, {}),
    (1, CREATE, {}),
    (0, "free_percpu", {}),
    (0, ATOMIC, {"chunk": 1}),
    (1, EXTEND, {"fail": 1}),
    (1, ATOMIC, {}),
]


def walk(m: Model, s: State, ctx: int | None, name: str, want: dict[str, int]) -> State:
    """The one successor of s by the named step and choices (no failure
    unless asked for)."""
    want = {"fail": 0, **want}
    [t] = [
        t
        for ai, ch, t in m.successors(s)
        if m.actions[ai].name == name
        and m.actions[ai].ctx == ctx
        and all(ch.get(k, v) == v for k, v in want.items())
    ]
    return t


def test_a_populating_balance_work_answers_it() -> None:
    """The violation is the missing population: with 1a4d76076cda's phase 2
    alone switched on (retry_pop), the same schedule's balance run populates
    chunk 2 and the failed request then fits; in pre-async's code the run
    ends after its collect and the request still fails."""
    spec = specs.load(SPEC)
    fixed = replace(
        spec.params, switches=replace(spec.params.switches, balance_work="free-and-populate")
    )
    ends: dict[str, tuple[list[str], int, bool]] = {}
    for params in (spec.params, fixed):
        m = Model(params)
        s = m.init()
        for ctx, name, want in UP_TO_THE_FAILURE:
            s = walk(m, s, ctx, name, want)
        assert s.ap_phase == 1 and s.balance_pending
        s = walk(m, s, None, "pcpu_balance_workfn", {})
        names = []
        while s.ap_phase == 2:
            [(ai, s)] = [
                (ai, t)
                for ai, ch, t in m.successors(s)
                if m.actions[ai].context.label == "balance work" and ch.get("fail", 0) == 0
            ]
            names.append(m.actions[ai].name)
        fits = PROPERTIES["atomic-progress"].holds(Concrete(), m.kernel, s)
        ends[params.switches.balance_work] = (names, s.populated[2], fits)
    assert ends["free-only"] == (["pcpu_balance_workfn: collect"], 0, False)
    names, populated, holds = ends["free-and-populate"]
    assert "pcpu_populate_chunk" in names and populated == 1 and holds


def first_chunk(x: Ops, k: Kernel, s: State) -> Any:
    """pcpu_setup_first_chunk(): the first chunk is immutable, fully
    populated and never freed; its map is the static area plus the areas
    handed out from it (requests of the spec's sizes, not overlapping); a
    context with an allocation in progress has room for its pointer."""
    g, p = k.g, k.p
    ars = areas(x, k, s)
    ok = [
        s.live[0],
        s.linked[0],
        x.not_(s.to_free[0]),
        x.eq(s.isolated[0], 0),
        x.eq(s.populated[0], full(g.pages)),
        x.le(PCPU_DFL_MAP_ALLOC, s.map_alloc[0]),
    ]
    here = [x.and_(pres, x.eq(c, 0)) for pres, c, _, _ in ars]
    masks = [area_mask(x, g, off, size) for _, _, off, size in ars]
    used: Any = fixed_cells(k.p, 0)
    for a, (h, m, (_, _, off, size)) in enumerate(zip(here, masks, ars)):
        used = used | x.ite(h, m, 0)
        ok.append(
            x.or_(
                x.not_(h),
                x.and_(
                    x.le(off + size, g.cells),
                    x.eq(m & fixed_cells(k.p, 0), 0),
                    x.or_(*[x.eq(size, z) for z in p.sizes]),
                ),
            )
        )
        ok += [
            x.or_(x.not_(x.and_(h, here[b])), x.eq(m & masks[b], 0)) for b in range(a + 1, len(ars))
        ]
    ok.append(x.eq(s.alloc_map[0], used))
    lp = p.live_per_context
    ok += [
        x.or_(
            x.eq(pc, int(AllocPc.IDLE)),
            *[x.not_(s.live_valid[j]) for j in range(i * lp, (i + 1) * lp)],
        )
        for i, pc in enumerate(s.pc)
    ]
    return x.and_(*ok)


def never_armed(x: Ops, k: Kernel, s: State) -> Any:
    """No atomic request of at most one page has failed."""
    return x.eq(s.ap_phase, 0)


def test_small_atomic_requests_fail_at_both_geometries() -> None:
    """The premise of atomic-progress arises at pre-async's own (default)
    geometry, where a first chunk of one free cell and requests of one and
    two cells let an atomic request of at most a page fail; and at this
    spec's geometry it fails at once (k-induction's base case, with the
    first chunk's lemma)."""
    armed = Property("never-armed", "no atomic request of at most one page failed", never_armed)
    [r], _ = ExplicitEngine(Model(specs.load("pre-async").params), [armed]).run(12)
    assert r.verdict == "violated"
    lemma = Lemma(
        "first-chunk", "pcpu_setup_first_chunk(): immutable, fully populated", first_chunk
    )
    [r], _ = InductionEngine(Model(specs.load(SPEC).params), [armed], [lemma], max_k=1).run()
    assert (r.verdict, r.depth) == ("violated", 1)


def populated_chunk_destroyed_for_an_unpopulated_one(x: Ops, k: Kernel, s: State) -> Any:
    """A question about list order, not a kernel promise: the balance work
    has sent a populated chunk to to_free and spared a free chunk that has
    no populated page."""
    chunks = k.normal_chunks()
    bad = x.and_(
        x.eq(s.balance_pc, int(BalancePc.DESTROY)),
        x.or_(*[x.and_(s.to_free[c], x.not_(x.eq(s.populated[c], 0))) for c in chunks]),
        x.or_(
            *[
                x.and_(k.in_slots(x, s, c), fully_free(x, s.alloc_map[c]), x.eq(s.populated[c], 0))
                for c in chunks
            ]
        ),
    )
    return x.not_(bad)


def test_kernel_order_search_explores_only_kernel_choices() -> None:
    """Breadth-first search over the kernel's chunk choices only (ExplicitEngine
    with checker/engines/list_order.py's KernelOrder).  The model's unordered free
    slot lets a balance run spare the older, unpopulated chunk 2 and destroy
    chunk 1 that free_percpu() has just moved to the head, 12 steps in; the
    kernel spares the head, so no such run exists within 12 kernel steps.
    Where the kernel does reach a violation the search returns a kernel run."""
    m = Model(specs.load(SPEC).params)
    q = Property("spares-unpopulated", "", populated_chunk_destroyed_for_an_unpopulated_one)
    [r], _ = ExplicitEngine(m, [q]).run(12)
    assert (r.verdict, r.depth) == ("violated", 12)
    with pytest.raises(ValueError, match="not a kernel step"):
        replay(m, [(st.action, st.choices) for st in r.trace.steps])
    [r], _ = ExplicitEngine(m, [q], KernelOrder(m)).run(12)
    assert (r.verdict, r.depth) == ("holds", 12)
    [r], _ = ExplicitEngine(m, [PROPERTIES["no-deadlock"]], KernelOrder(m)).run(2)
    assert (r.verdict, r.depth) == ("violated", 2)
    replay(m, [(st.action, st.choices) for st in r.trace.steps])


def test_kernel_order_needs_the_explicit_engine(capsys: pytest.CaptureFixture[str]) -> None:
    """--kernel-order with BMC is a usage error: one message, exit status 2."""
    assert main(["--spec", SPEC, "--kernel-order", "--depth", "2"]) == 2
    err = capsys.readouterr().err
    assert "--kernel-order" in err and "--engine explicit" in err
