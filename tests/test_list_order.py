"""The kernel's list order (checker/list_order.py): the chunk choices the
kernel's pcpu_slot[] order makes, out of the ones the model allows."""
from __future__ import annotations

from checker import specs
from checker.explicit import successors
from checker.lasso import canonical
from checker.list_order import KernelOrder, Order
from model.machine import Model
from model.state import State

ALLOC, CREATE = "pcpu_alloc (non-atomic)", "pcpu_create_chunk"
WHOLE_CHUNK = [(ALLOC, {"size": 4}), (CREATE, {"fail": 0}), ("pcpu_extend_area_map", {"fail": 0}),
               ("pcpu_alloc: restart", {}), ("pcpu_populate_chunk", {"fail": 0}),
               ("pcpu_alloc: counter", {})]


def walk(m: Model, plan: list[tuple[int | None, str, dict[str, int]]]) \
        -> tuple[State, Order, KernelOrder]:
    """Follow the plan through the kernel's steps, each the only one that matches."""
    k = KernelOrder(m)
    s = canonical(m.init())
    o = k.initial(s)
    for ctx, name, want in plan:
        [t] = [t for ai, ch, t in k.steps(s, o) if m.actions[ai].name == name
               and m.actions[ai].ctx == ctx and all(ch.get(n) == v for n, v in want.items())]
        t = canonical(t)
        s, o = t, k.advance(s, t, o)
    return s, o, k


def test_the_balance_work_spares_the_chunk_freed_last() -> None:
    """v4.13: alloc#1 and alloc#2 each create a chunk and take all of it;
    alloc#1 frees chunk 1, then alloc#2 frees chunk 2, which goes to the
    head of the free slot (list_move).  The model lets the balance work
    spare either; the kernel spares chunk 2 and destroys chunk 1."""
    m = Model(specs.load("v4.13").params)
    plan = [(None, "percpu_enable_async", {}),
            *[(0, a, ch) for a, ch in WHOLE_CHUNK], *[(1, a, ch) for a, ch in WHOLE_CHUNK],
            (0, "free_percpu", {}), (1, "free_percpu", {}), (None, "pcpu_balance_workfn", {})]
    s, o, k = walk(m, plan)
    assert (s.live_valid, o.slots[-1]) == ((False, False), (2, 1))
    collect = "pcpu_balance_workfn: collect"
    model_spares = {ch["chunk"] for ai, ch, _ in successors(m, s) if m.actions[ai].name == collect}
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
    m = Model(specs.load("v4.13").params)
    bal = [(None, "pcpu_balance_workfn" + step, {}) for step in
           ("", ": collect", ": map extend pick", ": retry_pop", ": pick chunk")]
    plan = [(None, "percpu_enable_async", {}), *[(0, a, ch) for a, ch in WHOLE_CHUNK],
            # the atomic request of the whole unit fails: pcpu_atomic_alloc_failed
            (1, "pcpu_alloc (atomic)", {"size": 4}), (0, "free_percpu", {}),
            # nr_to_pop = HIGH, nothing to populate: chunk 2 is created; then
            # the counter (3) is above HIGH and the run ends
            *bal, (None, CREATE, {"fail": 0}), (None, "pcpu_balance_workfn: retry_pop", {}),
            (1, ALLOC, {"size": 4})]
    s, o, k = walk(m, plan[:-1])
    assert (s.populated, o.slots[-1], s.balance_pc) == ((3, 3, 0), (2, 1), 0)
    s2, o2, _ = walk(m, plan)
    model_takes = {ch["chunk"] for ai, ch, _ in successors(m, s)
                   if m.actions[ai].name == ALLOC and ch["size"] == 4 and m.actions[ai].ctx == 1}
    assert (model_takes, s2.chunk[1]) == ({1, 2}, 2)
