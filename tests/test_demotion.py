"""Slot-0 demotion as a choice of the scan (model/actions/demotion.py): a
chunk the scan passes over with no fit, in a slot below
PCPU_SLOT_FAIL_THRESHOLD, may move to pcpu_slot[0], where no allocation
and no balance run finds it, until a free changes its slot."""

from __future__ import annotations

from dataclasses import replace

from shared import enabled, step

from percpu_mc.checker import specs
from percpu_mc.model.control import AllocPc
from percpu_mc.model.machine import Model
from percpu_mc.model.ops import Concrete
from percpu_mc.model.state import State

X = Concrete()


def v6_1(demotion: bool) -> Model:
    p = specs.load("v6.1").params
    return Model(replace(p, switches=replace(p.switches, slot_fail_demotion=demotion)))


def half_used_chunk(m: Model) -> State:
    """alloc#1 holds two cells of a new chunk 2 (pages 0-1 populated, 2-3 not):
    its largest free run is 2 cells, slot 2."""
    s = step(m, m.init(), "pcpu_alloc (non-atomic)", 0, size=2, align=1)
    s = step(m, s, "pcpu_create_chunk", 0, chunk=2)
    s = step(m, s, "pcpu_populate_chunk", 0)
    s = step(m, s, "pcpu_alloc: counter", 0)
    assert s.live_valid[0] and s.live_chunk[0] == 2
    return s


def atomic(m: Model, s: State, size: int, demote: int) -> State:
    return step(m, s, "pcpu_alloc (atomic)", 1, size=size, align=1, demote=demote)


def test_a_failed_atomic_fit_may_demote_the_chunk() -> None:
    m = v6_1(True)
    s = half_used_chunk(m)
    # two cells atomically: chunk 2's free run is unpopulated, the first
    # chunk's one free cell is below the request's slot (not reached)
    kept = atomic(m, s, 2, demote=0)
    moved = atomic(m, s, 2, demote=1)
    assert kept.pc[1] == moved.pc[1] == AllocPc.IDLE  # both fail
    assert moved.demoted == (False, False, True, False, False) and not any(kept.demoted)
    # demoted: no scan finds it; a non-atomic request of two cells creates a chunk
    t = step(m, moved, "pcpu_alloc (non-atomic)", 1, size=2, align=1)
    assert t.pc[1] == AllocPc.CREATE
    u = step(m, kept, "pcpu_alloc (non-atomic)", 1, size=2, align=1, chunk=2)
    assert u.pc[1] == AllocPc.POPULATE and u.chunk[1] == 2
    # the free that changes its slot (here: fully free) relocates it
    back = step(m, moved, "free_percpu", 0)
    assert not any(back.demoted)


def test_demote_is_offered_only_when_some_chunk_qualifies() -> None:
    m = v6_1(True)
    s = m.init()
    # the first chunk alone, its free cell below a two-cell request's slot
    assert not enabled_with(m, s, "pcpu_alloc (atomic)", 1, size=2, demote=1)
    assert enabled_with(m, s, "pcpu_alloc (atomic)", 1, size=2, demote=0)
    # a fit that succeeds passes over nothing
    assert not enabled_with(m, s, "pcpu_alloc (atomic)", 1, size=1, demote=1)


def test_without_the_switch_nothing_is_demoted() -> None:
    m = v6_1(False)
    s = half_used_chunk(m)
    assert all("demote" not in a.choices for a in m.actions)
    t = step(m, s, "pcpu_alloc (atomic)", 1, size=2, align=1)
    assert not any(t.demoted)
    assert enabled(m, t, "pcpu_alloc (non-atomic)", 1)


def enabled_with(m: Model, s: State, name: str, ctx: int, **choices: int) -> bool:
    (a,) = [a for a in m.actions if a.name == name and a.ctx == ctx]
    ch = {c: choices.get(c, 1 if c == "align" else 0) for c in a.choices}
    ok, _ = m.step(X, s, a, ch)
    return bool(ok)
