"""One chunk of the exact replay (checker/logs/exact.py): its bitmaps and
hints, what is known of its pages' population, and the fits pcpu_alloc()
could take in it."""

from __future__ import annotations

from dataclasses import dataclass, field

from percpu_mc.model.bitmap_chunk import PAGE_SIZE, PCPU_MIN_ALLOC_SIZE, Chunk
from percpu_mc.model.block_fit import (
    AreaFit,
    commit_area,
    pcpu_next_fit_region,
    pcpu_next_hint,
    pcpu_search_area,
)

PAGE_BITS = PAGE_SIZE // PCPU_MIN_ALLOC_SIZE
# What is known of a page's population (Tracked.populated).  A chunk the log
# saw created starts with every page unpopulated (pcpu_create_chunk()
# populates none); that is known only while the log traces population.
UNKNOWN, POPULATED, UNPOPULATED = 0, 1, 2
# pcpu_alloc() demotes a chunk that fails a fit to slot 0 when its slot is
# below this (PCPU_SLOT_FAIL_THRESHOLD), and slot 0 is not scanned again for
# larger requests until the chunk is relocated.
PCPU_SLOT_FAIL_THRESHOLD = 3
PCPU_SLOT_BASE_SHIFT = 5
# Candidate fits kept for one atomic allocation before it is "not decided".
MAX_CANDIDATES = 64


@dataclass
class Tracked:
    """A chunk created within the log: its state, and what is known of it."""

    chunk: Chunk
    created_line: int
    populated: bytearray  # per page: UNKNOWN, POPULATED or UNPOPULATED
    sure: bool = True  # hints are the kernel's (no forced offset since empty)
    touched: dict[int, int] = field(default_factory=dict)  # pid -> its last line here


def candidates(
    t: Tracked, bits: int, align: int, atomic: bool, population_traced: bool
) -> tuple[list[AreaFit], bool]:
    """The fits pcpu_alloc() could take in this chunk, in the kernel's
    order, and whether population left the choice open.  A non-atomic
    request has one (or none); an atomic one skips fit regions on
    unpopulated pages (pcpu_is_populated), so each region on pages of
    unknown population adds a candidate."""
    chunk = t.chunk
    md = chunk.chunk_md
    v52 = chunk.version.generation == "v5.2"
    if (md.contig_hint_start + align - 1) // align * align - md.contig_hint_start + bits > (
        md.contig_hint
    ):
        return [], False
    bit_off, region = pcpu_next_fit_region(chunk, bits, align, pcpu_next_hint(md, bits, v52))
    fits: list[AreaFit] = []
    open_ = False
    while bit_off < chunk.map_bits and len(fits) < MAX_CANDIDATES:
        fit = pcpu_search_area(chunk, bits, align, bit_off)
        if not atomic:
            return ([fit] if fit is not None else []), False
        first = bit_off // PAGE_BITS
        last = (bit_off + region - 1) // PAGE_BITS
        page = next((p for p in range(first, last + 1) if t.populated[p] != POPULATED), None)
        if page is None:
            if fit is not None:
                fits.append(fit)
            return fits, open_
        if t.populated[page] == UNKNOWN or not population_traced:
            # populated: this fit; unpopulated: past the page
            open_ = True
            if fit is not None:
                fits.append(fit)
        bit_off, region = pcpu_next_fit_region(chunk, bits, align, (page + 1) * PAGE_BITS)
    return fits, open_ or len(fits) >= MAX_CANDIDATES


def pcpu_chunk_slot(chunk: Chunk) -> int:
    """pcpu_chunk_slot() (v5.2+): the slot of the chunk's contig hint,
    pcpu_size_to_slot() of its bytes; 0 when nothing is free."""
    size = chunk.chunk_md.contig_hint * PCPU_MIN_ALLOC_SIZE
    if chunk.free_bytes < PCPU_MIN_ALLOC_SIZE or not size:
        return 0
    unit_size = chunk.map_bits * PCPU_MIN_ALLOC_SIZE
    if size == unit_size:  # pcpu_free_slot, past the sidelined and to-depopulate slots
        return size_to_slot(unit_size) + 3
    return size_to_slot(size)


def size_to_slot(size: int) -> int:
    """__pcpu_size_to_slot()."""
    return max(size.bit_length() - PCPU_SLOT_BASE_SHIFT + 2, 1)


def force_area(chunk: Chunk, bit_off: int, bits: int) -> None:
    """The area the log shows, taken as pcpu_alloc_area() takes any area
    (without the scan's skipped-area hint, which the log does not show)."""
    commit_area(chunk, AreaFit(bit_off, 0, 0), bits)
