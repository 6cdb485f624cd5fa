"""Auxiliary invariants: what the kernel code keeps true between its steps,
stated so that the properties become provable by induction.

None of them is assumed: checker/engines/induction.py proves each one together with
the properties (they are candidates of the same inductive set) and drops
any that a reachable state breaks, or that is not inductive.  Each names the
kernel comment or code that promises it.  Like the properties, they state
what the kernel means to keep true, never a bug.  Those about the counter
and occ_pages are in model/counter_lemmas.py; LEMMAS lists them all.
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
from percpu_mc.model.counter_lemmas import (
    balance_run,
    counter_identity,
    occ_bounds,
    occ_pages,
    refill_progress,
    unpopulated_pages,
)
from percpu_mc.model.geometry import area_mask, fully_free
from percpu_mc.model.ops import Ops, implies, one_of, select
from percpu_mc.model.params import MAX_MAP_ALLOC, PCPU_DFL_MAP_ALLOC, Switches
from percpu_mc.model.state import State, fixed_cells, full, initial_state


@dataclass(frozen=True)
class Lemma:
    name: str
    promise: str
    holds: Callable[[Ops, Kernel, State], Any]


def areas(x: Ops, k: Kernel, s: State) -> list[tuple[Any, Any, Any, Any]]:
    """(present, chunk, off, size) of every area the allocator has handed
    out: the live allocations and the areas of allocations in progress."""
    out = [
        (s.live_valid[j], s.live_chunk[j], s.live_off[j], s.live_size[j])
        for j in range(len(s.live_valid))
    ]
    out += [
        (one_of(x, pc, AREA_PCS), s.chunk[i], s.off[i], s.req_size[i]) for i, pc in enumerate(s.pc)
    ]
    return out


def domains(x: Ops, k: Kernel, s: State) -> Any:
    """Every variable stays within the values its code gives it."""
    p, g = k.p, k.g
    ok = [
        one_of(x, s.balance_pc, balance_pcs(k.sw)),
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
            one_of(x, s.pc[i], alloc_pcs(k.sw)),
            implies(
                x,
                busy,
                x.and_(one_of(x, s.req_size[i], p.sizes), one_of(x, s.req_align[i], p.aligns)),
            ),
            implies(x, one_of(x, s.pc[i], ALLOC_CHUNK_PCS), one_of(x, s.chunk[i], chunk)),
            implies(
                x, one_of(x, s.pc[i], AREA_PCS), x.and_(x.le(0, s.off[i]), x.lt(s.off[i], g.cells))
            ),
            implies(x, x.eq(s.pc[i], int(AllocPc.EXTEND)), one_of(x, s.new_alloc[i], maps)),
        ]
        if not p.has_reserved:
            ok.append(implies(x, busy, x.not_(s.req_reserved[i])))
    for j in range(len(s.live_valid)):
        ok.append(
            implies(
                x,
                s.live_valid[j],
                x.and_(
                    one_of(x, s.live_size[j], p.sizes),
                    one_of(x, s.live_chunk[j], chunk),
                    x.le(0, s.live_off[j]),
                    x.lt(s.live_off[j], g.cells),
                ),
            )
        )
    ok += [
        one_of(x, s.balance_chunk, chunk),
        implies(x, x.eq(s.balance_pc, int(BalancePc.EXT)), one_of(x, s.balance_new_alloc, maps)),
    ]
    for c in chunk:
        if k.sw.map_extension == "balance-list":
            ok.append(x.not_(s.ext_running[c]))  # no map_extend_work items
        else:
            ok.append(implies(x, s.ext_running[c], one_of(x, s.ext_new_alloc[c], maps)))
    # f183324133ea: only partial depopulation ever isolates a chunk
    isolated = [int(v) for v in Isolated] if k.sw.partial_depopulation else [int(Isolated.NO)]
    for c in chunk:
        ok += [
            x.eq(s.alloc_map[c] & full(g.cells), s.alloc_map[c]),
            one_of(x, s.isolated[c], isolated),
            x.eq(s.bound_map[c] & s.alloc_map[c], s.bound_map[c]),
            x.eq(s.populated[c] & full(g.pages), s.populated[c]),
            one_of(x, s.map_alloc[c], maps),
            # only pcpu_reclaim_populated() unmaps a live chunk's pages
            x.eq(s.stale[c] & full(g.pages), s.stale[c])
            if k.sw.partial_depopulation
            else x.eq(s.stale[c], 0),
        ]
    ok.append(
        implies(
            x,
            x.not_(x.eq(s.ap_phase, 0)),
            x.and_(
                one_of(x, s.ap_size, [sz for sz in p.sizes if sz <= p.cells_per_page]),
                one_of(x, s.ap_align, p.aligns),
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
        x.eq(x.eq(s.alloc_mutex, alloc_owner(i)), one_of(x, pc, holding))
        for i, pc in enumerate(s.pc)
    ]
    ok.append(x.eq(x.eq(s.alloc_mutex, k.bal), one_of(x, s.balance_pc, BALANCE_MUTEX_PCS)))
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
            ok.append(implies(x, s.live[c], x.not_(x.eq(s.linked[c], s.to_free[c]))))
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
        ok.append(implies(x, pres, x.and_(x.le(off + size, g.cells), select(x, s.live, c))))
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
        ok.append(implies(x, pa, x.eq(masks[a] & fixed_cells_sel(x, k, ca), 0)))
        for b in range(a + 1, len(ars)):
            pb, cb = ars[b][0], ars[b][1]
            ok.append(implies(x, x.and_(pa, pb, x.eq(ca, cb)), x.eq(masks[a] & masks[b], 0)))
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
            here = x.and_(one_of(x, pc, UNPOPULATED_PCS), x.eq(s.chunk[i], c))
            pending = pending | x.ite(here, area_mask(x, g, s.off[i], s.req_size[i]), 0)
        ok.append(x.eq(s.alloc_map[c] & unpop_cells & x.bnot(pending, g.cells), 0))
    for i, pc in enumerate(s.pc):
        # pcpu_for_each_unpop_region(): it populates while a page is left
        lost = unpopulated_pages(x, k, s, i)
        ok.append(implies(x, x.eq(pc, int(AllocPc.POPULATE)), x.not_(x.eq(lost, 0))))
    return x.and_(*ok)


def contexts(x: Ops, k: Kernel, s: State) -> Any:
    """An allocation in progress works on a live chunk and has a free slot
    for the pointer it will return."""
    p = k.p
    lp = p.live_per_context
    ok = []
    for i, pc in enumerate(s.pc):
        ok.append(implies(x, one_of(x, pc, ALLOC_CHUNK_PCS), select(x, s.live, s.chunk[i])))
        ok.append(
            implies(
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
    return implies(x, x.not_(s.pcpu_async_enabled), x.and_(*quiet))


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
