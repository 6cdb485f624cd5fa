"""free_percpu(): an allocating context gives an area back."""

from __future__ import annotations

from functools import partial
from typing import Any

from percpu_mc.model.actions.common import Action, Choices, Events, KernelBase, Step
from percpu_mc.model.control import AllocPc, Isolated
from percpu_mc.model.geometry import area_mask, count_occupied_pages, fully_free
from percpu_mc.model.ops import Ops, Val, select, store
from percpu_mc.model.state import State, ite_state, upd
from percpu_mc.model.vocabulary import Kind, alloc_context


class FreePercpu(KernelBase):
    """free_percpu() by allocating context i, and f183324133ea's isolation."""

    def maybe_isolate(self, x: Ops, s: State, c: Val, cond: Any) -> State:
        """f183324133ea, free_percpu(): else if (pcpu_should_reclaim_chunk(chunk))
        pcpu_isolate_chunk(chunk): its empty pages leave the counter, it moves
        to pcpu_to_depopulate_slot, and the balance work is scheduled."""
        p = self.p
        iso = select(x, s.isolated, c)
        # chunk->nr_empty_pop_pages
        empty = self.chunk_nr_empty_pop_pages(x, s, c)
        immutable = x.or_(x.eq(c, 0), x.eq(c, self.reserved_or_none()))
        reclaim = x.and_(
            cond,
            x.not_(immutable),
            x.or_(
                x.and_(x.not_(x.eq(iso, int(Isolated.NO))), x.lt(0, empty)),
                x.and_(
                    x.lt(p.empty_pop_pages_high + empty, s.nr_empty_pop_pages),
                    # chunk->nr_pages / 4 empty pages: 64 at 256 pages a unit,
                    # never 0 (a chunk with no empty page is never isolated)
                    x.le(max(1, p.unit_pages // 4), empty),
                ),
            ),
        )
        isolate = upd(
            s,
            isolated=store(x, s.isolated, c, int(Isolated.TO_DEPOPULATE)),
            nr_empty_pop_pages=s.nr_empty_pop_pages - x.ite(x.eq(iso, int(Isolated.NO)), empty, 0),
        )
        return ite_state(x, reclaim, self.schedule_balance(x, isolate, True), s)

    def free_percpu(self, i: int, x: Ops, s: State, ch: Choices) -> Step:
        # free_percpu(): pcpu_lock: pcpu_free_area(), the counter, and the
        # balance work when a second chunk becomes fully free
        g, sw, lp = self.g, self.sw, self.p.live_per_context
        mine = range(i * lp, (i + 1) * lp)
        k = ch["live"]
        valid = select(x, [s.live_valid[j] for j in mine], k)
        c = select(x, [s.live_chunk[j] for j in mine], k)
        off = select(x, [s.live_off[j] for j in mine], k)
        area = area_mask(x, g, off, select(x, [s.live_size[j] for j in mine], k))
        amap = select(x, s.alloc_map, c)
        occ = count_occupied_pages(x, g, amap, area)
        new_map = amap & x.bnot(area, g.cells)
        start = x.from_bits([x.eq(off, b) for b in range(g.cells)])
        # pcpu_update_empty_pages(): neither the reserved nor an isolated chunk counts
        counted = x.and_(
            x.not_(x.eq(c, self.reserved_or_none())),
            x.eq(select(x, s.isolated, c), int(Isolated.NO)),
        )
        s2 = upd(
            s,
            alloc_map=store(x, s.alloc_map, c, new_map),
            bound_map=store(x, s.bound_map, c, select(x, s.bound_map, c) & x.bnot(start, g.cells)),
            live_valid=store(x, s.live_valid, mine[0] + k, False)
            if isinstance(k, int)
            else tuple(
                x.ite(x.eq(k, j - mine[0]), False, v) if j in mine else v
                for j, v in enumerate(s.live_valid)
            ),
        )
        if sw.free_counts_pages:
            s2 = self.update_empty_pages(x, s2, c, x.ite(counted, occ, 0))
        # another chunk on the free slot of the freed chunk's type (3c7be18ac9a0)
        memcg = select(x, s.memcg, c)
        other_free = x.or_(
            *[
                x.and_(
                    x.not_(x.eq(c, j)),
                    self.in_slots(x, s2, j),
                    self.of_type(x, s2, j, memcg),
                    fully_free(x, s2.alloc_map[j]),
                )
                for j in self.normal_chunks()
            ]
        )
        freed_chunk = x.and_(counted, fully_free(x, new_map))
        if sw.free_schedules_balance:
            s2 = self.schedule_balance(x, s2, x.and_(freed_chunk, other_free))
        if sw.partial_depopulation:
            s2 = self.maybe_isolate(x, s2, c, x.not_(freed_chunk))
        return valid, s2, Events()

    def free_actions(self, i: int) -> list[Action]:
        return [
            Action(
                name="free_percpu",
                context=alloc_context(i),
                kernel="free_percpu(): pcpu_lock: pcpu_free_area(), counter += occ_pages",
                choices=("live",),
                at=self.alloc_at(i, AllocPc.IDLE),
                fn=partial(self.free_percpu, i),
                kind=Kind.FREE,
            )
        ]
