"""Placement by the bitmap allocator's block hints (mm/percpu.c, v4.14+):
pcpu_find_block_fit() asks the hints for a start, pcpu_alloc_area() scans
the bitmap from there (model/block_hints.py says what the hints are and
promise); and the promises themselves, checked after every step
(`hint_violations`).
"""

from __future__ import annotations

from dataclasses import dataclass

from percpu_mc.model.bitmap_chunk import (
    PCPU_MIN_ALLOC_SIZE,
    BlockMd,
    Chunk,
    PopulatedTest,
    align_up,
    ffs0,
)
from percpu_mc.model.block_hints import (
    pcpu_block_update_hint_alloc,
    pcpu_block_update_hint_free,
    pcpu_block_update_scan,
)


def pcpu_next_hint(block: BlockMd, alloc_bits: int, v52: bool) -> int:
    """pcpu_next_hint() (v5.2): scan from past the scan_hint when it cannot
    hold the request and the contig_hint lies after it; else first_free."""
    if v52 and (
        block.scan_hint
        and block.contig_hint_start > block.scan_hint_start
        and alloc_bits > block.scan_hint
    ):
        return block.scan_hint_start + block.scan_hint
    return block.first_free


def pcpu_next_fit_region(
    chunk: Chunk, alloc_bits: int, align: int, bit_off: int
) -> tuple[int, int]:
    """pcpu_next_fit_region(): the next region the hints say can hold the
    request, (bit_off, bits); bit_off = map_bits when there is none.
    (align is a power of two: ALIGN(x, align) is (x + align - 1) & -align.)"""
    bb = chunk.version.block_bits
    v52 = chunk.version.generation == "v5.2"
    i, block_off = divmod(bit_off, bb)
    bits = 0
    blocks = chunk.md_blocks
    n = len(blocks)
    up = align - 1
    while i < n:
        block = blocks[i]
        if bits:  # a free run continuing from the previous block
            bits += block.left_free
            if bits >= alloc_bits:
                return bit_off, bits
            if block.left_free == bb:
                i += 1
                continue
        contig = block.contig_hint
        if contig >= alloc_bits:
            start = block.contig_hint_start
            bits = ((start + up) & -align) - start
            if start >= block_off and contig >= bits + alloc_bits:
                start = pcpu_next_hint(block, alloc_bits, v52)
                bits += alloc_bits + block.contig_hint_start - start
                return i * bb + start, bits
        block_off = 0
        off = (bb - block.right_free + up) & -align
        bits = bb - off
        bit_off = i * bb + off
        if bits >= alloc_bits:
            return bit_off, bits
        i += 1
    return chunk.map_bits, bits


def pcpu_find_block_fit(
    chunk: Chunk, alloc_bits: int, align: int, populated: PopulatedTest | None = None
) -> int:
    """pcpu_find_block_fit(): where pcpu_alloc_area() starts scanning, or -1.
    `populated` stands for pcpu_is_populated() when pop_only (atomic)."""
    md = chunk.chunk_md
    v52 = chunk.version.generation == "v5.2"
    if align_up(md.contig_hint_start, align) - md.contig_hint_start + alloc_bits > md.contig_hint:
        return -1
    bit_off = pcpu_next_hint(md, alloc_bits, v52)
    bit_off, bits = pcpu_next_fit_region(chunk, alloc_bits, align, bit_off)
    while bit_off < chunk.map_bits:
        if populated is None:
            break
        next_off = populated(bit_off, bits)
        if next_off is None:
            break
        bit_off, bits = pcpu_next_fit_region(chunk, alloc_bits, align, next_off)
    return -1 if bit_off == chunk.map_bits else bit_off


@dataclass(frozen=True, slots=True)
class AreaFit:
    """What pcpu_alloc_area()'s search found: the area, and the largest
    area it skipped (v5.2, fed to pcpu_block_update_scan)."""

    bit_off: int
    area_off: int
    area_bits: int


