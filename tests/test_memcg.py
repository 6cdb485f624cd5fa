"""Memcg chunk types (3c7be18ac9a0, v5.9) and the per-type counter
(0760fa3d8f7f, v5.12), on hand-built runs: a memcg-aware atomic request
fails, the balance work's root run takes pcpu_atomic_alloc_failed and fills
the root pool, and its memcg run reads the counter.  With one counter for
both types (v5.9) it finds HIGH pages and populates nothing, so the request
still fails after the run (atomic-progress, refill); with a counter per type
(v5.12) it creates and populates a memcg chunk and the request fits."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st
from shared import X, holds, step
from strategies import WALKS, reachable_states

from percpu_mc.checker import specs
from percpu_mc.model.control import ALLOC_CHUNK_PCS, AllocPc, BalancePc
from percpu_mc.model.machine import Model
from percpu_mc.model.params import Switches
from percpu_mc.model.state import State

RETRY_POP = "pcpu_balance_workfn: retry_pop"
PICK = "pcpu_balance_workfn: pick chunk"


def failed_memcg_then_root_run(m: Model) -> State:
    """A memcg-aware atomic request fails (no memcg chunk exists), then the
    balance work's root run: phase 1, retry_pop with the flag set (HIGH),
    a root chunk created and populated up to HIGH; it stops where the memcg
    run's retry_pop is next."""
    s = step(m, m.init(), "percpu_enable_async")
    s = step(m, s, "pcpu_alloc (atomic)", 0, size=1, align=1, memcg=1)
    assert s.pc[0] == AllocPc.IDLE and not any(s.live_valid) and s.pcpu_atomic_alloc_failed
    s = step(m, s, "pcpu_balance_workfn")
    s = step(m, s, "pcpu_balance_workfn: collect")
    s = step(m, s, "pcpu_balance_workfn: map extend pick")
    s = step(m, s, RETRY_POP)
    assert s.nr_to_pop == m.p.empty_pop_pages_high and not s.pcpu_atomic_alloc_failed
    s = step(m, s, PICK)  # the first chunk is fully populated: none to pick
    s = step(m, s, "pcpu_create_chunk", fail=0)
    c = m.p.first_dynamic
    assert s.live[c] and not s.memcg[c]  # the root type's chunk
    s = step(m, s, RETRY_POP)
    s = step(m, s, PICK, chunk=c)
    s = step(m, s, "pcpu_populate_chunk", fail=0)
    # the root run is over: the mutex is dropped and the memcg run takes it again
    assert (s.balance_pc, s.balance_type) == (BalancePc.MUTEX, 1)
    s = step(m, s, "pcpu_balance_workfn: collect")
    return step(m, s, "pcpu_balance_workfn: map extend pick")


def test_v5_9_one_counter_starves_the_memcg_type() -> None:
    m = Model(specs.load("v5.9").params)
    s = failed_memcg_then_root_run(m)
    assert s.nr_empty_pop_pages >= m.p.empty_pop_pages_high  # the root chunks' pages
    s = step(m, s, RETRY_POP)  # nr_to_pop = HIGH - pcpu_nr_empty_pop_pages = 0
    assert s.balance_pc == BalancePc.IDLE and s.ap_phase == 3 and s.refill_check
    assert not holds(m, s, "atomic-progress") and not holds(m, s, "refill")
    # the request fails again: no memcg chunk has a populated free page
    s = step(m, s, "pcpu_alloc (atomic)", 0, size=1, align=1, memcg=1)
    assert not any(s.live_valid) and s.pcpu_atomic_alloc_failed


