"""Auxiliary invariants: what the kernel code keeps true between its steps,
stated so that the properties become provable by induction.

None of them is assumed: checker/engines/induction.py proves each one together with
the properties (they are candidates of the same inductive set) and drops
any that a reachable state breaks, or that is not inductive.  Each names the
kernel comment or code that promises it.  Like the properties, they state
what the kernel means to keep true, never a bug.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from percpu_mc.model.actions import Kernel
from percpu_mc.model.control import (
    ALLOC_CHUNK_PCS,
    ALLOC_MUTEX_PCS,
    AREA_PCS,
    BALANCE_MUTEX_PCS,
    UNPOPULATED_PCS,
    AllocPc,
    BalancePc,
    Isolated,
    alloc_owner,
    alloc_pcs,
    balance_owner,
    balance_pcs,
)
from percpu_mc.model.geometry import area_mask, area_pages, fully_free, nr_empty_pop, occupied_pages
from percpu_mc.model.ops import Ops, select
from percpu_mc.model.params import MAX_MAP_ALLOC, PCPU_DFL_MAP_ALLOC, Switches
from percpu_mc.model.state import State, fixed_cells, full, initial_state


@dataclass(frozen=True)
class Lemma:
    name: str
    promise: str
    holds: Callable[[Ops, Kernel, State], Any]


def _in(x: Ops, v: Any, values: Any) -> Any:
    return x.or_(*[x.eq(v, int(e)) for e in values])


def _implies(x: Ops, a: Any, b: Any) -> Any:
    return x.or_(x.not_(a), b)


def _unpopulated_pages(x: Ops, k: Kernel, s: State, i: int) -> Any:
    """The pages of context i's area its chunk has not populated (yet)."""
    return area_pages(x, k.g, s.off[i], s.req_size[i]) & x.bnot(
        select(x, s.populated, s.chunk[i]), k.g.pages
    )


def areas(x: Ops, k: Kernel, s: State) -> list[tuple[Any, Any, Any, Any]]:
    """(present, chunk, off, size) of every area the allocator has handed
    out: the live allocations and the areas of allocations in progress."""
    out = [
        (s.live_valid[j], s.live_chunk[j], s.live_off[j], s.live_size[j])
        for j in range(len(s.live_valid))
    ]
    out += [
        (_in(x, pc, AREA_PCS), s.chunk[i], s.off[i], s.req_size[i]) for i, pc in enumerate(s.pc)
    ]
    return out


