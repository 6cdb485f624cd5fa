"""v5.14's mm/percpu.c against the model where a reading of the source found them apart,
each on a state built by hand (the step the kernel takes and the model did
not, or the other way round)."""

from __future__ import annotations

from dataclasses import replace

from shared import chunk_2_in_use, enabled, holds, step, two_page_v5_14

from percpu_mc.model.control import AllocPc, BalancePc, Isolated
from percpu_mc.model.machine import Model
from percpu_mc.model.state import State, upd


def full_first_chunk_and_sidelined(m: Model, populated: int) -> State:
    """The first chunk full; chunk 2 sidelined with an area at cell 0 and
    `populated` pages; the counter counts neither."""
    s = m.init()
    return upd(
        s,
        pcpu_async_enabled=True,
        live=(True, True, True, False),
        linked=(True, False, True, False),
        alloc_map=(0b1111, s.alloc_map[1], 0b0001, 0),
        bound_map=(0b0011, s.bound_map[1], 0b0001, 0),
        populated=s.populated[:2] + (populated, 0),
        isolated=(0, 0, int(Isolated.SIDELINED), 0),
        nr_empty_pop_pages=0,
        live_valid=(True, False),
        live_chunk=(2, 0),
        live_off=(0, 0),
        live_size=(1, 0),
    )


def test_pcpu_alloc_scans_a_sidelined_chunk_and_reintegrates_it() -> None:
    """v5.14 pcpu_alloc(): `for (slot = pcpu_size_to_slot(size); slot <=
    pcpu_free_slot; slot++)` passes pcpu_sidelined_slot (= pcpu_free_slot - 1),
    and an area found there is followed by pcpu_reintegrate_chunk(), which
    puts the chunk's empty pages back on the counter."""
    m = Model(two_page_v5_14())
    s = full_first_chunk_and_sidelined(m, 0b11)
    assert holds(m, s, "counter-exact")
    t = step(m, s, "pcpu_alloc (atomic)", 1, size=1, chunk=2)
    assert t.chunk[1] == 2 and t.pc[1] == AllocPc.COUNTER and t.off[1] == 1
    assert t.isolated[2] == Isolated.NO
    # page 1 is empty and populated: it counts again
    assert t.nr_empty_pop_pages == 1
    t = step(m, t, "pcpu_alloc: counter", 1)
    assert holds(m, t, "counter-exact")


def test_balance_work_populates_a_sidelined_chunk_without_counting() -> None:
    """v5.14 pcpu_balance_populated() scans up to pcpu_free_slot, so past
    the sidelined slot; the pages it populates there do not raise the
    counter (pcpu_update_empty_pages(): `!chunk->isolated`)."""
    m = Model(two_page_v5_14())
    s = full_first_chunk_and_sidelined(m, 0b01)
    s = upd(
        s,
        balance_pc=int(BalancePc.RETRY_POP),
        alloc_mutex=m.p.nr_contexts + 1,
        pcpu_atomic_alloc_failed=True,
    )
    s = step(m, s, "pcpu_balance_workfn: retry_pop", chunk=2)
    if s.balance_pc == BalancePc.PICK:
        s = step(m, s, "pcpu_balance_workfn: pick chunk", chunk=2)
    assert s.balance_pc == BalancePc.POP and s.balance_chunk == 2
    s = step(m, s, "pcpu_populate_chunk")
    assert s.populated[2] == 0b11 and s.isolated[2] == Isolated.SIDELINED
    assert s.nr_empty_pop_pages == 0 and holds(m, s, "counter-exact")


def test_no_isolation_without_an_empty_page() -> None:
    """pcpu_should_reclaim_chunk() asks for chunk->nr_pages / 4 empty pages
    (64 at 256 pages a unit): scaled to 2 pages it stays 1, so a chunk whose
    every page holds an area is never isolated."""
    m = Model(two_page_v5_14())
    # chunk 2: areas at cells 0, 1, 2 (alloc#1 holds cell 1); chunk 3 free and
    # populated: the counter (3) is above HIGH + chunk 2's empty pages (0)
    s = chunk_2_in_use(m, 0b0111, (1, None))
    assert holds(m, s, "counter-exact")
    s = step(m, s, "free_percpu", 0)
    assert s.alloc_map[2] == 0b0101 and s.isolated[2] == Isolated.NO
    assert s.nr_empty_pop_pages == 3 and holds(m, s, "counter-exact")