def test_v5_12_counter_per_type_refills_the_memcg_type() -> None:
    m = Model(specs.load("v5.12").params)
    s = failed_memcg_then_root_run(m)
    assert s.nr_empty_pop_pages >= m.p.empty_pop_pages_high
    assert s.nr_empty_pop_pages_memcg == 0
    s = step(m, s, RETRY_POP)  # nr_to_pop = HIGH - pcpu_nr_empty_pop_pages[memcg]
    assert s.nr_to_pop == m.p.empty_pop_pages_high
    s = step(m, s, PICK)  # no memcg chunk: create one
    s = step(m, s, "pcpu_create_chunk", fail=0)
    c = m.p.first_dynamic + 1
    assert s.live[c] and s.memcg[c]
    s = step(m, s, RETRY_POP)
    s = step(m, s, PICK, chunk=c)
    s = step(m, s, "pcpu_populate_chunk", fail=0)
    assert s.balance_pc == BalancePc.IDLE and s.ap_phase == 3 and s.refill_check
    assert s.nr_empty_pop_pages_memcg == m.p.empty_pop_pages_high
    assert holds(m, s, "atomic-progress") and holds(m, s, "refill")
    assert holds(m, s, "counter-exact")
    # each request is served from a chunk of its own type
    memcg = step(m, s, "pcpu_alloc (atomic)", 0, size=1, align=1, memcg=1, chunk=c)
    assert memcg.chunk[0] == c and memcg.pc[0] == AllocPc.COUNTER
    root = step(m, s, "pcpu_alloc (atomic)", 0, size=1, align=1, memcg=0, chunk=0)
    assert not root.memcg[root.chunk[0]] and root.pc[0] == AllocPc.COUNTER
    # not from a root chunk, though both have a populated free page
    for root_chunk in (0, m.p.first_dynamic):
        assert not alloc_ok(m, s, "pcpu_alloc (atomic)", memcg=1, chunk=root_chunk)


def test_scans_and_the_free_slot_are_per_type() -> None:
    """A memcg request does not see the root chunks' free pages: the first
    chunk has a populated free page, but a non-atomic memcg request creates
    a chunk of its own type (pcpu_slot[pcpu_nr_slots - 1] of its lists is empty)."""
    m = Model(specs.load("v5.9").params)
    s = step(m, m.init(), "pcpu_alloc (non-atomic)", 0, size=1, align=1, memcg=1)
    assert s.pc[0] == AllocPc.CREATE
    s = step(m, s, "pcpu_create_chunk", 0, fail=0, chunk=m.p.first_dynamic)
    assert s.memcg[s.chunk[0]] and s.chunk[0] == m.p.first_dynamic
    # a root request of the same size takes the first chunk's free cell
    r = step(m, m.init(), "pcpu_alloc (non-atomic)", 0, size=1, align=1, memcg=0)
    assert r.chunk[0] == 0


def alloc_ok(
    m: Model, s: State, name: str, reserved: int = 0, memcg: int = 0, chunk: int = 0
) -> bool:
    """Context 0's request of one cell with these choices is a step of the model."""
    (a,) = [a for a in m.actions if a.name == name and a.ctx == 0]
    ch = {"size": 1, "align": 1, "reserved": reserved, "memcg": memcg, "chunk": chunk}
    return m.step(X, s, a, ch)[0] is True


def test_reserved_requests_are_root() -> None:
    """pcpu_alloc() serves a reserved request from pcpu_reserved_chunk
    whatever its type; the model makes every reserved request root."""
    m = Model(replace(specs.load("v5.9").params, reserved_cells=1))
    name = "pcpu_alloc (non-atomic)"
    assert alloc_ok(m, m.init(), name, reserved=1, memcg=0, chunk=0)
    assert not alloc_ok(m, m.init(), name, reserved=1, memcg=1, chunk=0)


def test_chunk_types_need_v5_9s_allocator() -> None:
    base = specs.load("v5.14").params
    bad = replace(base, switches=replace(base.switches, chunk_types=2))
    assert [name for name, _ in bad.validate()] == ["chunk_types"]
    loose = replace(base, switches=replace(Switches(), counter_per_chunk_type=True))
    assert "counter_per_chunk_type" in [name for name, _ in loose.validate()]


@settings(WALKS, max_examples=40)
@given(data=st.data())
def test_areas_and_counters_stay_within_their_type(data: st.DataObject) -> None:
    """Along random walks of v5.12: a context holding an area holds it in a
    chunk of its request's type, and at every quiescent point each type's
    counter is its own chunks' empty populated pages (neither counts the
    other type's pages)."""
    m = Model(specs.load("v5.12").params)
    walk = data.draw(reachable_states("v5.12"), label="walk")
    for s in walk:
        for i, pc in enumerate(s.pc):
            if pc in ALLOC_CHUNK_PCS:
                assert s.memcg[s.chunk[i]] == s.req_memcg[i]
        assert holds(m, s, "counter-exact")