def pcpu_find_zero_area(chunk: Chunk, size: int, start: int, nr: int, align: int) -> AreaFit:
    """pcpu_find_zero_area() (v5.2) / bitmap_find_next_zero_area() (v4.14):
    the first aligned run of nr zero bits in [start, size); bit_off >= size
    when none.  Reads past the bitmap are noted on the chunk."""
    amap = chunk.alloc_map
    v52 = chunk.version.generation == "v5.2"
    largest_off = largest_bits = 0
    top = chunk.map_bits
    while True:
        index = amap.next_bit(start, min(size, top), False)
        if index >= top and size > top:
            chunk.read_past_end = chunk.read_past_end or start < size
            index = size  # bits past the map are not the chunk's: no fit there
        index = align_up(index, align)
        end = index + nr
        if end > size:
            return AreaFit(end, largest_off, largest_bits)
        hi = min(end, top)
        i = amap.next_bit(index, hi, True)
        if i >= hi and end > top:
            chunk.read_past_end = True
            i = max(top, index)  # past the map reads as in use
        if i < end:
            area_bits = i - index
            if v52 and (
                area_bits > largest_bits
                or (
                    area_bits == largest_bits
                    and largest_off
                    and (not index or ffs0(index) > ffs0(largest_off))
                )
            ):
                largest_off, largest_bits = index, area_bits
            start = i + 1
            continue
        return AreaFit(index, largest_off, largest_bits)


def pcpu_search_area(chunk: Chunk, alloc_bits: int, align: int, start: int) -> AreaFit | None:
    """The read-only half of pcpu_alloc_area(): where it will allocate."""
    end = start + alloc_bits + chunk.version.block_bits
    if chunk.version.bounded_search:
        end = min(end, chunk.map_bits)
    fit = pcpu_find_zero_area(chunk, end, start, alloc_bits, align)
    return None if fit.bit_off >= end else fit


def pcpu_alloc_area(chunk: Chunk, alloc_bits: int, align: int, start: int) -> int:
    """pcpu_alloc_area(): allocate alloc_bits aligned at align bits, scanning
    from start; the bit offset, or -1.  CONTEXT: pcpu_lock."""
    fit = pcpu_search_area(chunk, alloc_bits, align, start)
    if fit is None:
        return -1
    commit_area(chunk, fit, alloc_bits)
    return fit.bit_off


def commit_area(chunk: Chunk, fit: AreaFit, alloc_bits: int) -> None:
    """The writing half of pcpu_alloc_area(), for the area `fit` found."""
    bit_off = fit.bit_off
    if fit.area_bits and chunk.version.generation == "v5.2":
        pcpu_block_update_scan(chunk, fit.area_off, fit.area_bits)
    chunk.alloc_map.set_range(bit_off, alloc_bits)
    chunk.bound_map.set_range(bit_off, 1)
    chunk.bound_map.clear_range(bit_off + 1, alloc_bits - 1)
    chunk.bound_map.set_range(bit_off + alloc_bits, 1)
    chunk.free_bytes -= alloc_bits * PCPU_MIN_ALLOC_SIZE
    md = chunk.chunk_md
    if bit_off == md.first_free:
        md.first_free = chunk.alloc_map.next_bit(bit_off + alloc_bits, chunk.map_bits, False)
    pcpu_block_update_hint_alloc(chunk, bit_off, alloc_bits)


def pcpu_free_area(chunk: Chunk, bit_off: int) -> int:
    """pcpu_free_area(): free the area starting at bit_off; its size in
    bits.  CONTEXT: pcpu_lock."""
    end = chunk.bound_map.next_bit(bit_off + 1, chunk.map_bits, True)
    bits = end - bit_off
    chunk.alloc_map.clear_range(bit_off, bits)
    chunk.free_bytes += bits * PCPU_MIN_ALLOC_SIZE
    chunk.chunk_md.first_free = min(chunk.chunk_md.first_free, bit_off)
    pcpu_block_update_hint_free(chunk, bit_off, bits)
    return bits


def place(chunk: Chunk, alloc_bits: int, align: int) -> int:
    """pcpu_find_block_fit() then pcpu_alloc_area() for a non-atomic request:
    the bit offset allocated, or -1 (the chunk is passed over)."""
    start = pcpu_find_block_fit(chunk, alloc_bits, align)
    if start < 0:
        chunk.hint_skips += 1
        return -1
    return pcpu_alloc_area(chunk, alloc_bits, align, start)


# -- what the hints promise -------------------------------------------------


def free_runs(chunk: Chunk, lo: int, hi: int) -> list[tuple[int, int]]:
    """The maximal free runs [start, end) of the bitmap within [lo, hi)."""
    runs = []
    amap = chunk.alloc_map
    pos = lo
    while pos < hi:
        rs = amap.next_bit(pos, hi, False)
        if rs >= hi:
            break
        re = amap.next_bit(rs, hi, True)
        runs.append((rs, re))
        pos = re
    return runs


