"""pcpu_alloc()'s population of its area: pcpu_for_each_unpop_region() and
pcpu_populate_chunk() under pcpu_alloc_mutex.

PcpuPopulate is a base of PcpuAlloc: its steps end at pcpu_alloc()'s own
labels (`fail`), which PcpuAlloc defines."""

from __future__ import annotations

from functools import partial
from typing import Any

from percpu_mc.model.actions.common import Action, Choices, Events, KernelBase, Step
from percpu_mc.model.control import AllocPc, Isolated, alloc_owner
from percpu_mc.model.geometry import area_mask, area_pages, count_occupied_pages, first_run
from percpu_mc.model.ops import Ops, Val, select, store
from percpu_mc.model.state import State, ite_state, upd
from percpu_mc.model.vocabulary import Kind, alloc_context


class PcpuPopulate(KernelBase):
    """The population steps of pcpu_alloc(), for allocating context i."""

    def unpopulated(self, x: Ops, s: State, i: int) -> Val:
        """The first unpopulated region of context i's area (pcpu_for_each_unpop_region)."""
        g = self.g
        want = area_pages(x, g, s.off[i], s.req_size[i])
        return first_run(x, g, want & x.bnot(select(x, s.populated, s.chunk[i]), g.pages))

    def populate_or_unlock(self, x: Ops, s: State, i: int) -> State:
        """Holding the mutex: populate what is left, or mutex_unlock() when
        every page of the area is populated."""
        done = self.set_pc(x, self.release_mutex(s), i, int(AllocPc.COUNTER))
        return ite_state(
            x, x.eq(self.unpopulated(x, s, i), 0), done, self.set_pc(x, s, i, int(AllocPc.POPULATE))
        )

    def populate_region(self, x: Ops, s: State, i: int, fail: Any) -> State:
        """pcpu_populate_chunk(chunk, rs, re) (pcpu_alloc_mutex), then pcpu_lock:
        pcpu_chunk_populated(); on failure pcpu_free_area(), mutex_unlock, fail."""
        g = self.g
        region = self.unpopulated(x, s, i)
        c = s.chunk[i]
        with_area = self.sw.occ_pages_subtracted == "with-area"
        every_page = self.sw.occ_pages_subtracted == "with-area-every-page"
        # with the area: pcpu_chunk_populated(..., for_alloc) adds nothing (v4.14)
        added = (
            x.popcount(region, g.pages) if self.sw.alloc_population_counted and not with_area else 0
        )
        if every_page:
            # pcpu_update_empty_pages(): an isolated chunk's pages are not on the counter
            added = x.ite(x.eq(select(x, s.isolated, c), int(Isolated.NO)), added, 0)
        ok = self.update_empty_pages(
            x,
            upd(s, populated=store(x, s.populated, c, select(x, s.populated, c) | region)),
            c,
            added,
        )
        area = area_mask(x, g, s.off[i], s.req_size[i])
        start = x.from_bits([x.eq(s.off[i], k) for k in range(g.cells)])
        amap = select(x, s.alloc_map, c)
        freed = upd(
            s,
            alloc_map=store(x, s.alloc_map, c, amap & x.bnot(area, g.cells)),
            bound_map=store(x, s.bound_map, c, select(x, s.bound_map, c) & x.bnot(start, g.cells)),
        )
        counted = x.not_(x.eq(c, self.reserved_or_none()))
        if every_page:
            # pcpu_block_update_hint_free(): every page the free empties, the
            # unpopulated ones the allocation took included
            counted = x.and_(counted, x.eq(select(x, s.isolated, c), int(Isolated.NO)))
            back = count_occupied_pages(x, self.g, amap, area)
            freed = self.update_empty_pages(x, freed, c, x.ite(counted, back, 0))
        elif with_area:
            # what free_percpu() would give back: the populated pages it empties
            back = count_occupied_pages(x, self.g, amap, area, select(x, s.populated, c))
            freed = upd(
                freed, nr_empty_pop_pages=freed.nr_empty_pop_pages + x.ite(counted, back, 0)
            )
        elif self.sw.populate_fail_counter == "as-free":
            delta = count_occupied_pages(x, self.g, amap, area) - s.occ[i]
            freed = upd(
                freed, nr_empty_pop_pages=freed.nr_empty_pop_pages + x.ite(counted, delta, 0)
            )
        return ite_state(
            x,
            fail,
            self.fail(x, self.release_mutex(freed), i, False),
            self.populate_or_unlock(x, ok, i),
        )

    def alloc_pop_mutex(self, i: int, x: Ops, s: State, ch: Choices) -> Step:
        # pcpu_alloc(): area_found, mutex_lock(&pcpu_alloc_mutex), then the first region
        s = self.take_mutex(s, alloc_owner(i))
        region = self.unpopulated(x, s, i)
        guard = x.or_(x.not_(x.eq(region, 0)), x.eq(ch["fail"], 0))
        fail = x.and_(x.not_(x.eq(region, 0)), x.eq(ch["fail"], 1))
        post = ite_state(
            x,
            x.eq(region, 0),
            self.populate_or_unlock(x, s, i),
            self.populate_region(x, s, i, fail),
        )
        return guard, post, Events(alloc_step=True, env_fail=fail)

    def alloc_populate(self, i: int, x: Ops, s: State, ch: Choices) -> Step:
        # pcpu_alloc() -> pcpu_populate_chunk() (pcpu_alloc_mutex): the next unpopulated region
        fail = x.eq(ch["fail"], 1)
        return True, self.populate_region(x, s, i, fail), Events(alloc_step=True, env_fail=fail)

    def populate_actions(self, i: int) -> list[Action]:
        """whole-call (6710e594f71c): the mutex is held from the call's start;
        populate-only: area_found takes it first."""
        ctx = alloc_context(i)
        acts = []
        if self.sw.alloc_mutex != "whole-call":
            acts.append(
                Action(
                    name="pcpu_populate_chunk",
                    context=ctx,
                    kernel="pcpu_alloc(): area_found, mutex_lock(&pcpu_alloc_mutex),"
                    " pcpu_populate_chunk(); pcpu_lock: pcpu_chunk_populated()",
                    choices=("fail",),
                    at=self.alloc_at(i, AllocPc.POP_MUTEX, mutex=True),
                    fn=partial(self.alloc_pop_mutex, i),
                    kind=Kind.ALLOC_POP_MUTEX,
                )
            )
        acts.append(
            Action(
                name="pcpu_populate_chunk",
                context=ctx,
                kernel="pcpu_alloc() -> pcpu_populate_chunk() "
                "(pcpu_alloc_mutex); pcpu_lock: pcpu_chunk_populated()",
                choices=("fail",),
                at=self.alloc_at(i, AllocPc.POPULATE),
                fn=partial(self.alloc_populate, i),
                kind=Kind.ALLOC_POPULATE,
            )
        )
        return acts
