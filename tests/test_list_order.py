"""The kernel's list order (checker/engines/list_order.py): the chunk choices the
kernel's pcpu_slot[] order makes, out of the ones the model allows."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from shared import PRE_ASYNC_STARVES, pre_async_starvation_plan

from percpu_mc.checker import specs
from percpu_mc.checker.cli.check_model import main
from percpu_mc.checker.engines.list_order import KernelOrder, Order, replay
from percpu_mc.model.control import AllocPc, BalancePc
from percpu_mc.model.machine import Model
from percpu_mc.model.reduction import canonical
from percpu_mc.model.state import State

LASSOS = Path(__file__).parent / "lassos"
TINY_NO_REFILL = dataclasses.replace(
    specs.load("v4.13").params,
    cells_per_page=1,
    sizes=(1, 2),
    nr_chunks=2,
    nr_contexts=1,
    empty_pop_pages_low=0,
    empty_pop_pages_high=0,
    first_chunk_static_cells=1,
)

ALLOC, CREATE = "pcpu_alloc (non-atomic)", "pcpu_create_chunk"
# v4.13's code with requests of one cell or the whole unit and a first chunk
# of three free cells (the earlier default geometry): the list-order
# runs and the recorded whole-unit lasso below are at this geometry
WHOLE_UNIT = dataclasses.replace(
    specs.load("v4.13").params, first_chunk_static_cells=1, sizes=(1, 4)
)
WHOLE_CHUNK = [
    (ALLOC, {"size": 4}),
    (CREATE, {"fail": 0}),
    ("pcpu_extend_area_map", {"fail": 0}),
    ("pcpu_alloc: restart", {}),
    ("pcpu_populate_chunk", {"fail": 0}),
    ("pcpu_alloc: counter", {}),
]


def walk(
    m: Model, plan: list[tuple[int | None, str, dict[str, int]]]
) -> tuple[State, Order, KernelOrder]:
    """Follow the plan through the kernel's steps, each the only one that matches."""
    k = KernelOrder(m)
    s = canonical(m.init())
    o = k.initial(s)
    for ctx, name, want in plan:
        [t] = [
            t
            for ai, ch, t in k.steps(s, o)
            if m.actions[ai].name == name
            and m.actions[ai].ctx == ctx
            and all(ch.get(n) == v for n, v in want.items())
        ]
        t = canonical(t)
        s, o = t, k.advance(s, t, o)
    return s, o, k


def test_the_balance_work_spares_the_chunk_freed_last() -> None:
    """v4.13: alloc#1 and alloc#2 each create a chunk and take all of it;
    alloc#1 frees chunk 1, then alloc#2 frees chunk 2, which goes to the
    head of the free slot (list_move).  The model lets the balance work
    spare either; the kernel spares chunk 2 and destroys chunk 1."""
    m = Model(WHOLE_UNIT)
    plan = [
        (None, "percpu_enable_async", {}),
        *[(0, a, ch) for a, ch in WHOLE_CHUNK],
        *[(1, a, ch) for a, ch in WHOLE_CHUNK],
        (0, "free_percpu", {}),
        (1, "free_percpu", {}),
        (None, "pcpu_balance_workfn", {}),
    ]
    s, o, k = walk(m, plan)
    assert (s.live_valid, o.slots[-1]) == ((False, False), (2, 1))
    collect = "pcpu_balance_workfn: collect"
    model_spares = {ch["chunk"] for ai, ch, _ in m.successors(s) if m.actions[ai].name == collect}
    kernel_spares = {ch["chunk"] for ai, ch, _ in k.steps(s, o) if m.actions[ai].name == collect}
    assert (model_spares, kernel_spares) == ({1, 2}, {2})
    s, o, _ = walk(m, plan + [(None, collect, {}), (None, "pcpu_destroy_chunk", {})])
    assert (s.live, o.slots[-1], o.to_free) == ((True, False, True), (2,), ())


