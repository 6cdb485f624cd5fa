"""v5.14's spec geometry reaches every step of the depopulation design
(f183324133ea): one run, built step by step from the initial state, that
isolates a chunk, depopulates it with pcpu_lock dropped, flushes, sidelines
it, allocates from it (reintegrating it) and destroys a fully free chunk.
The compiled search finds its first 19 steps as the shortest run to a
sidelined chunk (docs/model.md)."""

from __future__ import annotations

import shared

from percpu_mc.checker import specs
from percpu_mc.model.control import AllocPc, BalancePc, Isolated
from percpu_mc.model.machine import Model
from percpu_mc.model.state import State


def step(m: Model, s: State, name: str, ctx: int | None = None, **choices: int) -> State:
    """shared.step with an alignment of 1 unless given, and the safety
    properties checked in the state it reaches."""
    t = shared.step(m, s, name, ctx, **{"align": 1, **choices})
    for p in ("counter-exact", "populated-backing", "no-use-after-free", "chunk-lifecycle"):
        assert shared.holds(m, t, p), (name, p)
    return t


def balance_to_idle(m: Model, s: State) -> State:
    """The rest of a run with nothing on pcpu_to_depopulate_slot, chunk 3 the
    free slot's head and the counter at HIGH or more."""
    names = {
        BalancePc.RECLAIM: ("pcpu_reclaim_populated", 0),
        BalancePc.RETRY_POP: ("pcpu_balance_workfn: retry_pop", 0),
        BalancePc.FINAL_COLLECT: ("pcpu_balance_free(true): collect", 3),
    }
    while s.balance_pc != BalancePc.IDLE:
        name, head = names[BalancePc(s.balance_pc)]
        s = step(m, s, name, chunk=head)
    return s


def isolated_chunk_2(spec: str) -> tuple[Model, State]:
    """From the initial state to chunk 2 isolated by free_percpu() (on
    pcpu_to_depopulate_slot, the balance work queued)."""
    m = Model(specs.load(spec).params)
    s = step(m, m.init(), "percpu_enable_async")
    # alloc#1: two cells in a new chunk 2 (the first chunk has one free)
    s = step(m, s, "pcpu_alloc (non-atomic)", 0, size=2)
    s = step(m, s, "pcpu_create_chunk", 0, chunk=2)
    s = step(m, s, "pcpu_populate_chunk", 0)
    # alloc#2: the whole of a new chunk 3, freed: 4 empty populated pages
    s = step(m, s, "pcpu_alloc (non-atomic)", 1, size=4)
    s = step(m, s, "pcpu_create_chunk", 1, chunk=3)
    s = step(m, s, "pcpu_populate_chunk", 1)
    s = step(m, s, "pcpu_alloc: counter", 1)
    s = step(m, s, "free_percpu", 1)
    assert s.nr_empty_pop_pages == 5
    # alloc#2: the other half of chunk 2, freed: 2 empty pages, 7 > HIGH + 2
    s = step(m, s, "pcpu_alloc (non-atomic)", 1, size=2, chunk=2)
    s = step(m, s, "pcpu_populate_chunk", 1)
    s = step(m, s, "pcpu_alloc: counter", 1)
    s = step(m, s, "free_percpu", 1)
    assert s.isolated[2] == Isolated.TO_DEPOPULATE and s.balance_pending
    return m, s


