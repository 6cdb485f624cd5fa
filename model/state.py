"""The allocator's state, its initial value, and the quantities derived from it.

Synchronization rules (mm/percpu.c, 3.18): there are two locks.
`pcpu_alloc_mutex` covers chunk creation and destruction and page
[de]population; `pcpu_lock`, a spinlock, protects every other data
structure.  Every `pcpu_lock` section of the kernel is one action of the
model and the spinlock is never held across two actions, so its owner is not
part of the state: atomicity of the action is the lock.  The mutex is held
across actions (population sleeps) and is state: `alloc_mutex`.

Lock acquisitions are merged with the step that follows them, and lock
releases with the step before (Lipton's reduction: an acquire moves right
and a release moves left past every step of another context), so one action
holds at most one step that other contexts can observe.

A chunk's area map is kept the way the bitmap allocator of v4.14 keeps it:
`alloc_map` (cell in use) and `bound_map` (cell starts an in-use area).  The
3.18 map[] entries are these areas plus the maximal free runs between them
(pcpu_free_area merges free neighbours, pcpu_alloc_area splits), so
`map_used` is derived, as are `free_size`, `nr_populated` and the slot.

Chunk structs are a fixed array: index 0 is pcpu_first_chunk, index 1 the
reserved chunk when there is one, the rest are created and destroyed by
pcpu_create_chunk() / pcpu_destroy_chunk().  A destroyed struct may be reused
by a later creation, as the kernel reuses memory.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import IntEnum
from typing import Any

from percpu_mc.model.ops import Ops, Val, match, select
from percpu_mc.model.params import (
    MAX_MAP_ALLOC,
    PCPU_ATOMIC_MAP_MARGIN,
    PCPU_ATOMIC_MAP_MARGIN_HIGH,
    PCPU_DFL_MAP_ALLOC,
    PERCPU_DYNAMIC_EARLY_SLOTS,
    Params,
)


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
BALANCE_LOCKED_PCS = frozenset(
    {BalancePc.RECLAIM, BalancePc.RETRY_POP, BalancePc.PICK, BalancePc.FINAL_COLLECT}
)

MUTEX_FREE = 0  # alloc_mutex owner: 0 free, ctx + 1, or balance_owner(p)


def alloc_owner(ctx: int) -> int:
    return ctx + 1


def balance_owner(p: Params) -> int:
    return p.nr_contexts + 1


def owning_context(p: Params, owner: int) -> int | None:
    """The allocating context an `alloc_mutex` owner stands for (None: the
    mutex is free or the balance work holds it)."""
    return owner - 1 if 1 <= owner <= p.nr_contexts else None


@dataclass(frozen=True)
class State:
    # --- per chunk struct (tuples indexed by chunk) ---
    live: tuple  # created and not destroyed (pcpu_create/destroy_chunk)
    linked: tuple  # on a pcpu_slot[] list (false on to_free, before relocate, reserved)
    to_free: tuple  # on pcpu_balance_workfn's local to_free list
    alloc_map: tuple  # cells in use (map[i] & 1)
    bound_map: tuple  # cells that start an in-use area (map[i])
    populated: tuple  # chunk->populated bitmap, pages
    map_alloc: tuple  # chunk->map_alloc
    map_extend_pending: tuple  # map_extend_work queued, or on pcpu_map_extend_chunks
    ext_running: tuple  # pcpu_map_extend_workfn running past its need computation
    ext_new_alloc: tuple  # the new_alloc it computed
    isolated: tuple  # Isolated (f183324133ea)
    stale: tuple  # pages unmapped whose TLB entries may survive (no flush since)
    # --- globals ---
    nr_empty_pop_pages: Val  # pcpu_nr_empty_pop_pages
    pcpu_async_enabled: Any  # pcpu_async_enabled
    pcpu_atomic_alloc_failed: Any  # pcpu_atomic_alloc_failed
    alloc_mutex: Val  # owner of pcpu_alloc_mutex
    balance_pending: Any  # pcpu_balance_work queued
    balance_pc: Val  # BalancePc
    balance_chunk: Val  # chunk pcpu_balance_workfn works on
    nr_to_pop: Val  # its local nr_to_pop
    balance_slot: Val  # its slot loop variable
    balance_new_alloc: Val  # 4f996e234dad: new_alloc of the map it extends
    reclaim_page: Val  # pcpu_reclaim_populated()'s page index i, the next it tests
    reclaim_run: Val  # the run of pages it depopulates next, as a page bitmap
    reclaim_freed: Val  # the pages it depopulated and has not flushed yet
    reclaim_reintegrate: Any  # its local reintegrate
    # --- per allocating context (tuples indexed by context) ---
    pc: tuple  # AllocPc
    req_size: tuple  # pcpu_alloc(size, ...) in cells
    req_align: tuple  # pcpu_alloc(.., align, ..) in cells
    req_atomic: tuple  # is_atomic
    req_reserved: tuple  # reserved
    chunk: tuple  # the chunk pcpu_alloc works on
    off: tuple  # the area's offset (cells)
    occ: tuple  # occ_pages
    new_alloc: tuple  # new_alloc for the area map extension
    counter_reg: tuple  # the loaded pcpu_nr_empty_pop_pages (unlocked update)
    # --- live allocations (tuples indexed by ctx * live_per_context + i) ---
    live_valid: tuple  # the context holds this percpu pointer
    live_chunk: tuple
    live_off: tuple
    live_size: tuple
    # --- history variables, read only by properties ---
    ap_phase: Val  # atomic-progress monitor: 0 off, 1 armed, 2 in the run, 3 check
    ap_size: Val  # the failed atomic request
    ap_align: Val
    run_clean: Any  # the running balance work met no failure and no allocation
    refill_check: Any  # a clean balance run has just completed
    after_collect: Any  # phase 1 has just collected the chunks to free


# The history variables: written by every step (model/machine.py, observe),
# read by no action; BMC and the compiled explicit engine leave them out when
# no checked property reads them (checker/engines/bmc.py, native.py: the cone
# of influence), and a lasso's loop ignores them (checker/engines/lasso.py).
HISTORY_FIELDS = frozenset(
    {"ap_phase", "ap_size", "ap_align", "run_clean", "refill_check", "after_collect"}
)

BOOL_FIELDS = frozenset(
    {
        "live",
        "linked",
        "to_free",
        "map_extend_pending",
        "ext_running",
        "pcpu_async_enabled",
        "pcpu_atomic_alloc_failed",
        "balance_pending",
        "reclaim_reintegrate",
        "req_atomic",
        "req_reserved",
        "live_valid",
        "run_clean",
        "refill_check",
        "after_collect",
    }
)

# The field groups, by what their tuples are indexed by.
PER_CHUNK = (
    "live",
    "linked",
    "to_free",
    "alloc_map",
    "bound_map",
    "populated",
    "map_alloc",
    "map_extend_pending",
    "ext_running",
    "ext_new_alloc",
    "isolated",
    "stale",
)
PER_CONTEXT = (
    "pc",
    "req_size",
    "req_align",
    "req_atomic",
    "req_reserved",
    "chunk",
    "off",
    "occ",
    "new_alloc",
    "counter_reg",
)
PER_LIVE = ("live_valid", "live_chunk", "live_off", "live_size")  # ctx * live_per_context + k

# Dead locals: a field of code that is not running, or of an allocation no
# longer held, is overwritten before it is next read, so two states that
# differ only in dead locals have the same futures.  Each is live while the
# field named here (same index) is non-zero: its program counter is not
# IDLE, the allocation is held, the map extension work is running.  Two
# history variables are dead the same way (model/machine.py, observe): the
# watched request's size and alignment while nothing is watched (ap_phase
# 0: arming overwrites them), and whether the balance run is clean while
# none runs (starting one overwrites it).
BALANCE_LOCALS = (
    "balance_chunk",
    "nr_to_pop",
    "balance_slot",
    "balance_new_alloc",
    "reclaim_page",
    "reclaim_run",
    "reclaim_freed",
    "reclaim_reintegrate",
)
LIVE_WHILE = {
    **dict.fromkeys(BALANCE_LOCALS, "balance_pc"),
    **dict.fromkeys(PER_CONTEXT[1:], "pc"),
    **dict.fromkeys(PER_LIVE[1:], "live_valid"),
    "ext_new_alloc": "ext_running",
    "ap_size": "ap_phase",
    "ap_align": "ap_phase",
    "run_clean": "balance_pc",
}


def schema(p: Params) -> dict[str, tuple[str, int | None]]:
    """Field -> (kind, length): kind 'bool' or 'int', length None for scalars."""
    out: dict[str, tuple[str, int | None]] = {}
    for f in fields(State):
        kind = "bool" if f.name in BOOL_FIELDS else "int"
        n = (
            p.nr_chunks
            if f.name in PER_CHUNK
            else p.nr_contexts
            if f.name in PER_CONTEXT
            else p.nr_contexts * p.live_per_context
            if f.name in PER_LIVE
            else None
        )
        out[f.name] = (kind, n)
    return out


def zero(name: str) -> bool | int:
    """A field's (element's) initial value when it holds nothing."""
    return False if name in BOOL_FIELDS else 0


def dead(x: Ops, s: State, name: str, j: int | None) -> Any:
    """Whether field `name` (element j) is a dead local in state s."""
    guard = LIVE_WHILE.get(name)
    if guard is None:
        return False
    g = getattr(s, guard) if j is None else getattr(s, guard)[j]
    return x.not_(g) if guard in BOOL_FIELDS else x.eq(g, 0)


def forget_dead(s: State) -> State:
    """s with its dead locals zeroed (concrete states)."""
    changes: dict[str, Any] = {}
    for name, guard in LIVE_WHILE.items():
        v, g, z = getattr(s, name), getattr(s, guard), zero(name)
        if not isinstance(v, tuple):
            if v != z and not g:
                changes[name] = z
        elif any(e != z and not g[j] for j, e in enumerate(v)):
            changes[name] = tuple(e if g[j] else z for j, e in enumerate(v))
    return upd(s, **changes) if changes else s


def canonical(s: State) -> State:
    """The kernel state of s, one representative per class of states with
    the same futures: the history variables and the dead locals zeroed."""
    return forget_dead(upd(s, **{f: zero(f) for f in HISTORY_FIELDS}))


def upd(s: State, **changes: Any) -> State:
    """dataclasses.replace without its per-field overhead (this is the hot path
    of the explicit engine); the fields are the same, so equality and hashing
    are unaffected."""
    out = object.__new__(State)
    d = out.__dict__
    d.update(s.__dict__)
    d.update(changes)
    return out


def full(n: int) -> int:
    return (1 << n) - 1


def initial_state(p: Params) -> State:
    """After pcpu_setup_first_chunk() and percpu_init_late(), before
    percpu_enable_async(): the first and reserved chunks exist, fully
    populated and immutable; the counter holds the first chunk's free pages."""
    k, n = p.nr_chunks, p.nr_contexts
    nl = n * p.live_per_context
    cells, pages = p.unit_cells, p.unit_pages
    static = full(p.first_chunk_static_cells)
    alloc_map = [0] * k
    bound_map = [0] * k
    populated = [0] * k
    live = [False] * k
    alloc_map[0], bound_map[0], populated[0], live[0] = static, 1, full(pages), True
    if p.has_reserved:
        # the reserved chunk serves only [0, reserved_cells); the rest is outside its map
        outside = full(cells) ^ full(p.reserved_cells)
        r = p.reserved_index
        alloc_map[r], bound_map[r] = outside, (1 << p.reserved_cells) & full(cells)
        populated[r], live[r] = full(pages), True
    linked = [i == 0 for i in range(k)]
    empty = sum(
        1 for pg in range(pages) if not static & (full(p.cells_per_page) << pg * p.cells_per_page)
    )
    return State(
        live=tuple(live),
        linked=tuple(linked),
        to_free=(False,) * k,
        alloc_map=tuple(alloc_map),
        bound_map=tuple(bound_map),
        # pcpu_setup_first_chunk(): the first and reserved chunks use the static
        # smap/dmap, map_alloc = PERCPU_DYNAMIC_EARLY_SLOTS: at these sizes never
        # extended, nor queued for extension
        populated=tuple(populated),
        map_alloc=tuple(
            PERCPU_DYNAMIC_EARLY_SLOTS if live[c] else PCPU_DFL_MAP_ALLOC for c in range(k)
        ),
        map_extend_pending=(False,) * k,
        ext_running=(False,) * k,
        ext_new_alloc=(0,) * k,
        isolated=(0,) * k,
        stale=(0,) * k,
        nr_empty_pop_pages=empty,
        pcpu_async_enabled=False,
        pcpu_atomic_alloc_failed=False,
        alloc_mutex=MUTEX_FREE,
        balance_pending=False,
        balance_pc=int(BalancePc.IDLE),
        balance_chunk=0,
        nr_to_pop=0,
        balance_slot=0,
        balance_new_alloc=0,
        reclaim_page=0,
        reclaim_run=0,
        reclaim_freed=0,
        reclaim_reintegrate=False,
        pc=(int(AllocPc.IDLE),) * n,
        req_size=(0,) * n,
        req_align=(0,) * n,
        req_atomic=(False,) * n,
        req_reserved=(False,) * n,
        chunk=(0,) * n,
        off=(0,) * n,
        occ=(0,) * n,
        new_alloc=(0,) * n,
        counter_reg=(0,) * n,
        live_valid=(False,) * nl,
        live_chunk=(0,) * nl,
        live_off=(0,) * nl,
        live_size=(0,) * nl,
        ap_phase=0,
        ap_size=0,
        ap_align=0,
        run_clean=False,
        refill_check=False,
        after_collect=False,
    )


