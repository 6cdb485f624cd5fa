"""6.13's LOW check at area_found, under pcpu_lock, before the population
(`alloc_area()` in model/actions/alloc.py), against 6.1's after the population."""

from __future__ import annotations

from shared import step

from percpu_mc.checker import specs
from percpu_mc.model.control import AllocPc
from percpu_mc.model.machine import Model
from percpu_mc.model.state import upd


def test_the_low_check_moves_to_area_found() -> None:
    for name, at_scan in (("v6.1", False), ("v6.13", True), ("v6.15", True)):
        m = Model(specs.load(name).params)
        s = step(m, m.init(), "percpu_enable_async")
        # the first chunk's one free cell: the counter goes 1 -> 0 < LOW
        s = step(m, s, "pcpu_alloc (non-atomic)", 0, size=1, align=1)
        assert s.pc[0] == AllocPc.COUNTER and s.nr_empty_pop_pages == 0
        assert s.balance_pending is at_scan, name
        s = step(m, s, "pcpu_alloc: counter", 0)
        assert s.balance_pending and s.live_valid[0], name


def test_the_return_reads_no_counter_in_6_13() -> None:
    """At the return, with the counter below LOW and the work not queued:
    6.1's check schedules it, 6.13's has already run at area_found."""
    for name, schedules in (("v6.1", True), ("v6.13", False)):
        m = Model(specs.load(name).params)
        s = step(m, m.init(), "percpu_enable_async")
        s = step(m, s, "pcpu_alloc (non-atomic)", 0, size=2, align=1)
        s = step(m, s, "pcpu_create_chunk", 0, chunk=2)
        s = step(m, s, "pcpu_populate_chunk", 0)
        assert s.pc[0] == AllocPc.COUNTER
        s = upd(s, nr_empty_pop_pages=0, balance_pending=False)
        t = step(m, s, "pcpu_alloc: counter", 0)
        assert t.live_valid[0] and t.balance_pending is schedules, name
