"""The native starvation search (checker/engines/liveness.py) against the
Python fair-SCC search (checker/engines/lasso.py, with list_order.py for the
kernel's list order), the reference: on the shipped starvation specs at
small geometries, the same nodes, steps and verdict, and every native lasso
a fair starvation loop by the reference's rules, each step the kernel's
chunk choice where the order is the kernel's."""

from __future__ import annotations

import dataclasses

import pytest

from percpu_mc.checker import specs
from percpu_mc.checker.engines import layout as layout_module
from percpu_mc.checker.engines import list_order
from percpu_mc.checker.engines.fairness import (
    gfp_failed,
    request_failed,
    requests,
    run_ended,
    waiting,
)
from percpu_mc.checker.engines.lasso import Lasso, explore, fair_lasso
from percpu_mc.checker.engines.liveness import Liveness
from percpu_mc.model.machine import Model
from percpu_mc.model.ops import Concrete


def shrunk(name: str, **change: object) -> Model:
    """The spec's code at a geometry the Python search explores in seconds."""
    return Model(dataclasses.replace(specs.load(name).params, **change))


# pages of one cell, one context holding up to two allocations, two dynamic
# chunks: the kernel's order decides (one page: a lasso in the model's
# order, 21,639 nodes; none in the kernel's, 2,120)
ONE_PAGE = dict(
    nr_contexts=1,
    live_per_context=2,
    nr_chunks=3,
    cells_per_page=1,
    unit_pages=2,
    first_chunk_static_cells=1,
    sizes=(1,),
    empty_pop_pages_high=1,
    empty_pop_pages_low=1,
)
# the same with requests of the unit and nothing refilled: a lasso either way
UNIT = ONE_PAGE | dict(sizes=(2,), empty_pop_pages_high=0, empty_pop_pages_low=0)
# one allocation of one context, one dynamic chunk
TINY = dict(nr_contexts=1, live_per_context=1, nr_chunks=2)

CASES = [
    ("v4.13-one-chunk", ONE_PAGE, 1, True),
    ("v4.13-one-chunk", UNIT, 2, True),
    ("v4.13", TINY | dict(empty_pop_pages_high=0, empty_pop_pages_low=0), 2, False),
    ("v4.13-popfail-fix", TINY, 2, True),
    ("v4.13-page", TINY, 2, True),
]


def is_fair_loop(model: Model, lasso: Lasso, kernel_order: bool) -> bool:
    """The lasso by the reference's rules (fairness.py): the loop closes
    (in the kernel's order, on the lists' order too, each step the kernel's
    choice); in it a request of the size fails, none succeeds, a balance run
    ends, no GFP_KERNEL allocation fails, and nothing waits throughout
    without a step of its own."""
    x, p, size = Concrete(), model.p, lasso.size
    steps = lasso.trace.steps
    states = [lasso.trace.init] + [st.state for st in steps]
    l = lasso.loop_start
    if states[l] != states[-1]:
        return False
    if kernel_order:
        _, orders = list_order.replay(model, [(st.action, st.choices) for st in steps])
        if orders[l] != orders[-1]:
            return False
    fail = end = False
    for k in range(l, len(steps)):
        a, ch, pre, post = (
            model.actions[steps[k].action],
            steps[k].choices,
            states[k],
            states[k + 1],
        )
        tried = requests(a, ch, size)
        failed = tried and request_failed(x, post, a.ctx)
        if (tried and not failed) or gfp_failed(x, a, ch, post):
            return False
        fail |= failed
        end |= run_ended(x, pre, post)
    loop_states = states[l:-1]
    for w in range(len(waiting(x, p, states[0]))):
        calm = any(not waiting(x, p, s)[w] for s in loop_states)
        moved = w < p.nr_contexts and any(model.actions[st.action].ctx == w for st in steps[l:])
        if not (calm or moved):
            return False
    return fail and end