def ite_state(x: Ops, c: Any, a: State, b: State) -> State:
    """Field-wise if-then-else of two states; shared fields stay shared."""
    if c is True:
        return a
    if c is False:
        return b
    changes: dict[str, Any] = {}
    for f in fields(State):
        va, vb = getattr(a, f.name), getattr(b, f.name)
        if va is vb:
            continue
        if isinstance(va, tuple):
            changes[f.name] = tuple(ea if ea is eb else x.ite(c, ea, eb) for ea, eb in zip(va, vb))
        else:
            changes[f.name] = x.ite(c, va, vb)
    return upd(b, **changes)


# ---------------------------------------------------------------------------
# Derived quantities, shared by actions and properties.


class Geometry:
    """Constant masks of one parameter set."""

    def __init__(self, p: Params):
        self.p = p
        self.cells = p.unit_cells
        self.pages = p.unit_pages
        self.cpp = p.cells_per_page
        self.page_masks = [full(self.cpp) << (pg * self.cpp) for pg in range(self.pages)]
        self.align_masks = {a: sum(1 << i for i in range(0, self.cells, a)) for a in p.aligns}
        # pcpu_slot[] index by free cells: __pcpu_size_to_slot(), scaled
        # (fls of the size); a fully free chunk sits in the last slot.
        self.free_slot = self.cells.bit_length() + 1
        self.page_slot = self.cpp.bit_length()  # pcpu_size_to_slot(PAGE_SIZE)


