"""Where each context is in its code and who holds pcpu_alloc_mutex: the
program counters of pcpu_alloc()/free_percpu() and pcpu_balance_workfn(),
the sets of them at which the code holds a lock or an area, the values of
the per-chunk and per-context enums, and the mutex's owners."""

from __future__ import annotations

from enum import IntEnum

from percpu_mc.model.params import Params, Switches


class AllocPc(IntEnum):
    """Where an allocating context is in pcpu_alloc() / free_percpu()."""

    IDLE = 0  # outside the allocator
    EXTEND = 1  # about to pcpu_extend_area_map(chunk, new_alloc)
    RESTART = 2  # extension done: spin_lock, goto restart
    CHUNK_MUTEX = 3  # no area, pcpu_lock dropped: mutex_lock() to create a chunk is next
    CREATE = 4  # holding the mutex (whole-call): pcpu_create_chunk() if the free slot is empty
    POP_MUTEX = 5  # area_found, pcpu_lock dropped: mutex_lock() to populate is next
    POPULATE = 6  # holding the mutex: pcpu_populate_chunk() per unpopulated region
    COUNTER = 7  # about to update pcpu_nr_empty_pop_pages
    COUNTER_STORE = 8  # unlocked update: loaded the counter, about to store


class BalancePc(IntEnum):
    """Where pcpu_balance_workfn is."""

    IDLE = 0  # not running (it may be pending: balance_pending)
    MUTEX = 1  # running, waiting in mutex_lock(&pcpu_alloc_mutex)
    DESTROY = 2  # phase 1: depopulate and destroy the chunks on to_free
    EXT_PICK = 3  # 4f996e234dad: take a chunk off pcpu_map_extend_chunks
    EXT = 4  # 4f996e234dad: pcpu_extend_area_map() on balance_chunk
    RETRY_POP = 5  # phase 2, retry_pop: compute nr_to_pop
    PICK = 6  # phase 2: find a chunk with unpopulated pages from balance_slot up
    POP = 7  # phase 2: pcpu_populate_chunk() on balance_chunk
    CREATE = 8  # phase 2: ran out of chunks, pcpu_create_chunk()
    RECLAIM = 9  # f183324133ea: pcpu_reclaim_populated(), one isolated chunk a step
    FINAL_COLLECT = 10  # f183324133ea: pcpu_balance_free(true) after phase 2
    FINAL_DESTROY = 11  # ... destroying the free chunks with no populated page
    RECLAIM_DEPOP = 12  # pcpu_reclaim_populated(): pcpu_depopulate_chunk() on reclaim_run
    RECLAIM_FLUSH = 13  # pcpu_reclaim_populated(): pcpu_post_unmap_tlb_flush()


class Outer(IntEnum):
    """Where an allocating context stands with the lock from outside
    mm/percpu.c (Switches.outside_lock)."""

    NONE = 0  # not held
    HELD = 1  # held, its pcpu_alloc() call is next
    CALLED = 2  # held, the call made (or returned): mutex_unlock/up/spin_unlock is next


class Isolated(IntEnum):
    """f183324133ea: where an isolated chunk sits (chunk->isolated and its list)."""

    NO = 0  # in the pcpu_slot[] lists
    TO_DEPOPULATE = 1  # pcpu_to_depopulate_slot
    SIDELINED = 2  # pcpu_sidelined_slot


