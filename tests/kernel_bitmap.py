"""A direct transcription of mm/percpu.c's bitmap placement, for the
differential test of percpu_mc.model.block_hints.

Line by line from the kernel text: v6.1 (the same hint code as v5.2) and
v5.1 (the same as v4.14 apart from the two fixes, which are switches here
as in the model).  Bitmaps are Python lists of 0/1, one per bit, and every
find_* helper is the obvious loop: nothing is shared with the model.  Bits
past the end of the map read as set, and reading them is recorded, as the
model does, so that 8c43004af016's unbounded scan compares equal.
"""

from __future__ import annotations

from dataclasses import dataclass, field


def ALIGN(x: int, a: int) -> int:
    return (x + a - 1) // a * a


def ALIGN_DOWN(x: int, a: int) -> int:
    return x // a * a


def __ffs(x: int) -> int:
    n = 0
    while not (x >> n) & 1:
        n += 1
    return n


@dataclass
class pcpu_block_md:
    scan_hint: int = 0
    scan_hint_start: int = 0
    contig_hint: int = 0
    contig_hint_start: int = 0
    left_free: int = 0
    right_free: int = 0
    first_free: int = 0
    nr_bits: int = 0


@dataclass
class pcpu_chunk:
    v52: bool
    BLOCK_BITS: int
    fix_free_region: bool  # v5.1 side: "update free path with correct new free region"
    fix_search_end: bool  # 8c43004af016
    fix_block_end: bool  # v5.2 side: hand (start, start + end - start) to the chunk's hint
    fix_overlap: bool  # v5.1 side: 03/12 pcpu_region_overlap()
    nr_bits: int
    alloc_map: list[int] = field(default_factory=list)
    bound_map: list[int] = field(default_factory=list)
    md_blocks: list[pcpu_block_md] = field(default_factory=list)
    chunk_md: pcpu_block_md = field(default_factory=pcpu_block_md)
    free_bytes: int = 0
    read_past: bool = False

    def bit(self, m: list[int], i: int) -> int:
        if i >= len(m):
            self.read_past = True
            return 1
        return m[i]


# -- bitmap helpers, over [base, base + size) of a list -----------------------


def find_next_zero_bit(c: pcpu_chunk, m: list[int], size: int, off: int, base: int = 0) -> int:
    i = off
    while i < size:
        if not c.bit(m, base + i):
            return i
        i += 1
    return size


def find_next_bit(c: pcpu_chunk, m: list[int], size: int, off: int, base: int = 0) -> int:
    i = off
    while i < size:
        if c.bit(m, base + i):
            return i
        i += 1
    return size


def find_last_bit(m: list[int], size: int, base: int = 0) -> int:
    i = size - 1
    while i >= 0:
        if m[base + i]:
            return i
        i -= 1
    return size


def bitmap_set(m: list[int], start: int, nr: int) -> None:
    for i in range(start, start + nr):
        m[i] = 1


def bitmap_clear(m: list[int], start: int, nr: int) -> None:
    for i in range(start, start + nr):
        m[i] = 0


def pcpu_init_md_block(block: pcpu_block_md, nr_bits: int) -> None:
    block.scan_hint = 0
    block.contig_hint = nr_bits
    block.left_free = nr_bits
    block.right_free = nr_bits
    block.first_free = 0
    block.nr_bits = nr_bits


def new_chunk(
    v52: bool,
    BLOCK_BITS: int,
    nr_blocks: int,
    fix_free_region: bool = True,
    fix_search_end: bool = True,
    fix_block_end: bool = False,
    fix_overlap: bool = True,
) -> pcpu_chunk:
    """pcpu_alloc_chunk() + pcpu_init_md_blocks()."""
    c = pcpu_chunk(
        v52,
        BLOCK_BITS,
        fix_free_region,
        fix_search_end,
        fix_block_end,
        fix_overlap,
        nr_blocks * BLOCK_BITS,
    )
    c.alloc_map = [0] * c.nr_bits
    c.bound_map = [0] * (c.nr_bits + 1)
    c.md_blocks = [pcpu_block_md() for _ in range(nr_blocks)]
    pcpu_init_md_block(c.chunk_md, c.nr_bits)
    for b in c.md_blocks:
        pcpu_init_md_block(b, BLOCK_BITS)
    if not v52:
        c.chunk_md.contig_hint_start = 0  # contig_bits = region_bits; first_bit 0
    c.free_bytes = c.nr_bits * 4
    return c