def empty_pages(x: Ops, g: Geometry, amap: Val) -> Val:
    """Pages with no cell in use, as a page bitmap."""
    return x.from_bits([x.eq(amap & m, 0) for m in g.page_masks])


def nr_empty_pop(x: Ops, g: Geometry, amap: Val, populated: Val) -> Val:
    """Empty populated pages of one chunk (what the counter sums)."""
    return x.popcount(empty_pages(x, g, amap) & populated, g.pages)


def free_cells(x: Ops, g: Geometry, amap: Val) -> Val:
    return g.cells - x.popcount(amap, g.cells)


def size_to_slot(x: Ops, g: Geometry, size: Val) -> Val:
    """fls(size): the slot of a chunk with `size` free cells (0 when none)."""
    out: Val = 0
    for k in range(g.cells.bit_length()):
        out = out + x.ite(x.le(1 << k, size), 1, 0)
    return out


def largest_free_run(x: Ops, g: Geometry, amap: Val) -> Val:
    """The longest run of free cells (what contig_bits is exact for)."""
    free = x.bnot(amap, g.cells)
    out: Val = 0
    for k in range(1, g.cells + 1):
        out = out + x.ite(x.eq(runs_of(x, g, free, k), 0), 0, 1)
    return out


def chunk_slot(x: Ops, g: Geometry, amap: Val) -> Val:
    """pcpu_chunk_slot(): by free_size (v5.2: by the largest free run); the
    last slot holds fully free chunks."""
    if g.p.switches.chunk_slot == "contig-hint":
        free = largest_free_run(x, g, amap)
    else:
        free = free_cells(x, g, amap)
    return x.ite(x.eq(free, g.cells), g.free_slot, size_to_slot(x, g, free))