# The promises `hint_violations` checks, by name; PROMISES_KEPT says which
# each version keeps in every history tried (benchmarks/block_hints.py).
PROMISES = (
    "block-contig",  # contig_hint is the block's largest free run, at contig_hint_start
    "block-first-free",  # no free bit below first_free
    "block-left",  # left_free is the free run touching the block's start
    "block-right",  # right_free is the free run touching the block's end
    "block-scan",  # scan_hint is a free run not larger than the contig_hint
    "chunk-free",  # the chunk's contig_hint "will never be more than the available space"
    "chunk-page",  # "may be off by up to a page" (a block, at the tests' scale)
    "chunk-exact",  # "If the contig hint is contained in one block, it will be accurate"
    "chunk-first-free",  # no free bit below the chunk's first_free
    "free-bytes",  # free_bytes counts the free bits
)


def hint_violations(chunk: Chunk) -> list[tuple[str, str]]:
    """The hints' promises (PROMISES) the chunk breaks, checked against its
    bitmap: (promise, what is wrong).  From the kernel's comments on
    pcpu_block_update, pcpu_next_hint and pcpu_block_update_hint_free."""
    bad: list[tuple[str, str]] = []
    bb = chunk.version.block_bits
    v52 = chunk.version.generation == "v5.2"
    for i, block in enumerate(chunk.md_blocks):
        runs = free_runs(chunk, i * bb, i * bb + bb)
        runs = [(s - i * bb, e - i * bb) for s, e in runs]
        largest = max((e - s for s, e in runs), default=0)
        starts = {s for s, e in runs if e - s == largest}
        first = runs[0][0] if runs else bb
        left = runs[0][1] if runs and runs[0][0] == 0 else 0
        right = bb - runs[-1][0] if runs and runs[-1][1] == bb else 0
        if block.contig_hint != largest:
            bad.append(
                ("block-contig", f"block {i}: contig_hint {block.contig_hint}, largest {largest}")
            )
        elif largest and block.contig_hint_start not in starts:
            bad.append(("block-contig", f"block {i}: contig_hint_start {block.contig_hint_start}"))
        if block.first_free > first:
            bad.append(("block-first-free", f"block {i}: first_free {block.first_free} > {first}"))
        if block.left_free != left:
            bad.append(("block-left", f"block {i}: left_free {block.left_free}, bitmap {left}"))
        if block.right_free != right:
            bad.append(("block-right", f"block {i}: right_free {block.right_free}, bitmap {right}"))
        if v52 and block.scan_hint:
            s, n = block.scan_hint_start, block.scan_hint
            # scan_hint_start < contig_hint_start is what pcpu_block_update
            # aims for, but it is not kept (pcpu_next_hint: "possibly not
            # true iff contig_hint == scan_hint"), and pcpu_next_hint() checks
            # the order before using it: placement needs only these two.
            if n > block.contig_hint:
                bad.append(("block-scan", f"block {i}: scan_hint {n} above the contig_hint"))
            elif chunk.alloc_map.next_bit(i * bb + s, i * bb + s + n, True) < i * bb + s + n:
                bad.append(("block-scan", f"block {i}: scan_hint [{s}, +{n}) is not free"))
    md = chunk.chunk_md
    runs = free_runs(chunk, 0, chunk.map_bits)
    largest = max((e - s for s, e in runs), default=0)
    first = runs[0][0] if runs else chunk.map_bits
    s, n = md.contig_hint_start, md.contig_hint
    if n and chunk.alloc_map.next_bit(s, s + n, True) < s + n:
        bad.append(("chunk-free", f"chunk: contig_hint [{s}, +{n}) is not free"))
    if largest - n > bb:
        bad.append(("chunk-page", f"chunk: contig_hint {n}, largest free run {largest}"))
    inside = [e - b for b, e in runs if b // bb == (e - 1) // bb]
    if inside and max(inside) == largest and n != largest:
        bad.append(("chunk-exact", f"chunk: contig_hint {n}, {largest} free in one block"))
    if md.first_free > first:
        bad.append(("chunk-first-free", f"chunk: first_free {md.first_free} > {first}"))
    if chunk.free_bytes != sum(e - b for b, e in runs) * PCPU_MIN_ALLOC_SIZE:
        bad.append(("free-bytes", "chunk: free_bytes differs from the bitmap"))
    return bad
