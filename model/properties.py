"""The properties: what the kernel promises, stated apart from the actions.

Each is a predicate on one state (history variables included) and names the
comment or commit that promises it.  None mentions a bug: bugs live in the
variants' behaviour (model/actions/, switched by specs/).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from percpu_mc.model.actions import Kernel
from percpu_mc.model.control import (
    ALLOC_CHUNK_PCS,
    ALLOC_MUTEX_PCS,
    BALANCE_CHUNK_PCS,
    BALANCE_MUTEX_PCS,
    AllocPc,
    alloc_owner,
)
from percpu_mc.model.geometry import area_pages, fully_free, nr_empty_pop
from percpu_mc.model.ops import Ops, one_of, select
from percpu_mc.model.state import State, full


@dataclass(frozen=True)
class Property:
    name: str
    promise: str  # where the kernel promises it
    holds: Callable[[Ops, Kernel, State], Any]
    # the situation the property speaks about; a run in which it never arises
    # tests nothing, and the checkers report the verdict as vacuous
    premise: Callable[[Ops, Kernel, State], Any] | None = None
    premise_text: str = ""  # what never happened, for a vacuous verdict

    def premise_reached(self) -> Property:
        """A pseudo-property violated exactly where the premise holds: the
        engines find premise states the way they find violations."""
        assert self.premise is not None
        premise = self.premise
        return Property(
            f"premise:{self.name}", self.premise_text, lambda x, k, s: x.not_(premise(x, k, s))
        )


def counter_nonnegative(x: Ops, k: Kernel, s: State) -> Any:
    return x.le(0, s.nr_empty_pop_pages)


def _quiet(x: Ops, s: State) -> Any:
    return x.and_(*[x.eq(pc, int(AllocPc.IDLE)) for pc in s.pc])


def counter_exact_premise(x: Ops, k: Kernel, s: State) -> Any:
    """A quiescent point with an allocation live: the counter has moved."""
    return x.and_(_quiet(x, s), x.or_(*s.live_valid))


def _empty_pop_pages(x: Ops, k: Kernel, s: State, memcg: Any = None) -> Any:
    """The empty populated pages the counter is to hold: every counted
    chunk's, or (`memcg` given) those of the chunks of that type."""
    truth: Any = 0
    for c in k.normal_chunks():
        # v5.14: "Isolated chunks' empty pages are excluded from the global counter"
        counted = x.and_(s.live[c], x.eq(s.isolated[c], 0))
        if memcg is not None:
            counted = x.and_(counted, k.of_type(x, s, c, memcg))
        truth = truth + x.ite(counted, nr_empty_pop(x, k.g, s.alloc_map[c], s.populated[c]), 0)
    return truth


def counter_exact(x: Ops, k: Kernel, s: State) -> Any:
    quiet = _quiet(x, s)
    if k.sw.counter_per_chunk_type:
        # 0760fa3d8f7f: "The number of empty populated pages by chunk type"
        exact = x.and_(
            x.eq(s.nr_empty_pop_pages, _empty_pop_pages(x, k, s, False)),
            x.eq(s.nr_empty_pop_pages_memcg, _empty_pop_pages(x, k, s, True)),
        )
    else:
        exact = x.eq(s.nr_empty_pop_pages, _empty_pop_pages(x, k, s))
    return x.or_(x.not_(quiet), exact)


def populated_backing(x: Ops, k: Kernel, s: State) -> Any:
    g = k.g
    ok = []
    for j in range(len(s.live_valid)):
        pages = area_pages(x, g, s.live_off[j], s.live_size[j])
        pop = select(x, s.populated, s.live_chunk[j])
        ok.append(x.or_(x.not_(s.live_valid[j]), x.eq(pages & x.bnot(pop, g.pages), 0)))
    # an allocation past population (or an atomic one past pcpu_alloc_area)
    for i, pc in enumerate(s.pc):
        done = one_of(x, pc, frozenset({AllocPc.COUNTER, AllocPc.COUNTER_STORE}))
        pages = area_pages(x, g, s.off[i], s.req_size[i])
        pop = select(x, s.populated, s.chunk[i])
        ok.append(x.or_(x.not_(done), x.eq(pages & x.bnot(pop, g.pages), 0)))
    return x.and_(*ok)