def domains(x: Ops, k: Kernel, s: State) -> Any:
    """Every variable stays within the values its code gives it."""
    p, g = k.p, k.g
    ok = [
        _in(x, s.balance_pc, balance_pcs(k.sw)),
        x.le(0, s.alloc_mutex),
        x.le(s.alloc_mutex, balance_owner(p)),
        x.le(0, s.ap_phase),
        x.le(s.ap_phase, 3),
    ]
    chunk = range(p.nr_chunks)
    maps = [
        PCPU_DFL_MAP_ALLOC << e for e in range((MAX_MAP_ALLOC // PCPU_DFL_MAP_ALLOC).bit_length())
    ]
    for i in range(p.nr_contexts):
        busy = x.not_(x.eq(s.pc[i], int(AllocPc.IDLE)))
        ok += [
            _in(x, s.pc[i], alloc_pcs(k.sw)),
            _implies(
                x, busy, x.and_(_in(x, s.req_size[i], p.sizes), _in(x, s.req_align[i], p.aligns))
            ),
            _implies(x, _in(x, s.pc[i], ALLOC_CHUNK_PCS), _in(x, s.chunk[i], chunk)),
            _implies(
                x, _in(x, s.pc[i], AREA_PCS), x.and_(x.le(0, s.off[i]), x.lt(s.off[i], g.cells))
            ),
            _implies(x, x.eq(s.pc[i], int(AllocPc.EXTEND)), _in(x, s.new_alloc[i], maps)),
        ]
        if not p.has_reserved:
            ok.append(_implies(x, busy, x.not_(s.req_reserved[i])))
    for j in range(len(s.live_valid)):
        ok.append(
            _implies(
                x,
                s.live_valid[j],
                x.and_(
                    _in(x, s.live_size[j], p.sizes),
                    _in(x, s.live_chunk[j], chunk),
                    x.le(0, s.live_off[j]),
                    x.lt(s.live_off[j], g.cells),
                ),
            )
        )
    ok += [
        _in(x, s.balance_chunk, chunk),
        _implies(x, x.eq(s.balance_pc, int(BalancePc.EXT)), _in(x, s.balance_new_alloc, maps)),
    ]
    for c in chunk:
        if k.sw.map_extension == "balance-list":
            ok.append(x.not_(s.ext_running[c]))  # no map_extend_work items
        else:
            ok.append(_implies(x, s.ext_running[c], _in(x, s.ext_new_alloc[c], maps)))
    # f183324133ea: only partial depopulation ever isolates a chunk
    isolated = [int(v) for v in Isolated] if k.sw.partial_depopulation else [int(Isolated.NO)]
    for c in chunk:
        ok += [
            x.eq(s.alloc_map[c] & full(g.cells), s.alloc_map[c]),
            _in(x, s.isolated[c], isolated),
            x.eq(s.bound_map[c] & s.alloc_map[c], s.bound_map[c]),
            x.eq(s.populated[c] & full(g.pages), s.populated[c]),
            _in(x, s.map_alloc[c], maps),
            # only pcpu_reclaim_populated() unmaps a live chunk's pages
            x.eq(s.stale[c] & full(g.pages), s.stale[c])
            if k.sw.partial_depopulation
            else x.eq(s.stale[c], 0),
        ]
    ok.append(
        _implies(
            x,
            x.not_(x.eq(s.ap_phase, 0)),
            x.and_(
                _in(x, s.ap_size, [sz for sz in p.sizes if sz <= p.cells_per_page]),
                _in(x, s.ap_align, p.aligns),
            ),
        )
    )
    # what the variant's code never assigns keeps its initial value
    init = initial_state(p)
    for name in unassigned_fields(k.sw):
        now, then = getattr(s, name), getattr(init, name)
        pairs = zip(now, then) if isinstance(then, tuple) else [(now, then)]
        ok += [x.eq(v, w) for v, w in pairs]
    return x.and_(*ok)


def unassigned_fields(sw: Switches) -> list[str]:
    """The state fields no action of a variant with switches `sw` assigns."""
    unused = []
    if sw.outside_lock == "none":  # model/actions/outside.py
        unused += ["outer", "wakeup", "fs_reclaim", "balance_fs_reclaim"]
    if sw.chunk_types == 1:  # 3c7be18ac9a0
        unused += ["memcg", "req_memcg", "ap_memcg", "balance_type"]
    if not sw.counter_per_chunk_type:  # 0760fa3d8f7f
        unused.append("nr_empty_pop_pages_memcg")
    if not sw.slot_fail_demotion:  # model/actions/demotion.py
        unused.append("demoted")
    return unused


def mutex_owner(x: Ops, k: Kernel, s: State) -> Any:
    """pcpu_alloc_mutex is held by exactly the code that is between its
    mutex_lock() and mutex_unlock()."""
    holding = ALLOC_MUTEX_PCS[k.sw.alloc_mutex]
    ok = [
        x.eq(x.eq(s.alloc_mutex, alloc_owner(i)), _in(x, pc, holding)) for i, pc in enumerate(s.pc)
    ]
    ok.append(x.eq(x.eq(s.alloc_mutex, k.bal), _in(x, s.balance_pc, BALANCE_MUTEX_PCS)))
    return x.and_(*ok)


def dead_chunks(x: Ops, k: Kernel, s: State) -> Any:
    """A destroyed chunk struct is on no list and nothing points into it;
    live chunks are on a pcpu_slot[] list or on to_free, never both."""
    ok = []
    for c in range(k.p.nr_chunks):
        gone = x.and_(
            fully_free(x, s.alloc_map[c]),
            x.eq(s.bound_map[c], 0),
            x.eq(s.populated[c], 0),
            x.not_(s.linked[c]),
            x.not_(s.to_free[c]),
            x.not_(s.map_extend_pending[c]),
            x.not_(s.ext_running[c]),
        )
        ok.append(x.or_(s.live[c], gone))
        if c in k.normal_chunks():
            ok.append(_implies(x, s.live[c], x.not_(x.eq(s.linked[c], s.to_free[c]))))
        else:
            ok.append(x.and_(s.live[c], x.not_(s.linked[c]), x.not_(s.to_free[c])))
    ok.append(x.and_(s.live[0], s.linked[0], x.not_(s.to_free[0])))
    return x.and_(*ok)


def area_map(x: Ops, k: Kernel, s: State) -> Any:
    """pcpu_alloc_area()/pcpu_free_area() keep the map exactly the areas
    handed out (live allocations and allocations in progress) plus the
    boot-time cells, each area starting a map entry, no two overlapping."""
    g = k.g
    ars = areas(x, k, s)
    masks = [area_mask(x, g, off, size) for _, _, off, size in ars]
    starts = [x.from_bits([x.eq(off, b) for b in range(g.cells)]) for _, _, off, _ in ars]
    ok = []
    for (pres, c, off, size), m in zip(ars, masks):
        ok.append(_implies(x, pres, x.and_(x.le(off + size, g.cells), select(x, s.live, c))))
    for c in range(k.p.nr_chunks):
        used: Any = fixed_cells(k.p, c)
        bound: Any = (
            1 if c == 0 else (1 << k.p.reserved_cells) & full(g.cells) if fixed_cells(k.p, c) else 0
        )
        for (pres, ch, _, _), m, st in zip(ars, masks, starts):
            here = x.and_(pres, x.eq(ch, c))
            used = used | x.ite(here, m, 0)
            bound = bound | x.ite(here, st, 0)
        ok += [x.eq(s.alloc_map[c], used), x.eq(s.bound_map[c], bound)]
    for a in range(len(ars)):
        pa, ca = ars[a][0], ars[a][1]
        ok.append(_implies(x, pa, x.eq(masks[a] & fixed_cells_sel(x, k, ca), 0)))
        for b in range(a + 1, len(ars)):
            pb, cb = ars[b][0], ars[b][1]
            ok.append(_implies(x, x.and_(pa, pb, x.eq(ca, cb)), x.eq(masks[a] & masks[b], 0)))
    return x.and_(*ok)


def fixed_cells_sel(x: Ops, k: Kernel, c: Any) -> Any:
    return select(x, [fixed_cells(k.p, j) for j in range(k.p.nr_chunks)], c)


def backing(x: Ops, k: Kernel, s: State) -> Any:
    """Only pcpu_alloc() between pcpu_alloc_area() and the end of its
    population has cells in unpopulated pages (1a4d76076cda: 'atomic
    allocations only from populated areas'); everything returned is backed."""
    g = k.g
    ok = []
    for c in range(k.p.nr_chunks):
        unpop_cells = x.from_bits(
            [x.not_(x.bit(s.populated[c], b // g.cpp)) for b in range(g.cells)]
        )
        pending: Any = 0
        for i, pc in enumerate(s.pc):
            here = x.and_(_in(x, pc, UNPOPULATED_PCS), x.eq(s.chunk[i], c))
            pending = pending | x.ite(here, area_mask(x, g, s.off[i], s.req_size[i]), 0)
        ok.append(x.eq(s.alloc_map[c] & unpop_cells & x.bnot(pending, g.cells), 0))
    for i, pc in enumerate(s.pc):
        # pcpu_for_each_unpop_region(): it populates while a page is left
        lost = _unpopulated_pages(x, k, s, i)
        ok.append(_implies(x, x.eq(pc, int(AllocPc.POPULATE)), x.not_(x.eq(lost, 0))))
    return x.and_(*ok)


def occ_pages(x: Ops, k: Kernel, s: State) -> Any:
    """pcpu_alloc_area()'s occ_pages (pcpu_count_occupied_pages()) stays the
    pages only this area occupies until the population that follows it is over."""
    g = k.g
    ok = []
    for i, pc in enumerate(s.pc):
        area = area_mask(x, g, s.off[i], s.req_size[i])
        amap = select(x, s.alloc_map, s.chunk[i])
        ok.append(
            _implies(
                x, _in(x, pc, UNPOPULATED_PCS), x.eq(s.occ[i], occupied_pages(x, g, amap, area))
            )
        )
        ok.append(
            _implies(x, _in(x, pc, AREA_PCS), x.and_(x.le(0, s.occ[i]), x.le(s.occ[i], g.pages)))
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
            _implies(x, _in(x, pc, AREA_PCS), x.and_(x.le(0, s.occ[i]), x.le(s.occ[i], pages)))
        )
        if k.sw.occ_pages_subtracted == "after-population":  # else it counts populated pages only
            lost = x.popcount(_unpopulated_pages(x, k, s, i), g.pages)
            ok.append(_implies(x, _in(x, pc, UNPOPULATED_PCS), x.le(lost, s.occ[i])))
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
        lost = _unpopulated_pages(x, k, s, i)
        pending = x.and_(
            _in(x, pc, (AllocPc.POP_MUTEX, AllocPc.POPULATE, AllocPc.COUNTER)), counted
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
        _implies(
            x,
            _in(x, bpc, (BalancePc.PICK, BalancePc.POP, BalancePc.CREATE)),
            x.and_(x.lt(0, s.nr_to_pop), x.le(s.nr_to_pop, p.empty_pop_pages_high)),
        ),
        _implies(
            x,
            x.eq(bpc, int(BalancePc.POP)),
            x.and_(
                select(x, s.live, s.balance_chunk),
                select(x, s.linked, s.balance_chunk),
                x.not_(x.eq(select(x, s.populated, s.balance_chunk), full(g.pages))),
            ),
        ),
        _implies(x, x.eq(bpc, int(BalancePc.EXT)), select(x, s.live, s.balance_chunk)),
    ]
    for c in range(p.nr_chunks):
        ok.append(
            _implies(
                x,
                s.to_free[c],
                x.and_(x.eq(bpc, int(BalancePc.DESTROY)), fully_free(x, s.alloc_map[c])),
            )
        )
        if k.sw.map_extension == "balance-list":
            # 4f996e234dad: list_del_init(&chunk->map_extend_list) when moved to to_free
            ok.append(_implies(x, s.map_extend_pending[c], s.linked[c]))
    return x.and_(*ok)


def contexts(x: Ops, k: Kernel, s: State) -> Any:
    """An allocation in progress works on a live chunk and has a free slot
    for the pointer it will return."""
    p = k.p
    lp = p.live_per_context
    ok = []
    for i, pc in enumerate(s.pc):
        ok.append(_implies(x, _in(x, pc, ALLOC_CHUNK_PCS), select(x, s.live, s.chunk[i])))
        ok.append(
            _implies(
                x,
                x.not_(x.eq(pc, int(AllocPc.IDLE))),
                x.or_(*[x.not_(s.live_valid[j]) for j in range(i * lp, (i + 1) * lp)]),
            )
        )
    return x.and_(*ok)


def async_gate(x: Ops, k: Kernel, s: State) -> Any:
    """1a4d76076cda: before percpu_enable_async() no work is scheduled or runs."""
    if not k.sw.async_gate:
        return True
    quiet = [
        x.not_(s.balance_pending),
        x.eq(s.balance_pc, int(BalancePc.IDLE)),
        x.eq(s.ap_phase, 0),
    ]
    if k.sw.map_extension == "work-item":
        quiet += [x.not_(s.map_extend_pending[c]) for c in range(k.p.nr_chunks)]
    return _implies(x, x.not_(s.pcpu_async_enabled), x.and_(*quiet))


def refill_progress(x: Ops, k: Kernel, s: State) -> Any:
    """1a4d76076cda's retry_pop: a run that met no failure populates until
    the counter plus what is left to populate reaches PCPU_EMPTY_POP_PAGES_HIGH."""
    busy = _in(x, s.balance_pc, (BalancePc.PICK, BalancePc.POP, BalancePc.CREATE))
    # the counter the run reads: its type's from 0760fa3d8f7f
    counter = k.type_nr_empty_pop_pages(x, s, x.eq(s.balance_type, 1))
    return _implies(
        x, x.and_(s.run_clean, busy), x.le(k.p.empty_pop_pages_high, counter + s.nr_to_pop)
    )


LEMMAS: list[Lemma] = [
    Lemma("domains", "every variable within the values its code assigns", domains),
    Lemma(
        "mutex-owner",
        "mm/percpu.c synchronization rules: pcpu_alloc_mutex held by the "
        "code between mutex_lock() and mutex_unlock()",
        mutex_owner,
    ),
    Lemma(
        "chunk-lists",
        "pcpu_destroy_chunk() frees the struct; a chunk is on pcpu_slot[] or on to_free",
        dead_chunks,
    ),
    Lemma(
        "area-map",
        "pcpu_alloc_area()/pcpu_free_area(): the area map is the areas handed out, non-overlapping",
        area_map,
    ),
    Lemma("backing", "1a4d76076cda: atomic allocations only from populated areas", backing),
    Lemma(
        "occ-pages", "pcpu_alloc_area(): occ_pages, the pages the area alone occupies", occ_pages
    ),
    Lemma(
        "occ-bounds",
        "pcpu_alloc_area(): occ_pages, at most the area's pages, at least those still to populate",
        occ_bounds,
    ),
    Lemma(
        "counter-identity",
        "pcpu_nr_empty_pop_pages: 'The number of empty populated pages, protected by pcpu_lock'",
        counter_identity,
    ),
    Lemma(
        "balance-run",
        "pcpu_balance_workfn(): nr_to_pop, the chunk it populates, to_free",
        balance_run,
    ),
    Lemma(
        "contexts",
        "pcpu_alloc(): the chunk it works on stays alive; a free slot for the pointer",
        contexts,
    ),
    Lemma("async-gate", "1a4d76076cda: pcpu_async_enabled gates the work items", async_gate),
    Lemma(
        "refill-progress",
        "1a4d76076cda retry_pop: populate up to PCPU_EMPTY_POP_PAGES_HIGH",
        refill_progress,
    ),
]