# -- v6.1 ----------------------------------------------------------------------


def pcpu_next_hint(c: pcpu_chunk, block: pcpu_block_md, alloc_bits: int) -> int:
    if not c.v52:
        return block.first_free
    if (
        block.scan_hint
        and block.contig_hint_start > block.scan_hint_start
        and alloc_bits > block.scan_hint
    ):
        return block.scan_hint_start + block.scan_hint
    return block.first_free


def pcpu_next_md_free_region(c: pcpu_chunk, bit_off: int) -> tuple[int, int]:
    i = bit_off // c.BLOCK_BITS
    block_off = bit_off & (c.BLOCK_BITS - 1)
    bits = 0
    while i < len(c.md_blocks):
        block = c.md_blocks[i]
        if bits:
            bits += block.left_free
            if block.left_free == c.BLOCK_BITS:
                i += 1
                continue
            return bit_off, bits
        bits = block.contig_hint
        if (
            bits
            and block.contig_hint_start >= block_off
            and bits + block.contig_hint_start < c.BLOCK_BITS
        ):
            bit_off = i * c.BLOCK_BITS + block.contig_hint_start
            return bit_off, bits
        block_off = 0
        bits = block.right_free
        bit_off = (i + 1) * c.BLOCK_BITS - block.right_free
        i += 1
    return bit_off, bits


def pcpu_next_fit_region(
    c: pcpu_chunk, alloc_bits: int, align: int, bit_off: int
) -> tuple[int, int]:
    i = bit_off // c.BLOCK_BITS
    block_off = bit_off & (c.BLOCK_BITS - 1)
    bits = 0
    while i < len(c.md_blocks):
        block = c.md_blocks[i]
        if bits:
            bits += block.left_free
            if bits >= alloc_bits:
                return bit_off, bits
            if block.left_free == c.BLOCK_BITS:
                i += 1
                continue
        bits = ALIGN(block.contig_hint_start, align) - block.contig_hint_start
        if (
            block.contig_hint
            and block.contig_hint_start >= block_off
            and block.contig_hint >= bits + alloc_bits
        ):
            start = pcpu_next_hint(c, block, alloc_bits)
            bits += alloc_bits + block.contig_hint_start - start
            bit_off = i * c.BLOCK_BITS + start
            return bit_off, bits
        block_off = 0
        bit_off = ALIGN(c.BLOCK_BITS - block.right_free, align)
        bits = c.BLOCK_BITS - bit_off
        bit_off = i * c.BLOCK_BITS + bit_off
        if bits >= alloc_bits:
            return bit_off, bits
        i += 1
    bit_off = c.nr_bits
    return bit_off, bits


def pcpu_region_overlap(a: int, b: int, x: int, y: int) -> bool:
    return (a < y) and (x < b)


def pcpu_block_update(c: pcpu_chunk, block: pcpu_block_md, start: int, end: int) -> None:
    contig = end - start
    block.first_free = min(block.first_free, start)
    if start == 0:
        block.left_free = contig
    if end == block.nr_bits:
        block.right_free = contig
    if not c.v52:  # v5.1
        if contig > block.contig_hint:
            block.contig_hint_start = start
            block.contig_hint = contig
        elif (
            block.contig_hint_start
            and contig == block.contig_hint
            and (not start or __ffs(start) > __ffs(block.contig_hint_start))
        ):
            block.contig_hint_start = start
        return
    if contig > block.contig_hint:
        if start > block.contig_hint_start:
            if block.contig_hint > block.scan_hint:
                block.scan_hint_start = block.contig_hint_start
                block.scan_hint = block.contig_hint
            elif start < block.scan_hint_start:
                block.scan_hint = 0
        else:
            block.scan_hint = 0
        block.contig_hint_start = start
        block.contig_hint = contig
    elif contig == block.contig_hint:
        if block.contig_hint_start and (not start or __ffs(start) > __ffs(block.contig_hint_start)):
            block.contig_hint_start = start
            if start < block.scan_hint_start and block.contig_hint > block.scan_hint:
                block.scan_hint = 0
        elif start > block.scan_hint_start or block.contig_hint > block.scan_hint:
            block.scan_hint_start = start
            block.scan_hint = contig
    else:
        if start < block.contig_hint_start and (
            contig > block.scan_hint
            or (contig == block.scan_hint and start > block.scan_hint_start)
        ):
            block.scan_hint_start = start
            block.scan_hint = contig