def no_use_after_free(x: Ops, k: Kernel, s: State) -> Any:
    ok = []
    for i, pc in enumerate(s.pc):
        ok.append(x.or_(x.not_(one_of(x, pc, ALLOC_CHUNK_PCS)), select(x, s.live, s.chunk[i])))
    for j, valid in enumerate(s.live_valid):
        ok.append(x.or_(x.not_(valid), select(x, s.live, s.live_chunk[j])))
    ok.append(
        x.or_(
            x.not_(one_of(x, s.balance_pc, BALANCE_CHUNK_PCS)), select(x, s.live, s.balance_chunk)
        )
    )
    for c in range(k.p.nr_chunks):
        # the work item (or list entry) lives inside struct pcpu_chunk
        ok.append(x.or_(s.live[c], x.not_(x.or_(s.map_extend_pending[c], s.ext_running[c]))))
    return x.and_(*ok)


def no_deadlock(x: Ops, k: Kernel, s: State) -> Any:
    """pcpu_alloc_mutex is never held by a context whose code no longer holds
    it (a finished call, say): every later mutex_lock() of an allocation or of
    the balance work would wait forever.  And no contexts wait for each
    other's locks in a cycle (lockdep's "circular locking dependency"): over
    pcpu_alloc_mutex, pcpu_lock where it is held across steps, and the lock
    from outside mm/percpu.c of the lock-order variants
    (model/actions/outside.py)."""
    holding_pcs = ALLOC_MUTEX_PCS[k.sw.alloc_mutex]
    stranded = [
        x.and_(x.eq(s.alloc_mutex, alloc_owner(i)), x.not_(one_of(x, pc, holding_pcs)))
        for i, pc in enumerate(s.pc)
    ]
    stranded.append(
        x.and_(x.eq(s.alloc_mutex, k.bal), x.not_(one_of(x, s.balance_pc, BALANCE_MUTEX_PCS)))
    )
    return x.not_(x.or_(*stranded, k.wait_for_cycle(x, s)))


def chunk_lifecycle(x: Ops, k: Kernel, s: State) -> Any:
    p, g = k.p, k.g
    immutable = [0] + ([p.reserved_index] if p.has_reserved else [])
    ok = [
        x.and_(s.live[c], x.eq(s.populated[c], full(g.pages)), x.not_(s.to_free[c]))
        for c in immutable
    ]
    for c in range(p.first_dynamic, p.nr_chunks):
        ok.append(
            x.or_(
                s.live[c],
                x.and_(fully_free(x, s.alloc_map[c]), x.eq(s.populated[c], 0), x.not_(s.linked[c])),
            )
        )
    free_chunks = 0
    for c in k.normal_chunks():
        # on pcpu_free_slot: an isolated chunk (f183324133ea) sits on another
        # list even when fully free, until pcpu_reclaim_populated() reintegrates it;
        # (3c7be18ac9a0) the free slot of the type just collected
        free_chunks = free_chunks + x.ite(
            x.and_(
                k.in_slots(x, s, c),
                k.of_type(x, s, c, x.eq(s.balance_type, 1)),
                fully_free(x, s.alloc_map[c]),
            ),
            1,
            0,
        )
    ok.append(x.or_(x.not_(s.after_collect), x.le(free_chunks, 1)))
    return x.and_(*ok)


def atomic_progress(x: Ops, k: Kernel, s: State) -> Any:
    """The failed request fits after a complete balance run: in a chunk of
    its own type (3c7be18ac9a0: pcpu_alloc() scans pcpu_chunk_list(type))."""
    fits = [
        k.candidate(x, s, c, s.ap_size, s.ap_align, True, s.ap_memcg) for c in k.normal_chunks()
    ]
    return x.or_(x.not_(x.eq(s.ap_phase, 3)), *fits)


def atomic_progress_premise(x: Ops, k: Kernel, s: State) -> Any:
    return x.eq(s.ap_phase, 3)