@pytest.mark.parametrize(("spec", "change", "size", "kernel_order"), CASES)
def test_native_agrees_with_the_python_search(
    spec: str, change: dict, size: int, kernel_order: bool
) -> None:
    model = shrunk(spec, **change)
    g = explore(model, 100_000, refine=list_order.KernelOrder(model) if kernel_order else None)
    assert g is not None
    reference = fair_lasso(model, g, size)
    lasso, stats = Liveness(model, 12, kernel_order).search(size, 100_000)
    assert stats.states == len(g.states)
    assert stats.transitions == sum(map(len, g.edges))
    assert (lasso is None) == (reference is None)
    if lasso is not None:
        assert is_fair_loop(model, lasso, kernel_order)
        assert is_fair_loop(model, reference, kernel_order)


def test_the_order_decides_the_one_page_verdict() -> None:
    """At ONE_PAGE the model's order starves one-page requests and the
    kernel's does not: the flag chooses the graph."""
    model = shrunk("v4.13-one-chunk", **ONE_PAGE)
    abstract, stats = Liveness(model, 12, False).search(1, 100_000)
    assert abstract is not None and is_fair_loop(model, abstract, False)
    assert stats.states == 21_639
    with pytest.raises(ValueError, match="not a kernel step"):
        list_order.replay(model, [(st.action, st.choices) for st in abstract.trace.steps])
    assert Liveness(model, 12, True).search(1, 100_000)[0] is None


def test_a_broken_loop_is_not_fair() -> None:
    """is_fair_loop has teeth: the lasso with its loop cut short fails it."""
    model = shrunk("v4.13-one-chunk", **UNIT)
    lasso, _ = Liveness(model, 12, True).search(2, 100_000)
    assert lasso is not None
    cut = Lasso(
        lasso.size, dataclasses.replace(lasso.trace, steps=lasso.trace.steps[:-1]), lasso.loop_start
    )
    assert not is_fair_loop(model, cut, True)


def test_the_saturated_counter_keeps_the_verdict(monkeypatch: pytest.MonkeyPatch) -> None:
    """v4.13 with two contexts and one dynamic chunk: the population-failure
    drift reaches the counter's packed floor, so the search runs on the
    saturated counter (checker/engines/layout.py, Saturation); with the floor
    raised to -1 (sound: every constant the counter is compared with is at
    least 0) it is a coarser abstraction of the same runs, and both find no
    one-page lasso."""
    model = shrunk("v4.13", nr_contexts=2, live_per_context=1, nr_chunks=2)
    lasso, stats = Liveness(model, 12, True).search(2, 1_000_000)
    assert lasso is None and stats.saturated > 0
    real = layout_module.domains

    def raised(p, depth):  # type: ignore[no-untyped-def]
        out = dict(real(p, depth))
        out["nr_empty_pop_pages"] = dataclasses.replace(out["nr_empty_pop_pages"], lo=-1)
        return out

    monkeypatch.setattr(layout_module, "domains", raised)
    coarse, coarse_stats = Liveness(model, 12, True).search(2, 1_000_000)
    assert coarse is None and coarse_stats.saturated > 0
    assert coarse_stats.states < stats.states


def test_one_page_starves_in_the_kernels_order() -> None:
    """The finding (docs/findings.md, one-page atomic requests may starve in
    v4.13) at a small geometry: one context holding up to two allocations,
    pages of one cell, PCPU_EMPTY_POP_PAGES_HIGH = 2 as shipped; a lasso
    whose every step is the kernel's choice, fair by the reference's rules,
    in which a collect moves a populated free chunk to to_free."""
    model = shrunk("v4.13-one-chunk", **(ONE_PAGE | dict(empty_pop_pages_high=2)))
    lasso, _ = Liveness(model, 12, True).search(1, 100_000)
    assert lasso is not None and is_fair_loop(model, lasso, True)
    states = [lasso.trace.init] + [st.state for st in lasso.trace.steps]
    loop = range(lasso.loop_start, len(states) - 1)
    assert any(
        not states[k].to_free[c] and states[k + 1].to_free[c] and states[k].populated[c]
        for k in loop
        for c in range(model.p.nr_chunks)
    )