def four_page_reclaim(chunk2_map: int) -> tuple[Model, State]:
    """v5.14 at four pages a unit, the balance work at pcpu_reclaim_populated()
    (mutex held) with chunk 2 to depopulate (every page populated, areas at
    `chunk2_map`), the first chunk full, and chunk 3's two populated pages
    the counter's only ones (2, HIGH)."""
    m = Model(replace(two_page_v5_14(), unit_pages=4))
    s = m.init()
    s = upd(
        s,
        pcpu_async_enabled=True,
        live=(True, True, True, True),
        linked=(True, False, True, True),
        alloc_map=(0xFF, s.alloc_map[1], chunk2_map, 0),
        bound_map=(0x01, s.bound_map[1], chunk2_map, 0),
        populated=s.populated[:2] + (0b1111, 0b0011),
        isolated=(0, 0, int(Isolated.TO_DEPOPULATE), 0),
        nr_empty_pop_pages=2,
        balance_pc=int(BalancePc.RECLAIM),
        alloc_mutex=m.p.nr_contexts + 1,
        live_valid=(True, False),
        live_chunk=(2, 0),
        live_off=(0, 0),
        live_size=(1, 0),
    )
    assert holds(m, s, "counter-exact")
    return m, s


def test_reclaim_drops_pcpu_lock_per_run_and_rechecks_high() -> None:
    """v5.14 pcpu_reclaim_populated() drops pcpu_lock around each
    pcpu_depopulate_chunk(): an atomic allocation that takes the counter
    below HIGH meanwhile makes the next turn of the loop reintegrate the
    chunk with its other empty page still populated."""
    m, s = four_page_reclaim(0b0001_0001)  # areas on pages 0 and 2
    s = step(m, s, "pcpu_reclaim_populated", chunk=2)
    assert s.balance_pc == BalancePc.RECLAIM_DEPOP and s.reclaim_run == 0b1000
    # pcpu_lock is free: an atomic allocation from chunk 3 runs
    s = step(m, s, "pcpu_alloc (atomic)", 1, size=1, chunk=3)
    assert s.nr_empty_pop_pages == 1
    s = step(m, s, "pcpu_alloc: counter", 1)
    s = step(m, s, "pcpu_reclaim_populated: depopulate")
    assert s.balance_pc == BalancePc.RECLAIM_FLUSH and s.reclaim_reintegrate
    s = step(m, s, "pcpu_reclaim_populated: flush")
    assert s.isolated[2] == Isolated.NO and s.populated[2] == 0b0111
    assert s.nr_empty_pop_pages == 2 and holds(m, s, "counter-exact")


def test_reclaim_tests_the_chunk_before_high() -> None:
    """The loop breaks on `chunk->nr_empty_pop_pages == 0` before it tests
    HIGH: a chunk whose last empty page is gone is sidelined even with the
    counter below HIGH."""
    m, s = four_page_reclaim(0b0001_0101)  # areas on pages 0, 1 and 2
    s = step(m, s, "pcpu_reclaim_populated", chunk=2)
    assert s.reclaim_run == 0b1000
    s = step(m, s, "pcpu_alloc (atomic)", 1, size=1, chunk=3)
    s = step(m, s, "pcpu_alloc: counter", 1)
    assert s.nr_empty_pop_pages < m.p.empty_pop_pages_high
    s = step(m, s, "pcpu_reclaim_populated: depopulate")
    assert not s.reclaim_reintegrate
    s = step(m, s, "pcpu_reclaim_populated: flush")
    assert s.isolated[2] == Isolated.SIDELINED and s.populated[2] == 0b0111
    assert holds(m, s, "counter-exact")


def test_balance_work_holds_pcpu_lock_from_retry_pop_to_the_pick() -> None:
    """v5.14 pcpu_balance_populated() runs under pcpu_lock: from reading
    the counter at retry_pop to picking a chunk nothing else takes the lock,
    so no free or allocation runs in between."""
    m = Model(two_page_v5_14())
    s = full_first_chunk_and_sidelined(m, 0b01)
    s = upd(s, balance_pc=int(BalancePc.RETRY_POP), alloc_mutex=m.p.nr_contexts + 1)
    assert not enabled(m, s, "free_percpu", 0)
    assert not enabled(m, s, "pcpu_alloc (atomic)", 1)
    s = step(m, s, "pcpu_balance_workfn: retry_pop")
    if s.balance_pc == BalancePc.PICK:
        assert not enabled(m, s, "free_percpu", 0)