def no_stale_mapping(x: Ops, k: Kernel, s: State) -> Any:
    """No area is handed out (populated and about to be zeroed on every CPU,
    or held) on a page unmapped since the last TLB flush of it."""
    g = k.g
    ok = []
    for j in range(len(s.live_valid)):
        pages = area_pages(x, g, s.live_off[j], s.live_size[j])
        stale = select(x, s.stale, s.live_chunk[j])
        ok.append(x.or_(x.not_(s.live_valid[j]), x.eq(pages & stale, 0)))
    for i, pc in enumerate(s.pc):
        done = one_of(x, pc, frozenset({AllocPc.COUNTER, AllocPc.COUNTER_STORE}))
        pages = area_pages(x, g, s.off[i], s.req_size[i])
        stale = select(x, s.stale, s.chunk[i])
        ok.append(x.or_(x.not_(done), x.eq(pages & stale, 0)))
    return x.and_(*ok)


def no_stale_mapping_premise(x: Ops, k: Kernel, s: State) -> Any:
    return x.or_(*[x.not_(x.eq(v, 0)) for v in s.stale])


def refill_premise(x: Ops, k: Kernel, s: State) -> Any:
    return s.refill_check


def refill(x: Ops, k: Kernel, s: State) -> Any:
    """A clean balance run ends with HIGH empty populated pages; with chunk
    types (3c7be18ac9a0), in each type's pool: 0760fa3d8f7f, "Accounted
    and non-accounted allocations are using separate sets of chunks, so both
    need to have a surplus of empty pages".  A pool is read from its chunks,
    as the kernel of 3c7be18ac9a0 keeps no count of it."""
    high = k.p.empty_pop_pages_high
    if k.sw.chunk_types == 2:
        full_pools = x.and_(
            *[x.le(high, _empty_pop_pages(x, k, s, memcg)) for memcg in (False, True)]
        )
    else:
        full_pools = x.le(high, s.nr_empty_pop_pages)
    return x.or_(x.not_(s.refill_check), full_pools)


PROPERTIES: dict[str, Property] = {
    p.name: p
    for p in [
        Property(
            "counter-nonnegative",
            "pcpu_nr_empty_pop_pages: 'The number of empty populated pages' (b539b87fed37)",
            counter_nonnegative,
        ),
        Property(
            "counter-exact",
            "pcpu_nr_empty_pop_pages: 'The number of empty populated pages, protected by "
            "pcpu_lock. The reserved chunk doesn't contribute to the count.'",
            counter_exact,
            counter_exact_premise,
            "no quiescent point with an allocation live",
        ),
        Property(
            "populated-backing",
            "1a4d76076cda: atomic allocations only from populated areas; pcpu_alloc() "
            "populates before returning",
            populated_backing,
        ),
        Property(
            "no-use-after-free",
            "pcpu_balance_workfn: '@chunk can't go away while pcpu_alloc_mutex is held' "
            "(4f996e234dad, 6710e594f71c)",
            no_use_after_free,
        ),
        Property(
            "no-deadlock",
            "mm/percpu.c synchronization rules: pcpu_alloc_mutex is released "
            "by the code path that took it; no circular locking dependency (lockdep; "
            "198790d9a3ae, 28307d938fb2)",
            no_deadlock,
        ),
        Property(
            "chunk-lifecycle",
            "pcpu_balance_workfn: 'Destroy all free chunks except for one'; first and reserved "
            "chunks immutable",
            chunk_lifecycle,
        ),
        Property(
            "atomic-progress",
            "1a4d76076cda: 'If atomic allocation failed previously, always populate the "
            "maximum amount'; per chunk type from 3c7be18ac9a0",
            atomic_progress,
            atomic_progress_premise,
            "no failed atomic request of at most a page was followed by a clean balance run",
        ),
        Property(
            "refill",
            "1a4d76076cda: 'keep the number of populated free pages between "
            "PCPU_EMPTY_POP_PAGES_LOW and HIGH'; per chunk type (0760fa3d8f7f)",
            refill,
            refill_premise,
            "no balance run completed without a failure",
        ),
        Property(
            "no-stale-mapping",
            "percpu-vm.c: pages unmapped by pcpu_depopulate_chunk() are flushed from the TLB "
            "(pcpu_post_unmap_tlb_flush()) before their addresses are used again; 93274f1dd6b0",
            no_stale_mapping,
            no_stale_mapping_premise,
            "no page was unmapped from a live chunk",
        ),
    ]
}
