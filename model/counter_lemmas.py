"""The auxiliary invariants (model/invariants.py's lemmas) about
pcpu_nr_empty_pop_pages: what occ_pages counts, the counter as the empty
populated pages it stands for, and what the balance work's run keeps."""

from __future__ import annotations

from typing import Any

from percpu_mc.model.actions import Kernel
from percpu_mc.model.control import AREA_PCS, UNPOPULATED_PCS, AllocPc, BalancePc
from percpu_mc.model.geometry import area_mask, area_pages, fully_free, nr_empty_pop, occupied_pages
from percpu_mc.model.ops import Ops, implies, one_of, select
from percpu_mc.model.state import State, full


def unpopulated_pages(x: Ops, k: Kernel, s: State, i: int) -> Any:
    """The pages of context i's area its chunk has not populated (yet)."""
    return area_pages(x, k.g, s.off[i], s.req_size[i]) & x.bnot(
        select(x, s.populated, s.chunk[i]), k.g.pages
    )


def occ_pages(x: Ops, k: Kernel, s: State) -> Any:
    """pcpu_alloc_area()'s occ_pages (pcpu_count_occupied_pages()) stays the
    pages only this area occupies until the population that follows it is over."""
    g = k.g
    ok = []
    for i, pc in enumerate(s.pc):
        area = area_mask(x, g, s.off[i], s.req_size[i])
        amap = select(x, s.alloc_map, s.chunk[i])
        ok.append(
            implies(
                x, one_of(x, pc, UNPOPULATED_PCS), x.eq(s.occ[i], occupied_pages(x, g, amap, area))
            )
        )
        ok.append(
            implies(x, one_of(x, pc, AREA_PCS), x.and_(x.le(0, s.occ[i]), x.le(s.occ[i], g.pages)))
        )
    return x.and_(*ok)


def occ_bounds(x: Ops, k: Kernel, s: State) -> Any:
    """occ_pages counts pages of the area, and, until the population is over,
    at least the unpopulated ones (no other cell lies in an unpopulated page).
    Weaker than occ-pages, and true where that one is not: once an area
    straddles a page boundary, a neighbour freed or allocated in a shared
    populated page changes what the area alone occupies, not occ_pages."""
    g = k.g
    ok = []
    for i, pc in enumerate(s.pc):
        pages = x.popcount(area_pages(x, g, s.off[i], s.req_size[i]), g.pages)
        ok.append(
            implies(x, one_of(x, pc, AREA_PCS), x.and_(x.le(0, s.occ[i]), x.le(s.occ[i], pages)))
        )
        if k.sw.occ_pages_subtracted == "after-population":  # else it counts populated pages only
            lost = x.popcount(unpopulated_pages(x, k, s, i), g.pages)
            ok.append(implies(x, one_of(x, pc, UNPOPULATED_PCS), x.le(lost, s.occ[i])))
    return x.and_(*ok)


def counter_identity(x: Ops, k: Kernel, s: State) -> Any:
    """pcpu_nr_empty_pop_pages, 'protected by pcpu_lock', is the populated
    empty pages of the chunks but the reserved one, except the occ_pages an
    allocation in progress has taken but not yet subtracted, minus those it
    has yet to populate, which the populate step adds back (nothing is
    pending when the counting goes with the area map)."""
    g = k.g
    total: Any = 0
    for c in k.normal_chunks():
        total = total + x.ite(s.live[c], nr_empty_pop(x, g, s.alloc_map[c], s.populated[c]), 0)
    if k.sw.occ_pages_subtracted == "with-area":
        return x.eq(s.nr_empty_pop_pages, total)
    if k.sw.occ_pages_subtracted == "with-area-every-page":
        # less the unpopulated pages allocations in flight took (their
        # population adds them back); an isolated chunk is off the counter;
        # from 0760fa3d8f7f each chunk type has its own counter
        totals: dict[bool, Any] = {False: 0, True: 0}
        for c in k.normal_chunks():
            on = x.and_(s.live[c], x.eq(s.isolated[c], 0))
            empty = nr_empty_pop(x, g, s.alloc_map[c], s.populated[c]) - k.taken_unpopulated(
                x, s, c
            )
            if not k.sw.counter_per_chunk_type:
                totals[False] = totals[False] + x.ite(on, empty, 0)
                continue
            for memcg in totals:
                mine = x.and_(on, k.of_type(x, s, c, memcg))
                totals[memcg] = totals[memcg] + x.ite(mine, empty, 0)
        if not k.sw.counter_per_chunk_type:
            return x.eq(s.nr_empty_pop_pages, totals[False])
        return x.and_(
            x.eq(s.nr_empty_pop_pages, totals[False]),
            x.eq(s.nr_empty_pop_pages_memcg, totals[True]),
        )
    for i, pc in enumerate(s.pc):
        counted = x.not_(x.eq(s.chunk[i], k.reserved_or_none()))
        lost = unpopulated_pages(x, k, s, i)
        pending = x.and_(
            one_of(x, pc, (AllocPc.POP_MUTEX, AllocPc.POPULATE, AllocPc.COUNTER)), counted
        )
        total = total + x.ite(pending, s.occ[i] - x.popcount(lost, g.pages), 0)
    return x.eq(s.nr_empty_pop_pages, total)


def balance_run(x: Ops, k: Kernel, s: State) -> Any:
    """pcpu_balance_workfn() phase 2: nr_to_pop is positive while it looks
    for or populates a chunk, the chunk it populates is alive and has
    unpopulated pages, and the chunks on to_free are fully free."""
    p, g = k.p, k.g
    bpc = s.balance_pc
    ok = [
        implies(
            x,
            one_of(x, bpc, (BalancePc.PICK, BalancePc.POP, BalancePc.CREATE)),
            x.and_(x.lt(0, s.nr_to_pop), x.le(s.nr_to_pop, p.empty_pop_pages_high)),
        ),
        implies(
            x,
            x.eq(bpc, int(BalancePc.POP)),
            x.and_(
                select(x, s.live, s.balance_chunk),
                select(x, s.linked, s.balance_chunk),
                x.not_(x.eq(select(x, s.populated, s.balance_chunk), full(g.pages))),
            ),
        ),
        implies(x, x.eq(bpc, int(BalancePc.EXT)), select(x, s.live, s.balance_chunk)),
    ]
    for c in range(p.nr_chunks):
        ok.append(
            implies(
                x,
                s.to_free[c],
                x.and_(x.eq(bpc, int(BalancePc.DESTROY)), fully_free(x, s.alloc_map[c])),
            )
        )
        if k.sw.map_extension == "balance-list":
            # 4f996e234dad: list_del_init(&chunk->map_extend_list) when moved to to_free
            ok.append(implies(x, s.map_extend_pending[c], s.linked[c]))
    return x.and_(*ok)


def refill_progress(x: Ops, k: Kernel, s: State) -> Any:
    """1a4d76076cda's retry_pop: a run that met no failure populates until
    the counter plus what is left to populate reaches PCPU_EMPTY_POP_PAGES_HIGH."""
    busy = one_of(x, s.balance_pc, (BalancePc.PICK, BalancePc.POP, BalancePc.CREATE))
    # the counter the run reads: its type's from 0760fa3d8f7f
    counter = k.type_nr_empty_pop_pages(x, s, x.eq(s.balance_type, 1))
    return implies(
        x, x.and_(s.run_clean, busy), x.le(k.p.empty_pop_pages_high, counter + s.nr_to_pop)
    )