def pcpu_chunk_update(c: pcpu_chunk, bit_off: int, bits: int) -> None:
    """v5.1: the chunk's contig_bits."""
    md = c.chunk_md
    if bits > md.contig_hint:
        md.contig_hint_start = bit_off
        md.contig_hint = bits
    elif (
        bits == md.contig_hint
        and md.contig_hint_start
        and (not bit_off or __ffs(bit_off) > __ffs(md.contig_hint_start))
    ):
        md.contig_hint_start = bit_off


def pcpu_block_update_scan(c: pcpu_chunk, bit_off: int, bits: int) -> None:
    s_off = bit_off & (c.BLOCK_BITS - 1)
    e_off = s_off + bits
    if e_off > c.BLOCK_BITS:
        return
    s_index = bit_off // c.BLOCK_BITS
    block = c.md_blocks[s_index]
    l_bit = find_last_bit(c.alloc_map, s_off, s_index * c.BLOCK_BITS)
    s_off = 0 if s_off == l_bit else l_bit + 1
    pcpu_block_update(c, block, s_off, e_off)


def pcpu_chunk_refresh_hint(c: pcpu_chunk, full_scan: bool) -> None:
    chunk_md = c.chunk_md
    if c.v52 and not full_scan and chunk_md.scan_hint:
        bit_off = chunk_md.scan_hint_start + chunk_md.scan_hint
        chunk_md.contig_hint_start = chunk_md.scan_hint_start
        chunk_md.contig_hint = chunk_md.scan_hint
        chunk_md.scan_hint = 0
    else:
        bit_off = chunk_md.first_free
        chunk_md.contig_hint = 0
    bits = 0
    bit_off, bits = pcpu_next_md_free_region(c, bit_off)
    while bit_off < c.nr_bits:
        if c.v52:
            pcpu_block_update(c, chunk_md, bit_off, bit_off + bits)
        else:
            pcpu_chunk_update(c, bit_off, bits)
        bit_off += bits + 1
        bit_off, bits = pcpu_next_md_free_region(c, bit_off)


def pcpu_block_refresh_hint(c: pcpu_chunk, index: int) -> None:
    block = c.md_blocks[index]
    base = index * c.BLOCK_BITS
    if c.v52 and block.scan_hint:
        start = block.scan_hint_start + block.scan_hint
        block.contig_hint_start = block.scan_hint_start
        block.contig_hint = block.scan_hint
        block.scan_hint = 0
    else:
        start = block.first_free
        block.contig_hint = 0
    if not c.v52:
        block.left_free = 0
    block.right_free = 0
    rs = start
    while True:  # bitmap_for_each_clear_region
        rs = find_next_zero_bit(c, c.alloc_map, c.BLOCK_BITS, rs, base)
        if rs >= c.BLOCK_BITS:
            break
        re = find_next_bit(c, c.alloc_map, c.BLOCK_BITS, rs + 1, base)
        pcpu_block_update(c, block, rs, re)
        rs = re + 1