def fully_free(x: Ops, amap: Val) -> Any:
    return x.eq(amap, 0)


def map_used(x: Ops, g: Geometry, amap: Val, bmap: Val) -> Val:
    """chunk->map_used: in-use areas plus maximal free runs."""
    free = x.bnot(amap, g.cells)
    free_starts = free & x.bnot(x.shl(free, 1, g.cells), g.cells)
    return x.popcount(bmap, g.cells) + x.popcount(free_starts, g.cells)


def need_to_extend(x: Ops, g: Geometry, s: State, c: Val, atomic: Any) -> Val:
    """pcpu_need_to_extend(): 0, or the new map size (a power-of-two
    multiple of PCPU_DFL_MAP_ALLOC covering map_used + margin).  The bitmap
    allocator has nothing to extend."""
    if g.p.switches.area_map == "bitmap":
        return 0
    used = map_used(x, g, select(x, s.alloc_map, c), select(x, s.bound_map, c))
    want = used + x.ite(atomic, PCPU_ATOMIC_MAP_MARGIN, PCPU_ATOMIC_MAP_MARGIN_HIGH)
    new: Val = MAX_MAP_ALLOC
    for k in range((MAX_MAP_ALLOC // PCPU_DFL_MAP_ALLOC).bit_length() - 2, -1, -1):
        new = x.ite(x.le(want, PCPU_DFL_MAP_ALLOC << k), PCPU_DFL_MAP_ALLOC << k, new)
    return x.ite(x.le(want, select(x, s.map_alloc, c)), 0, new)


def runs_of(x: Ops, g: Geometry, avail: Val, size: int) -> Val:
    """Offsets o with cells [o, o+size) all in `avail`."""
    out = avail
    for k in range(1, size):
        out = out & x.lshr(avail, k)
    return out


def fit_offsets(
    x: Ops, g: Geometry, amap: Val, populated: Val, size: Val, align: Val, pop_only: Any
) -> Val:
    """Offsets where pcpu_alloc_area() may place the request.  pop_only
    (atomic) also needs every page the area touches populated
    (pcpu_fit_in_area)."""
    free = x.bnot(amap, g.cells)
    pop_cells = x.from_bits([x.bit(populated, i // g.cpp) for i in range(g.cells)])
    avail = x.ite(pop_only, free & pop_cells, free)
    runs = match(x, size, {sz: runs_of(x, g, avail, sz) for sz in g.p.sizes})
    return runs & match(x, align, dict(g.align_masks))


def max_run_fits(x: Ops, g: Geometry, amap: Val, size: Val) -> Any:
    """size <= the largest free area: pcpu_alloc()'s `size > chunk->contig_hint`
    test with the hint exact.

    In the area-map kernels (3.18 to 4.13) contig_hint is an upper bound:
    pcpu_alloc_area() makes it exact when it scans the whole map (a failure,
    or an area at the map's end) and otherwise keeps max(hint, what it
    scanned); pcpu_free_area() keeps max(hint, merged area).  Its other
    readers see no difference: pcpu_chunk_slot() slots by free_size
    (`contig_hint < sizeof(int)` means no free cell either way) and the
    reserved path fails on the same requests.  A stale hint adds to the
    scan visits to chunks the request does not fit; each calls
    pcpu_need_to_extend() and then a failing pcpu_alloc_area() that makes
    the hint exact.  Only a never-extended 16-entry map answers that call:
    non-atomic, pcpu_extend_area_map() (success: a larger map, which only
    removes the extension steps the model takes at the chunk's next
    non-atomic allocation, and the rescan finds what the model's scan finds;
    failure: NULL with nothing changed, a request never made); atomic,
    queueing the map extension and scheduling the balance work.  A
    16-entry map has had only atomic allocations (a non-atomic one extends
    it first), and the atomic allocation that made its hint stale queued it,
    so a stale visit queues it again only after a balance run's extension of
    it failed.  That one case, a balance run scheduled by an atomic request
    that fits a chunk's stale hint but not the chunk, is the kernel
    behaviour the exact hint leaves out (and a map the kernel grew there
    stays smaller here, so the model may queue it later where the kernel
    would not).  Both follow a failed GFP_KERNEL map extension by the
    balance work and only add or remove a balance run; no finding here
    rests on one, but a bug that needed such a run would not be found, and
    one that needed the model's extra queueing would be spurious: modelling
    the hint itself (a per-chunk upper bound) would close both."""
    free = x.bnot(amap, g.cells)
    return x.not_(x.eq(match(x, size, {sz: runs_of(x, g, free, sz) for sz in g.p.sizes}), 0))


def area_mask(x: Ops, g: Geometry, off: Val, size: Val) -> Val:
    end = off + size
    return x.from_bits([x.and_(x.le(off, i), x.lt(i, end)) for i in range(g.cells)])


def occupied_pages(x: Ops, g: Geometry, amap_in_use: Val, area: Val) -> Val:
    """pcpu_count_occupied_pages(): pages the area touches whose every
    other cell is free (with `amap_in_use` including the area).  Maximal free
    runs make the kernel's boundary rules exactly this."""
    others = amap_in_use & x.bnot(area, g.cells)
    out: Val = 0
    for m in g.page_masks:
        hit = x.and_(x.not_(x.eq(area & m, 0)), x.eq(others & m, 0))
        out = out + x.ite(hit, 1, 0)
    return out


def count_occupied_pages(
    x: Ops, g: Geometry, amap_in_use: Val, area: Val, populated: Val | None = None
) -> Val:
    """pcpu_count_occupied_pages() as the variant counts it (occupied_pages()
    is what the kernel means); `populated` (pcpu_alloc) is what was populated
    before the allocation, counted alone where the population for the
    allocation is not counted."""
    sw = g.p.switches
    populated_only = (
        sw.occ_pages_counts == "populated-before" or sw.occ_pages_subtracted == "with-area"
    )
    if sw.occupied_tail_test == ">=" and (populated is None or not populated_only):
        return occupied_pages(x, g, amap_in_use, area)
    others = amap_in_use & x.bnot(area, g.cells)
    out: Val = 0
    for pg, m in enumerate(g.page_masks):
        hit = x.and_(x.not_(x.eq(area & m, 0)), x.eq(others & m, 0))
        if sw.occupied_tail_test == ">":
            # off by one: a tail page the area ends inside counts only if
            # the free run goes on past the page (the chunk's end never does)
            ends_inside = x.not_(x.bit(area, (pg + 1) * g.cpp - 1))
            past = x.not_(x.bit(others, (pg + 1) * g.cpp)) if pg + 1 < g.pages else False
            hit = x.and_(hit, x.or_(x.not_(ends_inside), past))
        if populated is not None and populated_only:
            hit = x.and_(hit, x.bit(populated, pg))
        out = out + x.ite(hit, 1, 0)
    return out


def area_pages(x: Ops, g: Geometry, off: Val, size: Val) -> Val:
    """[PFN_DOWN(off), PFN_UP(off + size)) as a page bitmap."""
    area = area_mask(x, g, off, size)
    return x.from_bits([x.not_(x.eq(area & m, 0)) for m in g.page_masks])


def first_run(x: Ops, g: Geometry, pages: Val) -> Val:
    """The lowest run of set bits of a page bitmap, as a bitmap (0 if none):
    pcpu_next_unpop()'s [rs, re) when `pages` are the unpopulated ones."""
    start = x.lowest_set(pages, g.pages)
    # bits at or above start that are set and connected to it
    out: Val = 0
    inrun: Any = False
    for i in range(g.pages):
        inrun = x.or_(x.eq(start, i), x.and_(inrun, x.bit(pages, i)))
        inrun = x.and_(inrun, x.bit(pages, i))
        out = out | x.ite(inrun, 1 << i, 0)
    return out


def first_n_bits(x: Ops, g: Geometry, bits: Val, n: Val) -> Val:
    """The lowest `n` set bits of a page bitmap."""
    out: Val = 0
    seen: Val = 0
    for i in range(g.pages):
        take = x.and_(x.bit(bits, i), x.lt(seen, n))
        out = out | x.ite(take, 1 << i, 0)
        seen = seen + x.ite(take, 1, 0)
    return out
