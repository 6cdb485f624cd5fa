"""v5.14 counts pages with the area: since the bitmap allocator (40064aeca35c,
v4.14) pcpu_nr_empty_pop_pages moves in the pcpu_lock sections of
pcpu_alloc_area() and pcpu_free_area(), and since b239f7daf553 (v5.2) by
page-sized blocks: pcpu_block_update_hint_alloc() takes off every page the
area makes non-empty, populated or not, and pcpu_chunk_populated() adds the
pages it populates back ("If non atomic case, the number will be added back
in pcpu_chunk_populated() when populating pages").  No counter step of its
own, as v4.13's `pcpu_nr_empty_pop_pages -= occ_pages` after population was."""

from __future__ import annotations

from shared import X, step, two_page_v5_14

from percpu_mc.checker import specs
from percpu_mc.model.control import AllocPc
from percpu_mc.model.machine import Model
from percpu_mc.model.properties import PROPERTIES


def test_v5_14_counts_pages_with_the_area() -> None:
    spec = specs.load("v5.14")
    assert spec.params.switches.occ_pages_subtracted == "with-area-every-page"
    m = Model(two_page_v5_14())
    s = m.init()
    assert s.nr_empty_pop_pages == 1  # the first chunk's page 1
    # a one-cell request fits the first chunk's page 0 (not empty before): no change
    s = step(m, s, "pcpu_alloc (non-atomic)", 0, size=1, align=1)
    assert s.pc[0] == AllocPc.COUNTER and s.nr_empty_pop_pages == 1
    s = step(m, s, "pcpu_alloc: counter", 0)
    assert s.pc[0] == AllocPc.IDLE and s.nr_empty_pop_pages == 1
    # an atomic one takes page 1 of the first chunk: off the counter in the
    # same pcpu_lock section that marks its cell in use
    s = step(m, s, "pcpu_alloc (atomic)", 1, size=1, align=1)
    assert s.alloc_map[0] & 0b0100 and s.nr_empty_pop_pages == 0
    s = step(m, s, "pcpu_alloc: counter", 1)
    assert s.nr_empty_pop_pages == 0
    assert PROPERTIES["counter-exact"].holds(X, m.kernel, s)


def test_v5_14_takes_unpopulated_pages_ahead_of_their_population() -> None:
    """A four-cell request creates a chunk: pcpu_alloc_area() takes both
    (unpopulated) pages off the counter, which goes below zero, and the
    population adds them back; at the quiescent point it is exact."""
    m = Model(two_page_v5_14())
    s = m.init()
    s = step(m, s, "pcpu_alloc (non-atomic)", 0, size=4, align=1)
    assert s.pc[0] == AllocPc.CREATE
    s = step(m, s, "pcpu_create_chunk", 0, chunk=2)
    c = s.chunk[0]
    assert s.pc[0] == AllocPc.POPULATE and s.populated[c] == 0
    assert s.nr_empty_pop_pages == 1 - 2
    assert not PROPERTIES["counter-nonnegative"].holds(X, m.kernel, s)
    s = step(m, s, "pcpu_populate_chunk", 0)
    assert s.populated[c] == 0b11 and s.nr_empty_pop_pages == 1
    s = step(m, s, "pcpu_alloc: counter", 0)
    assert s.pc[0] == AllocPc.IDLE and s.nr_empty_pop_pages == 1
    assert PROPERTIES["counter-exact"].holds(X, m.kernel, s)


def test_v5_14_failed_population_gives_the_pages_back() -> None:
    """pcpu_free_area() on the failure path gives back every page it
    empties, the unpopulated ones too: the counter is where it started."""
    m = Model(two_page_v5_14())
    s = m.init()
    s = step(m, s, "pcpu_alloc (non-atomic)", 0, size=4, align=1)
    s = step(m, s, "pcpu_create_chunk", 0, chunk=2)
    s = step(m, s, "pcpu_populate_chunk", 0, fail=1)
    assert s.pc[0] == AllocPc.IDLE and s.nr_empty_pop_pages == 1
    assert PROPERTIES["counter-exact"].holds(X, m.kernel, s)