def pcpu_block_update_hint_alloc(c: pcpu_chunk, bit_off: int, bits: int) -> None:
    chunk_md = c.chunk_md
    BB = c.BLOCK_BITS
    s_index = bit_off // BB
    e_index = (bit_off + bits - 1) // BB
    s_off = bit_off & (BB - 1)
    e_off = ((bit_off + bits - 1) & (BB - 1)) + 1
    s_block = c.md_blocks[s_index]
    e_block_i = e_index

    if s_off == s_block.first_free:
        s_block.first_free = find_next_zero_bit(c, c.alloc_map, BB, s_off + bits, s_index * BB)

    if c.v52:
        if pcpu_region_overlap(
            s_block.scan_hint_start,
            s_block.scan_hint_start + s_block.scan_hint,
            s_off,
            s_off + bits,
        ):
            s_block.scan_hint = 0
        broken = pcpu_region_overlap(
            s_block.contig_hint_start,
            s_block.contig_hint_start + s_block.contig_hint,
            s_off,
            s_off + bits,
        )
    elif c.fix_overlap:
        broken = pcpu_region_overlap(
            s_block.contig_hint_start,
            s_block.contig_hint_start + s_block.contig_hint,
            s_off,
            s_off + bits,
        )
    else:
        broken = (
            s_off >= s_block.contig_hint_start
            and s_off < s_block.contig_hint_start + s_block.contig_hint
        )
    if broken:
        if c.v52 and not s_off:
            s_block.left_free = 0
        pcpu_block_refresh_hint(c, s_index)
    else:
        s_block.left_free = min(s_block.left_free, s_off)
        if s_index == e_index:
            s_block.right_free = min(s_block.right_free, BB - e_off)
        else:
            s_block.right_free = 0

    if s_index != e_index:
        e_block = c.md_blocks[e_index]
        e_block.first_free = find_next_zero_bit(c, c.alloc_map, BB, e_off, e_index * BB)
        if e_off == BB:
            e_block_i += 1
        else:
            if c.v52:
                if e_off > e_block.scan_hint_start:
                    e_block.scan_hint = 0
                e_block.left_free = 0
                if e_off > e_block.contig_hint_start:
                    pcpu_block_refresh_hint(c, e_index)
                else:
                    e_block.right_free = min(e_block.right_free, BB - e_off)
            else:
                if e_off > e_block.contig_hint_start:
                    pcpu_block_refresh_hint(c, e_index)
                else:
                    e_block.left_free = 0
                    e_block.right_free = min(e_block.right_free, BB - e_off)
        for k in range(s_index + 1, e_block_i):
            block = c.md_blocks[k]
            block.scan_hint = 0
            block.contig_hint = 0
            block.left_free = 0
            block.right_free = 0

    if c.v52:
        if pcpu_region_overlap(
            chunk_md.scan_hint_start,
            chunk_md.scan_hint_start + chunk_md.scan_hint,
            bit_off,
            bit_off + bits,
        ):
            chunk_md.scan_hint = 0
        if pcpu_region_overlap(
            chunk_md.contig_hint_start,
            chunk_md.contig_hint_start + chunk_md.contig_hint,
            bit_off,
            bit_off + bits,
        ):
            pcpu_chunk_refresh_hint(c, False)
    elif c.fix_overlap:
        if pcpu_region_overlap(
            chunk_md.contig_hint_start,
            chunk_md.contig_hint_start + chunk_md.contig_hint,
            bit_off,
            bit_off + bits,
        ):
            pcpu_chunk_refresh_hint(c, True)
    else:
        if (
            bit_off >= chunk_md.contig_hint_start
            and bit_off < chunk_md.contig_hint_start + chunk_md.contig_hint
        ):
            pcpu_chunk_refresh_hint(c, True)


def pcpu_block_update_hint_free(c: pcpu_chunk, bit_off: int, bits: int) -> None:
    BB = c.BLOCK_BITS
    s_index = bit_off // BB
    e_index = (bit_off + bits - 1) // BB
    s_off = bit_off & (BB - 1)
    e_off = ((bit_off + bits - 1) & (BB - 1)) + 1
    s_block = c.md_blocks[s_index]
    e_block = c.md_blocks[e_index]

    start = s_off
    if s_off == s_block.contig_hint + s_block.contig_hint_start:
        start = s_block.contig_hint_start
    else:
        l_bit = find_last_bit(c.alloc_map, start, s_index * BB)
        start = 0 if start == l_bit else l_bit + 1

    end = e_off
    if e_off == e_block.contig_hint_start:
        end = e_block.contig_hint_start + e_block.contig_hint
    else:
        end = find_next_bit(c, c.alloc_map, BB, end, e_index * BB)

    e_off = end if s_index == e_index else BB
    pcpu_block_update(c, s_block, start, e_off)

    if s_index != e_index:
        pcpu_block_update(c, e_block, 0, end)
        for k in range(s_index + 1, e_index):
            block = c.md_blocks[k]
            block.first_free = 0
            block.scan_hint = 0
            block.contig_hint_start = 0
            block.contig_hint = BB
            block.left_free = BB
            block.right_free = BB

    if c.v52:
        if ((end - start) >= BB) or s_index != e_index:
            pcpu_chunk_refresh_hint(c, True)
        elif c.fix_block_end:
            pcpu_block_update(c, c.chunk_md, s_index * BB + start, s_index * BB + end)
        else:
            pcpu_block_update(c, c.chunk_md, s_index * BB + start, end)
    else:
        PCPU_BITS_PER_PAGE = 4096 // 4
        m = min(PCPU_BITS_PER_PAGE, BB)
        if (ALIGN_DOWN(end, m) > ALIGN(start, m)) or s_index != e_index:
            pcpu_chunk_refresh_hint(c, True)
        elif c.fix_free_region:
            pcpu_chunk_update(c, s_index * BB + start, end - start)
        else:
            pcpu_chunk_update(c, s_index * BB + start, s_block.contig_hint)