def test_a_created_chunk_is_taken_before_an_older_free_one() -> None:
    """A chunk the balance work creates goes to the free slot's head
    (pcpu_chunk_relocate(chunk, -1)), and pcpu_alloc() scans from the head:
    a non-atomic request of the whole unit takes the new, unpopulated chunk
    (and populates it) rather than the older, populated one.  The model
    allows both."""
    m = Model(WHOLE_UNIT)
    bal = [
        (None, "pcpu_balance_workfn" + step, {})
        for step in ("", ": collect", ": map extend pick", ": retry_pop", ": pick chunk")
    ]
    plan = [
        (None, "percpu_enable_async", {}),
        *[(0, a, ch) for a, ch in WHOLE_CHUNK],
        # the atomic request of the whole unit fails: pcpu_atomic_alloc_failed
        (1, "pcpu_alloc (atomic)", {"size": 4}),
        (0, "free_percpu", {}),
        # nr_to_pop = HIGH, nothing to populate: chunk 2 is created; then
        # the counter (3) is above HIGH and the run ends
        *bal,
        (None, CREATE, {"fail": 0}),
        (None, "pcpu_balance_workfn: retry_pop", {}),
        (1, ALLOC, {"size": 4}),
    ]
    s, o, k = walk(m, plan[:-1])
    assert (s.populated, o.slots[-1], s.balance_pc) == ((3, 3, 0), (2, 1), 0)
    s2, o2, _ = walk(m, plan)
    model_takes = {
        ch["chunk"]
        for ai, ch, _ in m.successors(s)
        if m.actions[ai].name == ALLOC and ch["size"] == 4 and m.actions[ai].ctx == 1
    }
    assert (model_takes, s2.chunk[1]) == ({1, 2}, 2)


Steps = list[tuple[int, dict[str, int]]]


def replay_lasso(m: Model, doc: dict) -> tuple[list[State], list[Order], Steps]:
    """A saved lasso (benchmarks/starvation.py --save-lasso) replayed step by
    step with replay(), which checks each step is the kernel's; the states,
    the orders and the steps."""
    states, orders = replay(m, steps := recorded_steps(m, doc))
    return states, orders, steps


def recorded_steps(m: Model, doc: dict) -> Steps:
    """A saved lasso's (action index, choices); a choice the model gained
    after the recording (`memcg`, 3c7be18ac9a0's chunk type) is 0, the only
    value where the spec has one chunk type."""
    index = {(a.ctx, a.name): ai for ai, a in enumerate(m.actions)}
    out = []
    for ctx, name, ch in doc["steps"]:
        ai = index[(ctx, name)]
        out.append((ai, {c: ch.get(c, 0) for c in m.actions[ai].choices}))
    return out


def assert_fair_starvation(
    m: Model, states: list[State], orders: list[Order], steps: Steps, loop_start: int, size: int
) -> None:
    """Steps loop_start+1 .. n repeat forever (state and list order), an
    atomic request of `size` fails in them and none succeeds, a balance run
    completes, no GFP_KERNEL allocation fails and every creation creates,
    and nothing a weakly fair scheduler must run waits throughout."""
    n = len(steps)
    assert (states[loop_start], orders[loop_start]) == (states[n], orders[n])
    loop = range(loop_start, n)  # step k goes from states[k] to states[k + 1]
    name = [m.actions[steps[k][0]].name for k in loop]
    ctx = [m.actions[steps[k][0]].ctx for k in loop]
    tries = [
        (k, c)
        for k, a, c in zip(loop, name, ctx)
        if a == "pcpu_alloc (atomic)" and steps[k][1]["size"] == size
    ]
    assert tries and all(states[k + 1].pc[c] == AllocPc.IDLE for k, c in tries)
    assert all(steps[k][1].get("fail", 0) == 0 for k in loop)
    assert any(states[k].balance_pc != BalancePc.IDLE == states[k + 1].balance_pc for k in loop)
    for k, a, c in zip(loop, name, ctx):
        if a == CREATE:
            assert (
                states[k + 1].balance_pc == BalancePc.RETRY_POP
                if c is None
                else states[k + 1].pc[c] != AllocPc.IDLE
            ), k
    for i in range(m.p.nr_contexts):
        assert any(states[k].pc[i] == AllocPc.IDLE for k in loop) or i in ctx
    assert any(
        not states[k].balance_pending or states[k].balance_pc != BalancePc.IDLE for k in loop
    )