def test_the_depopulation_design_is_reached_at_the_spec_geometry() -> None:
    m, s = isolated_chunk_2("v5.14")
    # the balance work: chunk 3 is the free slot's head; chunk 2's pages 2-3
    # go with pcpu_lock dropped, then the flush, and it is sidelined
    s = step(m, s, "pcpu_balance_workfn")
    s = step(m, s, "pcpu_balance_workfn: collect", chunk=3)
    s = step(m, s, "pcpu_balance_workfn: map extend pick")
    s = step(m, s, "pcpu_reclaim_populated", chunk=2)
    assert s.balance_pc == BalancePc.RECLAIM_DEPOP and s.reclaim_run == 0b1100
    s = step(m, s, "pcpu_reclaim_populated: depopulate")
    assert s.balance_pc == BalancePc.RECLAIM_FLUSH
    s = step(m, s, "pcpu_reclaim_populated: flush")
    assert s.isolated[2] == Isolated.SIDELINED and s.populated[2] == 0b0011
    s = balance_to_idle(m, s)
    # alloc#2 again: pcpu_sidelined_slot comes before pcpu_free_slot, so the
    # request goes to chunk 2, which is reintegrated and repopulated
    s = step(m, s, "pcpu_alloc (non-atomic)", 1, size=2, chunk=2)
    assert s.isolated[2] == Isolated.NO and s.pc[1] == AllocPc.POPULATE
    s = step(m, s, "pcpu_populate_chunk", 1)
    s = step(m, s, "pcpu_alloc: counter", 1)
    s = step(m, s, "pcpu_alloc: counter", 0)
    # both areas freed: with the counter above HIGH + its empty pages the
    # chunk is isolated again, fully free; the balance work depopulates it
    # whole and reintegrates it, and pcpu_balance_free(true) destroys it
    # (no populated page, not the free slot's head)
    s = step(m, s, "free_percpu", 0)
    assert s.isolated[2] == Isolated.TO_DEPOPULATE
    s = step(m, s, "free_percpu", 1)
    assert s.alloc_map[2] == 0 and s.balance_pending
    s = step(m, s, "pcpu_balance_workfn")
    s = step(m, s, "pcpu_balance_workfn: collect", chunk=3)
    s = step(m, s, "pcpu_balance_workfn: map extend pick")
    s = step(m, s, "pcpu_reclaim_populated", chunk=2)
    assert s.reclaim_run == 0b1111
    s = step(m, s, "pcpu_reclaim_populated: depopulate")
    s = step(m, s, "pcpu_reclaim_populated: flush")
    assert s.isolated[2] == Isolated.NO and s.populated[2] == 0
    s = step(m, s, "pcpu_reclaim_populated")
    s = step(m, s, "pcpu_balance_workfn: retry_pop")
    s = step(m, s, "pcpu_balance_free(true): collect", chunk=3)
    assert s.balance_pc == BalancePc.FINAL_DESTROY and s.to_free[2]
    s = step(m, s, "pcpu_destroy_chunk", chunk=2)
    assert not s.live[2] and s.live[3] and s.balance_pc == BalancePc.IDLE


def sidelined_then_reused(spec: str) -> tuple[Model, State]:
    """The reach test's run to a sidelined chunk 2 (pages 2-3 depopulated),
    then an allocation that repopulates those pages and is about to zero its
    area on every CPU."""
    m, s = isolated_chunk_2(spec)
    s = step(m, s, "pcpu_balance_workfn")
    s = step(m, s, "pcpu_balance_workfn: collect", chunk=3)
    s = step(m, s, "pcpu_balance_workfn: map extend pick")
    s = step(m, s, "pcpu_reclaim_populated", chunk=2)
    s = step(m, s, "pcpu_reclaim_populated: depopulate")
    if s.balance_pc == BalancePc.RECLAIM_FLUSH:
        s = step(m, s, "pcpu_reclaim_populated: flush")
    assert s.isolated[2] == Isolated.SIDELINED
    s = balance_to_idle(m, s)
    s = step(m, s, "pcpu_alloc (non-atomic)", 1, size=2, chunk=2)
    t = shared.step(m, s, "pcpu_populate_chunk", 1)  # no property checked: the stale entries
    assert t.pc[1] == AllocPc.COUNTER and t.off[1] == 2
    return m, t


def test_depopulation_without_a_flush_leaves_stale_mappings() -> None:
    """f183324133ea without 93274f1dd6b0: the pages depopulated from the
    live chunk keep their TLB entries, and the allocation that repopulates
    them zeroes its area through them; with the flush it does not."""
    m, s = sidelined_then_reused("v5.14-noflush")
    assert s.stale[2] == 0b1100
    assert not shared.holds(m, s, "no-stale-mapping")
    m, s = sidelined_then_reused("v5.14")
    assert s.stale[2] == 0 and shared.holds(m, s, "no-stale-mapping")