# Program counters at which the running code holds pcpu_alloc_mutex (the
# lock discipline the kernel code follows; no-deadlock compares the owner
# against it).  Per alloc_mutex switch for allocating contexts.
ALLOC_MUTEX_PCS = {
    "populate-only": frozenset({AllocPc.POPULATE}),
    "whole-call": frozenset({AllocPc.EXTEND, AllocPc.RESTART, AllocPc.CREATE, AllocPc.POPULATE}),
}
BALANCE_MUTEX_PCS = frozenset(BalancePc) - {BalancePc.IDLE, BalancePc.MUTEX}
# Program counters at which a context holds a chunk pointer it will dereference.
ALLOC_CHUNK_PCS = frozenset(
    {
        AllocPc.EXTEND,
        AllocPc.RESTART,
        AllocPc.POP_MUTEX,
        AllocPc.POPULATE,
        AllocPc.COUNTER,
        AllocPc.COUNTER_STORE,
    }
)
BALANCE_CHUNK_PCS = frozenset(
    {BalancePc.EXT, BalancePc.POP, BalancePc.RECLAIM_DEPOP, BalancePc.RECLAIM_FLUSH}
)
# Where the v5.14 balance work holds pcpu_lock between its steps (its
# phases run under one pcpu_lock section, dropped only around [de]population,
# chunk creation and destruction and the TLB flush): no other context's
# pcpu_lock section runs there.
# (EXT_PICK: with the bitmap allocator the map-extension list is always
# empty and the step passes from pcpu_balance_free(false) to the reclaim
# inside that section.)
BALANCE_LOCKED_PCS = frozenset(
    {
        BalancePc.EXT_PICK,
        BalancePc.RECLAIM,
        BalancePc.RETRY_POP,
        BalancePc.PICK,
        BalancePc.FINAL_COLLECT,
    }
)

MUTEX_FREE = 0  # alloc_mutex owner: 0 free, ctx + 1, or balance_owner(p)


# An allocating context whose area pcpu_alloc_area() has taken but whose
# pointer is not yet returned (the area is in the map, not yet in `live_*`).
AREA_PCS = frozenset({AllocPc.POP_MUTEX, AllocPc.POPULATE, AllocPc.COUNTER, AllocPc.COUNTER_STORE})
# ... of which the population is still to come
UNPOPULATED_PCS = frozenset({AllocPc.POP_MUTEX, AllocPc.POPULATE})


def alloc_pcs(sw: Switches) -> frozenset:
    """The program counters the variant's pcpu_alloc() has."""
    pcs = {AllocPc.IDLE, AllocPc.EXTEND, AllocPc.RESTART, AllocPc.POPULATE, AllocPc.COUNTER}
    pcs |= (
        {AllocPc.CREATE}
        if sw.alloc_mutex == "whole-call"
        else {AllocPc.CHUNK_MUTEX, AllocPc.POP_MUTEX}
    )
    pcs |= {AllocPc.COUNTER_STORE} if sw.counter_update == "unlocked" else set()
    return frozenset(pcs)


def balance_pcs(sw: Switches) -> frozenset:
    """The program counters the variant's pcpu_balance_workfn() has."""
    pcs = {BalancePc.IDLE, BalancePc.MUTEX, BalancePc.DESTROY}
    pcs |= {BalancePc.EXT_PICK, BalancePc.EXT} if sw.map_extension == "balance-list" else set()
    if sw.balance_work == "free-and-populate":
        pcs |= {BalancePc.RETRY_POP, BalancePc.PICK, BalancePc.POP, BalancePc.CREATE}
    if sw.partial_depopulation:
        # f183324133ea: pcpu_reclaim_populated() and pcpu_balance_free(true)
        pcs |= {BalancePc.RECLAIM, BalancePc.RECLAIM_DEPOP}
        pcs |= {BalancePc.FINAL_COLLECT, BalancePc.FINAL_DESTROY}
        pcs |= {BalancePc.RECLAIM_FLUSH} if sw.reclaim_tlb_flush else set()
    return frozenset(pcs)


def alloc_owner(ctx: int) -> int:
    return ctx + 1


def balance_owner(p: Params) -> int:
    return p.nr_contexts + 1


def owning_context(p: Params, owner: int) -> int | None:
    """The allocating context an `alloc_mutex` owner stands for (None: the
    mutex is free or the balance work holds it)."""
    return owner - 1 if 1 <= owner <= p.nr_contexts else None