def test_replayed_lasso_on_a_tiny_geometry() -> None:
    doc = json.loads((LASSOS / "tiny-2.json").read_text())
    m = Model(TINY_NO_REFILL)
    states, orders, steps = replay_lasso(m, doc)
    assert_fair_starvation(m, states, orders, steps, doc["loop_start"], 2)


def test_the_pre_async_starvation_run_is_in_the_kernels_order() -> None:
    """test_pre_async_atomic_starves' 24 steps, worked out by hand in the
    kernel's list order: every one of them is the kernel's choice here too."""
    s, o, _ = walk(Model(PRE_ASYNC_STARVES), pre_async_starvation_plan())
    assert (o.slots[-1], s.live, s.balance_pc) == ((2,), (True, True, True), BalancePc.IDLE)


def test_cli_kernel_order(tmp_path, capsys) -> None:
    """--kernel-order: the explicit search in the kernel's list order, said
    in the JSON; with the BMC engine, a clear error (exit 2)."""
    text = (
        specs.resolve("v4.13")
        .read_text()
        .replace("cells_per_page = 2", "cells_per_page = 1")
        .replace("nr_chunks = 3", "nr_chunks = 2")
        .replace("nr_contexts = 2", "nr_contexts = 1")
        .replace("first_chunk_static_cells = 3", "first_chunk_static_cells = 1")
        .replace("empty_pop_pages_low = 1", "empty_pop_pages_low = 0")
        .replace("empty_pop_pages_high = 2", "empty_pop_pages_high = 0")
    )
    spec = tmp_path / "tiny.toml"
    spec.write_text(text)
    args = ["--spec", str(spec), "--starvation", "2", "--kernel-order", "--json"]
    assert main(args + ["--engine", "explicit"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert (doc["verdict"], doc["list_order"]) == ("lasso", "kernel")
    assert main(args) == 2
    assert "--engine explicit" in capsys.readouterr().err


def test_whole_unit_starves_in_the_kernels_list_order() -> None:
    """v4.13 with whole-unit requests (WHOLE_UNIT): atomic requests of the whole unit (4
    cells = PCPU_EMPTY_POP_PAGES_HIGH pages) starve with every chunk choice
    the kernel's (found by the kernel-order search with alloc#1 making only
    those atomic requests and alloc#2 only non-atomic ones of the unit;
    README).  Replayed step by step; the loop closes on state and order."""
    doc = json.loads((LASSOS / "v4.13-4.json").read_text())
    m = Model(WHOLE_UNIT)
    states, orders, steps = replay_lasso(m, doc)
    assert (doc["loop_start"], len(steps)) == (7, 249)
    assert_fair_starvation(m, states, orders, steps, doc["loop_start"], 4)


def test_the_one_page_lasso_of_the_model_is_not_the_kernels() -> None:
    """v4.13-page: the model's lasso for one-page requests (found by the
    explicit search in the model's order, README, before the first chunk's
    map was its static smap[]; recorded here without the first chunk's two
    map-extension steps, up to its first repeated state) is a run of the
    model whose loop closes, but its step 23 is a collect that spares chunk
    2 and destroys the populated chunk 1, where the kernel spares chunk 1,
    the free list's head: that witness rests on the list-order abstraction
    (the kernel's order has another one-page lasso: tests/test_liveness.py)."""
    doc = json.loads((LASSOS / "v4.13-page-2-model.json").read_text())
    m = Model(specs.load("v4.13-page").params)
    steps = recorded_steps(m, doc)
    s = canonical(m.init())
    states = [s]
    for ai, ch in steps:
        [s] = [canonical(t) for bi, c, t in m.successors(s) if (bi, c) == (ai, ch)]
        states.append(s)
    assert states[doc["loop_start"]] == states[-1]
    try:
        replay(m, steps)
    except ValueError as e:
        assert str(e).startswith("step 23: pcpu_balance_workfn: collect {'chunk': 2}"), e
    else:
        raise AssertionError("the model's one-page lasso replayed in the kernel's order")
    k = KernelOrder(m)
    before, orders = replay(m, steps[:22])
    assert orders[-1].slots[-1] == (1, 2)
    assert [
        ch["chunk"]
        for ai, ch, _ in k.steps(before[-1], orders[-1])
        if m.actions[ai].name == "pcpu_balance_workfn: collect"
    ] == [1]
