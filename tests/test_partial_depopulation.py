"""v5.14's partial depopulation (f183324133ea), step by step on a state
built by hand: no run of the spec's small geometry reaches an isolation
within the depths the engines search (12 steps, 124,395 states), so the
steps are held to the kernel's code here."""

from __future__ import annotations

from shared import chunk_2_in_use, holds, step, two_page_v5_14

from percpu_mc.model.control import AllocPc, BalancePc, Isolated
from percpu_mc.model.machine import Model
from percpu_mc.model.state import State, upd


def test_free_isolates_and_balance_work_depopulates() -> None:
    m = Model(two_page_v5_14())
    # chunk 2: areas at cells 0 and 2 (one per page), held by alloc#1 and alloc#2
    s = chunk_2_in_use(m, 0b0101, (0, 2))
    assert holds(m, s, "counter-exact")
    # alloc#2 frees cell 2: page 1 of chunk 2 is empty (+1 = 4), and 4 > HIGH + 1:
    # pcpu_should_reclaim_chunk(), so the chunk is isolated and its page leaves the counter
    s = step(m, s, "free_percpu", 1)
    assert s.isolated[2] == Isolated.TO_DEPOPULATE and s.nr_empty_pop_pages == 3
    assert s.balance_pending and holds(m, s, "counter-exact")
    # an isolated chunk is not scanned by pcpu_alloc(): an atomic request of a
    # cell goes to the first chunk or chunk 3, never chunk 2
    t = step(m, s, "pcpu_alloc (atomic)", 1, size=1, chunk=0)
    assert t.chunk[1] != 2 and t.pc[1] == AllocPc.COUNTER
    # the balance work: phase 1 spares chunk 3 (the only free one), then
    # pcpu_reclaim_populated() depopulates chunk 2's empty page and sidelines it
    s = step(m, s, "pcpu_balance_workfn")
    s = step(m, s, "pcpu_balance_workfn: collect", chunk=3)
    while s.balance_pc == BalancePc.EXT_PICK:
        s = step(m, s, "pcpu_balance_workfn: map extend pick")
    assert s.balance_pc == BalancePc.RECLAIM
    s = step(m, s, "pcpu_reclaim_populated", chunk=2)
    # the scan found page 1; pcpu_lock is dropped around its depopulation
    assert s.balance_pc == BalancePc.RECLAIM_DEPOP and s.reclaim_run == 0b10
    s = step(m, s, "pcpu_reclaim_populated: depopulate")
    # no empty page left: the loop breaks; the TLB flush, then the sideline
    assert s.balance_pc == BalancePc.RECLAIM_FLUSH and s.populated[2] == 0b01
    s = step(m, s, "pcpu_reclaim_populated: flush")
    assert s.populated[2] == 0b01 and s.isolated[2] == Isolated.SIDELINED
    assert s.nr_empty_pop_pages == 3 and holds(m, s, "counter-exact")
    s = step(m, s, "pcpu_reclaim_populated")  # nothing left: phase 2
    assert s.balance_pc == BalancePc.RETRY_POP
    s = run_balance_to_idle(m, s)
    # freeing the last area of the sidelined chunk empties its populated page
    # 0: isolated with empty pages, it goes back to pcpu_to_depopulate_slot
    s = step(m, s, "free_percpu", 0)
    assert s.isolated[2] == Isolated.TO_DEPOPULATE and holds(m, s, "counter-exact")
    # the next run depopulates page 0 and, the chunk being fully free, reintegrates it
    s = step(m, s, "pcpu_balance_workfn")
    s = step(m, s, "pcpu_balance_workfn: collect", chunk=3)
    while s.balance_pc == BalancePc.EXT_PICK:
        s = step(m, s, "pcpu_balance_workfn: map extend pick")
    s = step(m, s, "pcpu_reclaim_populated", chunk=2)
    s = step(m, s, "pcpu_reclaim_populated: depopulate")
    s = step(m, s, "pcpu_reclaim_populated: flush")
    assert s.isolated[2] == Isolated.NO and s.populated[2] == 0
    assert s.alloc_map[2] == 0 and holds(m, s, "counter-exact")


def run_balance_to_idle(m: Model, s: State) -> State:
    """The rest of a balance run, taking chunk 3 wherever a chunk is chosen."""
    names = {
        BalancePc.RETRY_POP: "pcpu_balance_workfn: retry_pop",
        BalancePc.PICK: "pcpu_balance_workfn: pick chunk",
        BalancePc.POP: "pcpu_populate_chunk",
        BalancePc.CREATE: "pcpu_create_chunk",
        BalancePc.FINAL_COLLECT: "pcpu_balance_free(true): collect",
        BalancePc.FINAL_DESTROY: "pcpu_destroy_chunk",
    }
    while s.balance_pc != BalancePc.IDLE:
        s = step(m, s, names[BalancePc(s.balance_pc)], chunk=3)
    return s


def test_reclaim_below_high_reintegrates() -> None:
    """Below PCPU_EMPTY_POP_PAGES_HIGH the chunk goes back at once, pages
    and all, and its empty pages count again."""
    m = Model(two_page_v5_14())
    s = m.init()
    s = upd(
        s,
        live=(True, True, True, False),
        linked=(True, False, True, False),
        alloc_map=s.alloc_map[:2] + (0b0001, 0),
        bound_map=s.bound_map[:2] + (0b0001, 0),
        populated=s.populated[:2] + (0b11, 0),
        nr_empty_pop_pages=1,
        isolated=(0, 0, int(Isolated.TO_DEPOPULATE), 0),
        balance_pc=int(BalancePc.RECLAIM),
        alloc_mutex=m.p.nr_contexts + 1,
        live_valid=(True, False),
        live_chunk=(2, 0),
        live_off=(0, 0),
        live_size=(1, 0),
    )
    assert holds(m, s, "counter-exact")
    s = step(m, s, "pcpu_reclaim_populated", chunk=2)
    assert s.isolated[2] == Isolated.NO and s.populated[2] == 0b11
    assert s.nr_empty_pop_pages == 2 and holds(m, s, "counter-exact")


def test_final_balance_free_destroys_unpopulated_free_chunks() -> None:
    """f183324133ea's pcpu_balance_free(true) after phase 2: of two fully free
    chunks, the one without populated pages goes (the other is the list head
    the run spares)."""
    m = Model(two_page_v5_14())
    s = m.init()
    s = upd(
        s,
        live=(True, True, True, True),
        linked=(True, False, True, True),
        populated=s.populated[:2] + (0b11, 0),
        nr_empty_pop_pages=3,
        balance_pc=int(BalancePc.FINAL_COLLECT),
        alloc_mutex=m.p.nr_contexts + 1,
    )
    assert holds(m, s, "counter-exact")
    s = step(m, s, "pcpu_balance_free(true): collect", chunk=2)
    assert s.balance_pc == BalancePc.FINAL_DESTROY and s.to_free[3] and not s.to_free[2]
    s = step(m, s, "pcpu_destroy_chunk", chunk=3)
    assert not s.live[3] and s.live[2] and s.balance_pc == BalancePc.IDLE
    assert s.nr_empty_pop_pages == 3 and holds(m, s, "counter-exact") and holds(m, s, "no-deadlock")
