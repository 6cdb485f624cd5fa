"""A chunk's geometry (the cells, pages, slots and masks a parameter set
derives) and the quantities derived from a chunk's maps, shared by actions
and properties."""

from __future__ import annotations

from typing import Any

from percpu_mc.model.ops import Ops, Val, match, select
from percpu_mc.model.params import (
    MAX_MAP_ALLOC,
    PCPU_ATOMIC_MAP_MARGIN,
    PCPU_ATOMIC_MAP_MARGIN_HIGH,
    PCPU_DFL_MAP_ALLOC,
    Params,
)
from percpu_mc.model.state import State, full


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