def pcpu_find_block_fit(c: pcpu_chunk, alloc_bits: int, align: int) -> int:
    chunk_md = c.chunk_md
    bit_off = ALIGN(chunk_md.contig_hint_start, align) - chunk_md.contig_hint_start
    if bit_off + alloc_bits > chunk_md.contig_hint:
        return -1
    bit_off = pcpu_next_hint(c, chunk_md, alloc_bits)
    bits = 0
    bit_off, bits = pcpu_next_fit_region(c, alloc_bits, align, bit_off)
    if bit_off == c.nr_bits:
        return -1
    return bit_off


def pcpu_find_zero_area(
    c: pcpu_chunk, size: int, start: int, nr: int, align_mask: int
) -> tuple[int, int, int]:
    largest_off = 0
    largest_bits = 0
    while True:
        index = find_next_zero_bit(c, c.alloc_map, size, start)
        index = (index + align_mask) & ~align_mask
        area_off = index
        end = index + nr
        if end > size:
            return end, largest_off, largest_bits
        i = find_next_bit(c, c.alloc_map, end, index)
        if i < end:
            area_bits = i - area_off
            if c.v52 and (
                area_bits > largest_bits
                or (
                    area_bits == largest_bits
                    and largest_off
                    and (not area_off or __ffs(area_off) > __ffs(largest_off))
                )
            ):
                largest_off = area_off
                largest_bits = area_bits
            start = i + 1
            continue
        return index, largest_off, largest_bits


def pcpu_alloc_area(c: pcpu_chunk, alloc_bits: int, align: int, start: int) -> int:
    chunk_md = c.chunk_md
    align_mask = align - 1 if align else 0
    if c.fix_search_end:
        end = min(start + alloc_bits + c.BLOCK_BITS, c.nr_bits)
    else:
        end = start + alloc_bits + c.BLOCK_BITS
    bit_off, area_off, area_bits = pcpu_find_zero_area(c, end, start, alloc_bits, align_mask)
    if bit_off >= end:
        return -1
    if c.v52 and area_bits:
        pcpu_block_update_scan(c, area_off, area_bits)
    bitmap_set(c.alloc_map, bit_off, alloc_bits)
    c.bound_map[bit_off] = 1
    bitmap_clear(c.bound_map, bit_off + 1, alloc_bits - 1)
    c.bound_map[bit_off + alloc_bits] = 1
    c.free_bytes -= alloc_bits * 4
    if bit_off == chunk_md.first_free:
        chunk_md.first_free = find_next_zero_bit(c, c.alloc_map, c.nr_bits, bit_off + alloc_bits)
    pcpu_block_update_hint_alloc(c, bit_off, alloc_bits)
    return bit_off


def pcpu_free_area(c: pcpu_chunk, bit_off: int) -> int:
    chunk_md = c.chunk_md
    end = find_next_bit(c, c.bound_map, c.nr_bits, bit_off + 1)
    bits = end - bit_off
    bitmap_clear(c.alloc_map, bit_off, bits)
    c.free_bytes += bits * 4
    chunk_md.first_free = min(chunk_md.first_free, bit_off)
    pcpu_block_update_hint_free(c, bit_off, bits)
    return bits


def pcpu_alloc(c: pcpu_chunk, bits: int, bit_align: int) -> int:
    """The non-atomic path of pcpu_alloc() on one chunk."""
    off = pcpu_find_block_fit(c, bits, bit_align)
    if off < 0:
        return -1
    return pcpu_alloc_area(c, bits, bit_align, off)
