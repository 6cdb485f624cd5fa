"""Spec parameters: the scaled geometry and the kernel variant's switches.

Everything a spec TOML file can set lives here, with the kernel name it
scales down or the commit that changed the behaviour.  Parameters are
substituted into the model, never edited into it (like a TLC model config).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Literal

# Kernel constants the scaled model keeps at their real values: with at most
# a few dozen map entries per chunk they decide exactly what they decide in
# the kernel (a fresh chunk's 16-entry map always needs one extension).
PCPU_DFL_MAP_ALLOC = 16
PCPU_ATOMIC_MAP_MARGIN_LOW = 32
PCPU_ATOMIC_MAP_MARGIN_HIGH = 64
PCPU_ATOMIC_MAP_MARGIN = 3  # pcpu_need_to_extend(): margin for atomic callers
# pcpu_setup_first_chunk(): the first chunk (and the reserved one) use the
# static smap[]/dmap[] of PERCPU_DYNAMIC_EARLY_SLOTS entries (3.18 to 4.13),
# which percpu_init_late() copies at the same size: map_alloc = 128.
PERCPU_DYNAMIC_EARLY_SLOTS = 128
# The largest map a scaled chunk can ask for: map_used <= cells + 1, plus the
# non-atomic margin, rounded up to a power-of-two multiple of 16.
MAX_MAP_ALLOC = 128
# The largest symmetry group (Params.symmetries) a spec may have: the compiled
# engine writes one canonical form a symmetry, straight-line C over every
# field, and 2,304 of them (4 contexts of 2 live allocations, 4 chunk structs)
# take the compiler two minutes; the largest shipped spec has 288.
MAX_SYMMETRIES = 2304
# "percpu: relegate chunks unusable when failing small allocations" (v5.2):
# a chunk that fails a fit in a slot below this one moves to pcpu_slot[0].
PCPU_SLOT_FAIL_THRESHOLD = 3


@dataclass(frozen=True)
class Switches:
    """Which kernel code each step behaves like, named for what the code does."""

    # pre-async: pcpu_balance_workfn only destroys free chunks; 1a4d76076cda
    # adds phase 2 (retry_pop) to populate chunks.
    balance_work: Literal["free-only", "free-and-populate"] = "free-and-populate"
    # 1a4d76076cda: pcpu_async_enabled gates pcpu_schedule_balance_work() and
    # map_extend_work; before it, schedule_work() was called directly.
    async_gate: bool = True
    # 1a4d76076cda: a failed atomic alloc sets pcpu_atomic_alloc_failed and
    # schedules the balance work; pcpu_alloc schedules it below LOW.
    atomic_fail_schedules: bool = True
    low_check_schedules: bool = True
    # 23cb8981ed92: the chunk-creation failure path of pcpu_alloc unlocks
    # pcpu_alloc_mutex (1a4d76076cda returns with it held).
    create_fail_unlocks_mutex: bool = False
    # 4f996e234dad: per-chunk map_extend_work ("work-item") replaced by the
    # pcpu_map_extend_chunks list serviced by the balance work ("balance-list").
    map_extension: Literal["work-item", "balance-list"] = "work-item"
    # 6710e594f71c: non-atomic pcpu_alloc holds pcpu_alloc_mutex for the whole
    # call ("whole-call") instead of only around chunk creation and population.
    alloc_mutex: Literal["populate-only", "whole-call"] = "populate-only"
    # 320661b08dd6 (v4.11, Tahsin Erdogan): pcpu_nr_empty_pop_pages -= occ_pages under pcpu_lock
    # ("locked") instead of an unlocked read-modify-write ("unlocked").
    # Injected ("unlocked-atomic"): the atomic path's update moved out of pcpu_lock again.
    counter_update: Literal["unlocked", "locked", "unlocked-atomic"] = "unlocked"

    # --- injected bugs (specs/inject-*.toml): one plausible wrong patch each;
    # the defaults are the kernel's code.
    # pcpu_alloc(): occ_pages over every page the area makes non-empty
    # ("every-page"), or only over the pages populated before it
    # ("populated-before": the population for the allocation still counts its
    # pages as empty, the 2017 rewrite's slip).
    occ_pages_counts: Literal["every-page", "populated-before"] = "every-page"
    # pcpu_count_occupied_pages(): the tail page counts when the free neighbour
    # ends at or past it, `nend >= round_up(end, PAGE_SIZE)` (">=") or, off by
    # one, only past it (">").
    occupied_tail_test: Literal[">=", ">"] = ">="
    # pcpu_alloc() fail: an atomic failure sets pcpu_atomic_alloc_failed.
    atomic_fail_sets_flag: bool = True
    # pcpu_balance_workfn phase 1: keeps the first chunk of the free slot (1) or none (0).
    balance_spares_free: Literal[0, 1] = 1
    # pcpu_balance_workfn phase 2: the slot loop starts at
    # pcpu_size_to_slot(PAGE_SIZE) (0) or that many slots off (+1, -1).
    populate_slot_offset: Literal[-1, 0, 1] = 0
    # pcpu_alloc(): an atomic caller fits only in populated pages (pop_only).
    atomic_fit_pop_only: bool = True
    # pcpu_alloc(): schedule the balance work when the counter is `<` LOW (or `<=`).
    low_check_test: Literal["<", "<="] = "<"
    # 6710e594f71c: the map-extension failure path of pcpu_alloc unlocks the mutex.
    extend_fail_unlocks_mutex: bool = True
    # free_percpu(): schedule the balance work when a second chunk becomes fully free.
    free_schedules_balance: bool = True
    # free_percpu(): pcpu_nr_empty_pop_pages += occ_pages.
    free_counts_pages: bool = True
    # pcpu_alloc(): pcpu_chunk_populated() adds the pages populated for the
    # allocation to the counter (occ_pages then takes them off).
    alloc_population_counted: bool = True
    # pcpu_alloc(): pcpu_chunk_relocate(chunk, -1) puts a created chunk on pcpu_slot[].
    alloc_create_relocates: bool = True
    # 40064aeca35c (v4.14, the bitmap allocator): alloc_map/bound_map bitmaps
    # replace the area map ("bitmap"), so nothing is ever extended.
    area_map: Literal["extendable", "bitmap"] = "extendable"
    # v5.2, "percpu: manage chunks based on contig_bits instead of free_bytes":
    # pcpu_chunk_slot() by the largest free run ("contig-hint").
    chunk_slot: Literal["free-size", "contig-hint"] = "free-size"
    # f183324133ea (v5.14): free_percpu() isolates a chunk with many empty
    # populated pages (its pages leave pcpu_nr_empty_pop_pages, pcpu_alloc()
    # no longer scans it); the balance work depopulates them
    # (pcpu_reclaim_populated) and reintegrates or sidelines the chunk.
    partial_depopulation: bool = False
    # v5.14 ("percpu: optimize locking in pcpu_balance_workfn()", with
    # f183324133ea): pcpu_balance_workfn() takes pcpu_lock once after the mutex
    # and its phases run under it, dropping it only around [de]population,
    # chunk creation and destruction and the TLB flush ("held"): retry_pop's
    # read of the counter and the pick of a chunk are one section.  Before,
    # each phase took the lock per step ("per-step").
    balance_lock: Literal["per-step", "held"] = "per-step"
    # 93274f1dd6b0 (v5.14-rc, Fixes f183324133ea): pcpu_reclaim_populated()
    # calls pcpu_post_unmap_tlb_flush() on the pages it depopulated before the
    # chunk is reintegrated or sidelined (True); f183324133ea alone leaves the
    # flush to vmalloc's lazy purge (False), as for a destroyed chunk.
    reclaim_tlb_flush: bool = True
    # 3c7be18ac9a0 (v5.9, "mm: memcg/percpu: account percpu memory to memory
    # cgroups"): PCPU_NR_CHUNK_TYPES = 2, root and memcg-aware chunks
    # (pcpu_memcg_pre_alloc_hook(): a __GFP_ACCOUNT request is memcg), each
    # type with its own pcpu_slot[] lists (pcpu_chunk_list(type)), its own
    # chunks (pcpu_create_chunk(type, gfp)), and pcpu_balance_workfn()
    # running __pcpu_balance_workfn(type) for each type in turn; faf65dde844a
    # (v5.14, "percpu: rework memcg accounting") makes every chunk
    # memcg-capable again (1).
    chunk_types: Literal[1, 2] = 1
    # 0760fa3d8f7f (v5.12, "percpu: make pcpu_nr_empty_pop_pages per chunk
    # type"): pcpu_nr_empty_pop_pages[PCPU_NR_CHUNK_TYPES], each type's empty
    # populated pages, read by its LOW check and its balance run (True);
    # 3c7be18ac9a0 kept the one counter for both types (False).
    counter_per_chunk_type: bool = False
    # The smallest fix for the population-failure drift this checker found in
    # the area-map kernels (docs/findings.md): the
    # failure path `pcpu_free_area(chunk, off, &occ_pages); goto fail_unlock`
    # ignores occ_pages ("ignored", the kernel's code); "as-free" accounts the
    # failed allocation as completed and then freed, as free_percpu() does:
    # `nr_empty_pop_pages -= occ_pages` before pcpu_free_area() and
    # `+= occ_pages` of the free after it.
    populate_fail_counter: Literal["ignored", "as-free"] = "ignored"
    # The smallest fix for the atomic-progress window this checker found in the
    # area-map kernels (docs/findings.md): between
    # area_found and `pcpu_nr_empty_pop_pages -= occ_pages` ("after-population",
    # the kernel's code) the counter still counts the pages an allocation in
    # flight has taken, and a balance run's retry_pop computes nr_to_pop from
    # it.  "with-area" moves the counting into the pcpu_lock sections that
    # change the area map, as the bitmap allocator did (v4.14): pcpu_alloc_area()
    # takes off the populated pages it makes non-empty, the population for
    # the allocation adds nothing (pcpu_chunk_populated(..., for_alloc)), and
    # a failed population gives back the populated pages it empties, as
    # free_percpu() would (so it also fixes the drift populate_fail_counter
    # answers).  v4.14 to v5.1 count this way (40064aeca35c:
    # pcpu_chunk_refresh_hint() recounts the populated pages of the free
    # regions).  "with-area-every-page" is the page-sized blocks' accounting
    # of b239f7daf553 (v5.2, "percpu: set PCPU_BITMAP_BLOCK_SIZE to
    # PAGE_SIZE"): pcpu_block_update_hint_alloc() takes off every page the
    # area makes non-empty, populated or not, pcpu_chunk_populated() adds
    # every page it populates, for the allocation too, and
    # pcpu_block_update_hint_free() gives back every page a free empties;
    # the unpopulated pages an allocation in flight has taken are off the
    # counter until their population.  Both need counter_update = "locked".
    occ_pages_subtracted: Literal["after-population", "with-area", "with-area-every-page"] = (
        "after-population"
    )

    # --- 6.13 and the lock-order variants (model/actions/outside.py) ---
    # "percpu: fix data race with pcpu_nr_empty_pop_pages" (mm tree, merged
    # for 6.13): pcpu_alloc()'s `pcpu_nr_empty_pop_pages < LOW` check and its
    # pcpu_schedule_balance_work() move from after the population, with no
    # lock held ("after-population"), to area_found under pcpu_lock, before
    # the population ("area-found").
    low_check: Literal["after-population", "area-found"] = "after-population"
    # A lock from outside mm/percpu.c that an allocating context may hold
    # around one pcpu_alloc() call, modelled only as far as a lock-order
    # cycle needs: "sched", the scheduler's locks a wakeup takes (a BPF
    # program run under rq->lock updating a per-cpu hash map: a GFP_ATOMIC
    # pcpu_alloc(), 198790d9a3ae's report); "fs", a filesystem lock held in
    # a memalloc_nofs_save() scope around a GFP_KERNEL pcpu_alloc() (btrfs,
    # 28307d938fb2's report), which direct reclaim from a GFP_KERNEL
    # allocation elsewhere may wait for.  "none": no such context.
    outside_lock: Literal["none", "sched", "fs"] = "none"
    # 198790d9a3ae (v5.2): free_percpu() calls pcpu_schedule_balance_work()
    # with pcpu_lock held ("under-pcpu_lock", 1a4d76076cda to v5.1) or after
    # spin_unlock_irqrestore() ("after-unlock").
    free_wakeup: Literal["under-pcpu_lock", "after-unlock"] = "under-pcpu_lock"
    # 28307d938fb2 (v5.7): pcpu_alloc() applies current_gfp_context(), so a
    # GFP_KERNEL request in a NOFS/NOIO scope is atomic and never takes
    # pcpu_alloc_mutex (True); before it, and again since 9a5b183941b5
    # (is_atomic = !gfpflags_allow_blocking(gfp), 6.15), it takes the mutex.
    nofs_scope_atomic: bool = False
    # 9a5b183941b5 (6.15, in 6.1.y and 6.6.y): pcpu_balance_workfn() runs in
    # a memalloc_noio_save() scope, so its allocations never enter FS or IO
    # reclaim.
    balance_noio: bool = False
    # "percpu: relegate chunks unusable when failing small allocations" (v5.2):
    # a chunk in a slot below PCPU_SLOT_FAIL_THRESHOLD that pcpu_find_block_fit()
    # fails goes to pcpu_slot[0], which no scan visits, until a relocation
    # changes its slot (model/actions/demotion.py).  The kernel's 64 bytes have
    # no fixed counterpart in scaled cells, so each scan that passes over such
    # chunks demotes all of them or none, a choice.
    slot_fail_demotion: bool = False


@dataclass(frozen=True)
class Params:
    """Scaled geometry.  Offsets and sizes are in cells: one cell is the
    allocator's smallest granule (sizeof(int) in the area map), so the 2-byte
    head/tail cases of pcpu_alloc_area are outside the model."""

    unit_pages: int = 2  # pcpu_unit_pages
    cells_per_page: int = 2  # PAGE_SIZE / cell
    nr_chunks: int = 3  # chunk structs: first chunk, reserved (if any), dynamic ones
    first_chunk_static_cells: int = 2  # static (+reserved) prefix of pcpu_first_chunk, in use
    reserved_cells: int = 0  # size of pcpu_reserved_chunk's area; 0: no reserved chunk
    empty_pop_pages_low: int = 1  # PCPU_EMPTY_POP_PAGES_LOW (kernel: 2)
    empty_pop_pages_high: int = 2  # PCPU_EMPTY_POP_PAGES_HIGH (kernel: 4)
    nr_contexts: int = 2  # concurrent allocating contexts (tasks or irq paths)
    live_per_context: int = 1  # live allocations one context may hold
    sizes: tuple[int, ...] = (1, 2)  # request sizes, cells
    aligns: tuple[int, ...] = (1,)  # request alignments, cells (powers of two)
    # The largest failed atomic request atomic-progress watches, in cells; 0:
    # one page (what the balance work's population is for).  A question for
    # sweeps, not a kernel parameter.
    progress_watch_cells: int = 0
    switches: Switches = field(default_factory=Switches)

    @property
    def unit_cells(self) -> int:
        return self.unit_pages * self.cells_per_page

    @property
    def atomic_progress_cells(self) -> int:
        return self.progress_watch_cells or self.cells_per_page

    @property
    def has_reserved(self) -> bool:
        return self.reserved_cells > 0

    @property
    def first_dynamic(self) -> int:
        """Index of the first chunk struct that pcpu_create_chunk() may use."""
        return 2 if self.has_reserved else 1

    @property
    def reserved_index(self) -> int:
        return 1

    @property
    def width(self) -> int:
        """Bit-width of every integer of the symbolic interpretation.  Signed
        values (the counter, nr_to_pop) and cell bitmaps must fit with a sign
        bit to spare, and so must the owners of pcpu_alloc_mutex (one per
        context and the balance work)."""
        biggest = max(
            1 << self.unit_cells,
            MAX_MAP_ALLOC,
            self.nr_chunks * self.unit_pages,
            self.nr_contexts + 1,
            self.empty_pop_pages_high,
        )
        return biggest.bit_length() + 1

    def symmetries(self, cap: int) -> int:
        """The order of the symmetry group the compiled engine canonicalises
        over, nr_contexts! * (dynamic chunk structs)! * live_per_context!^nr_contexts,
        or a number past `cap` once it is (never computed in full)."""
        order = 1
        for n, times in (
            (self.nr_contexts, 1),
            (self.nr_chunks - self.first_dynamic, 1),
            (self.live_per_context, self.nr_contexts),
        ):
            for _ in range(times if n > 1 else 0):
                for k in range(2, n + 1):
                    order *= k
                    if order > cap:
                        return order
        return order

    def validate(self) -> list[tuple[str, str]]:
        """Why these parameters cannot be modelled, as (parameter, reason)
        pairs (empty when fine)."""
        errors: list[tuple[str, str]] = []
        pos = ("unit_pages", "cells_per_page", "nr_contexts", "live_per_context")
        for name in pos:
            if getattr(self, name) < 1:
                errors.append((name, f"{name} must be at least 1"))
        if errors:
            return errors
        if self.unit_cells > 24:
            errors.append(
                ("unit_pages", "unit_pages * cells_per_page must be at most 24 for the checker")
            )
        if self.unit_cells + 1 + PCPU_ATOMIC_MAP_MARGIN_HIGH > MAX_MAP_ALLOC:
            errors.append(
                (
                    "unit_pages",
                    f"a chunk of more than "
                    f"{MAX_MAP_ALLOC - 1 - PCPU_ATOMIC_MAP_MARGIN_HIGH} cells needs a "
                    "larger MAX_MAP_ALLOC",
                )
            )
        if self.nr_chunks < self.first_dynamic:
            errors.append(("nr_chunks", f"nr_chunks must be at least {self.first_dynamic}"))
        elif self.symmetries(MAX_SYMMETRIES) > MAX_SYMMETRIES:
            errors.append(
                (
                    "nr_contexts",
                    "too large to search: the symmetries of the "
                    "contexts, dynamic chunk structs and live allocations, nr_contexts! * "
                    "(nr_chunks - first dynamic)! * live_per_context!^nr_contexts, are "
                    f"more than {MAX_SYMMETRIES} (the compiled engine writes a canonical "
                    "form for each; the states grow faster still)",
                )
            )
        if not 0 < self.first_chunk_static_cells < self.unit_cells:
            errors.append(
                (
                    "first_chunk_static_cells",
                    "first_chunk_static_cells must leave a dynamic area and be positive",
                )
            )
        if not 0 <= self.reserved_cells <= self.unit_cells:
            errors.append(("reserved_cells", "reserved_cells must be between 0 and the unit size"))
        if not 0 <= self.empty_pop_pages_low <= self.empty_pop_pages_high:
            errors.append(
                ("empty_pop_pages_low", "need 0 <= empty_pop_pages_low <= empty_pop_pages_high")
            )
        if (
            not self.sizes
            or any(not 1 <= s <= self.unit_cells for s in self.sizes)
            or len(set(self.sizes)) < len(self.sizes)
        ):
            errors.append(
                ("sizes", "sizes must be non-empty and distinct, each between 1 and the unit size")
            )
        if not 0 <= self.progress_watch_cells <= self.unit_cells:
            errors.append(
                (
                    "progress_watch_cells",
                    "progress_watch_cells must be between 0 (one page) and the unit size",
                )
            )
        if (
            not self.aligns
            or any(a < 1 or a & (a - 1) or a > self.cells_per_page for a in self.aligns)
            or len(set(self.aligns)) < len(self.aligns)
        ):
            errors.append(("aligns", "aligns must be distinct powers of two of at most one page"))
        sw = self.switches
        if sw.occ_pages_subtracted != "after-population" and sw.counter_update != "locked":
            errors.append(
                (
                    "occ_pages_subtracted",
                    f"occ_pages_subtracted = "
                    f'"{sw.occ_pages_subtracted}" needs counter_update = "locked"',
                )
            )
        if sw.low_check == "area-found" and sw.occ_pages_subtracted == "after-population":
            errors.append(
                (
                    "low_check",
                    'low_check = "area-found" (6.13) needs the counter moved with the area '
                    '(occ_pages_subtracted = "with-area-every-page")',
                )
            )
        if sw.outside_lock == "sched" and sw.area_map != "bitmap":
            # v4.7-v4.13's pcpu_need_to_extend() also schedules the balance
            # work under pcpu_lock (atomic callers, 4f996e234dad); only the
            # wakeups of free_percpu() and of the 6.13 LOW check are steps
            errors.append(
                ("outside_lock", 'outside_lock = "sched" needs area_map = "bitmap" (v4.14 on)')
            )
        if sw.chunk_types == 2 and (
            sw.area_map != "bitmap"
            or sw.occ_pages_subtracted != "with-area-every-page"
            or sw.partial_depopulation
            or sw.slot_fail_demotion
        ):
            errors.append(
                (
                    "chunk_types",
                    "chunk_types = 2 is v5.9 to v5.13's code: it needs area_map = "
                    '"bitmap", occ_pages_subtracted = "with-area-every-page", no '
                    "partial_depopulation and (not modelled per type) no slot_fail_demotion",
                )
            )
        if sw.counter_per_chunk_type and sw.chunk_types != 2:
            errors.append(
                ("counter_per_chunk_type", "counter_per_chunk_type needs chunk_types = 2")
            )
        return errors


def param_names() -> list[str]:
    return [f.name for f in fields(Params) if f.name != "switches"]


def switch_names() -> list[str]:
    return [f.name for f in fields(Switches)]
