"""The allocator's state: its fields, their groups and its initial value.

The program counters and the mutex's owners are in model/control.py, the
quantities derived from a chunk's maps in model/geometry.py, the
reduction of the search (dead locals, canonical states) in
model/reduction.py.

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
from typing import Any

from percpu_mc.model.control import MUTEX_FREE, AllocPc, BalancePc
from percpu_mc.model.ops import Ops, Val
from percpu_mc.model.params import PCPU_DFL_MAP_ALLOC, PERCPU_DYNAMIC_EARLY_SLOTS, Params


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
    demoted: tuple  # on pcpu_slot[0] after a failed fit (Switches.slot_fail_demotion)
    memcg: tuple  # 3c7be18ac9a0: pcpu_chunk_type(chunk) == PCPU_CHUNK_MEMCG
    # --- globals ---
    nr_empty_pop_pages: Val  # pcpu_nr_empty_pop_pages ([PCPU_CHUNK_ROOT] from 0760fa3d8f7f)
    nr_empty_pop_pages_memcg: Val  # 0760fa3d8f7f: pcpu_nr_empty_pop_pages[PCPU_CHUNK_MEMCG]
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
    balance_fs_reclaim: (
        Any  # its GFP_KERNEL allocation is in direct reclaim, waiting for the fs lock
    )
    balance_type: Val  # 3c7be18ac9a0: the chunk type pcpu_balance_workfn()'s loop is at
    # --- per allocating context (tuples indexed by context) ---
    pc: tuple  # AllocPc
    req_size: tuple  # pcpu_alloc(size, ...) in cells
    req_align: tuple  # pcpu_alloc(.., align, ..) in cells
    req_atomic: tuple  # is_atomic
    req_reserved: tuple  # reserved
    req_memcg: tuple  # 3c7be18ac9a0: its type, pcpu_memcg_pre_alloc_hook() == PCPU_CHUNK_MEMCG
    chunk: tuple  # the chunk pcpu_alloc works on
    off: tuple  # the area's offset (cells)
    occ: tuple  # occ_pages
    new_alloc: tuple  # new_alloc for the area map extension
    counter_reg: tuple  # the loaded pcpu_nr_empty_pop_pages (unlocked update)
    # the lock-order variants (Switches.outside_lock, model/actions/outside.py)
    outer: tuple  # Outer: the outside lock held around one pcpu_alloc() call
    wakeup: tuple  # in pcpu_schedule_balance_work(): schedule_work()'s wakeup is next
    fs_reclaim: tuple  # its GFP_KERNEL allocation is in direct reclaim, waiting for the fs lock
    # --- live allocations (tuples indexed by ctx * live_per_context + i) ---
    live_valid: tuple  # the context holds this percpu pointer
    live_chunk: tuple
    live_off: tuple
    live_size: tuple
    # --- history variables, read only by properties ---
    ap_phase: Val  # atomic-progress monitor: 0 off, 1 armed, 2 in the run, 3 check
    ap_size: Val  # the failed atomic request
    ap_align: Val
    ap_memcg: Any  # its chunk type
    run_clean: Any  # the running balance work met no failure and no allocation
    refill_check: Any  # a clean balance run has just completed
    after_collect: Any  # phase 1 has just collected the chunks to free


# The history variables: written by every step (model/machine.py, observe),
# read by no action; BMC and the compiled explicit engine leave them out when
# no checked property reads them (checker/engines/bmc.py, native.py: the cone
# of influence), and a lasso's loop ignores them (checker/engines/lasso.py).
HISTORY_FIELDS = frozenset(
    {"ap_phase", "ap_size", "ap_align", "ap_memcg", "run_clean", "refill_check", "after_collect"}
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
        "balance_fs_reclaim",
        "wakeup",
        "fs_reclaim",
        "req_atomic",
        "req_reserved",
        "req_memcg",
        "ap_memcg",
        "memcg",
        "live_valid",
        "demoted",
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
    "demoted",
    "memcg",
)
PER_CONTEXT = (
    "pc",
    "req_size",
    "req_align",
    "req_atomic",
    "req_reserved",
    "req_memcg",
    "chunk",
    "off",
    "occ",
    "new_alloc",
    "counter_reg",
    "outer",
    "wakeup",
    "fs_reclaim",
)
# Per-context fields that outlive a pcpu_alloc() call (not dead when the
# context is IDLE: model/reduction.py).
CALL_SPANNING = ("outer", "wakeup")
PER_LIVE = ("live_valid", "live_chunk", "live_off", "live_size")  # ctx * live_per_context + k


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


def fixed_cells(p: Params, c: int) -> int:
    """Cells of chunk c in use from boot: the first chunk's static area, the
    part of the reserved chunk outside its map."""
    if c == 0:
        return full(p.first_chunk_static_cells)
    if p.has_reserved and c == p.reserved_index:
        return full(p.unit_cells) ^ full(p.reserved_cells)
    return 0


def initial_state(p: Params) -> State:
    """After pcpu_setup_first_chunk() and percpu_init_late(), before
    percpu_enable_async(): the first and reserved chunks exist, fully
    populated and immutable; the counter holds the first chunk's free pages."""
    k, n = p.nr_chunks, p.nr_contexts
    nl = n * p.live_per_context
    cells, pages = p.unit_cells, p.unit_pages
    static = fixed_cells(p, 0)
    alloc_map = [0] * k
    bound_map = [0] * k
    populated = [0] * k
    live = [False] * k
    alloc_map[0], bound_map[0], populated[0], live[0] = static, 1, full(pages), True
    if p.has_reserved:
        # the reserved chunk serves only [0, reserved_cells); the rest is outside its map
        r = p.reserved_index
        alloc_map[r], bound_map[r] = fixed_cells(p, r), (1 << p.reserved_cells) & full(cells)
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
        demoted=(False,) * k,
        memcg=(False,) * k,
        nr_empty_pop_pages=empty,
        nr_empty_pop_pages_memcg=0,
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
        balance_fs_reclaim=False,
        balance_type=0,
        pc=(int(AllocPc.IDLE),) * n,
        req_size=(0,) * n,
        req_align=(0,) * n,
        req_atomic=(False,) * n,
        req_reserved=(False,) * n,
        req_memcg=(False,) * n,
        chunk=(0,) * n,
        off=(0,) * n,
        occ=(0,) * n,
        new_alloc=(0,) * n,
        counter_reg=(0,) * n,
        outer=(0,) * n,
        wakeup=(False,) * n,
        fs_reclaim=(False,) * n,
        live_valid=(False,) * nl,
        live_chunk=(0,) * nl,
        live_off=(0,) * nl,
        live_size=(0,) * nl,
        ap_phase=0,
        ap_size=0,
        ap_align=0,
        ap_memcg=False,
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
