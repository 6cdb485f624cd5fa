"""The bitmap allocator's block hints (mm/percpu.c, v4.14+) and their updates.

A chunk's area is a bitmap of PCPU_MIN_ALLOC_SIZE (4-byte) cells, split in
blocks of `block_bits` cells, each with a metadata record (struct
pcpu_block_md); the chunk keeps one more record for the whole bitmap.  An
allocation asks pcpu_find_block_fit() for a start that the hints promise a
fit after, then pcpu_alloc_area() scans the bitmap from there: placement is
first fit only where the hints say so.  The kernel's comments say what the
hints promise (see `hint_violations`):

* a block's contig_hint is its largest free run and contig_hint_start where
  one such run starts (pcpu_block_update: "the best starting offset");
* scan_hint, when set, is a free run not larger than the contig_hint (its
  place before contig_hint_start is only aimed at: see `hint_violations`);
* first_free: no free cell below it;
* left_free / right_free: the free run touching the block's start / end;
* the chunk's contig_hint "may be off by up to a page, but it will never be
  more than the available space.  If the contig hint is contained in one
  block, it will be accurate." (pcpu_block_update_hint_free, v5.2).

Two generations of this code are modelled, by `HintVersion.generation`:

* "v4.14" (v4.14 .. v5.1): blocks of 1 KiB (PCPU_BITMAP_BLOCK_SIZE), no
  scan_hint, the chunk's hint is contig_bits / contig_bits_start / first_bit,
  refreshed by pcpu_chunk_refresh_hint(chunk) from first_bit;
* "v5.2" (v5.2 .. v6.1): blocks of a page (b239f7daf553, "percpu: set
  PCPU_BITMAP_BLOCK_SIZE to PAGE_SIZE"), scan_hint at block and chunk level,
  the chunk's hints in a struct pcpu_block_md of its own, the area search
  remembering the largest skipped area (pcpu_find_zero_area).

and three fixes that open the v5.2 series by Dennis Zhou, by switch:

* `free_region` is the region the free path hands to the chunk's hint when a
  free stays inside one block.  "block-contig-hint": before "percpu: update
  free path with correct new free region" (the first patch of the v5.2
  series, its id [U]) it passed the block's contig_hint as the size of the
  freed run; "end-minus-start": the fix; "block-end": since "percpu: convert
  chunk hints to be based on pcpu_block_md" (v5.2, still in v6.1) it passes
  pcpu_block_off_to_off(s_index, start) and `end`, a block offset, to
  pcpu_block_update(), so outside block 0 the chunk's hint is not raised.
* `bounded_search`: 8c43004af01635cc9fbb11031d070e5e0d327ef2 ("percpu: do
  not search past bitmap when allocating an area") bounds pcpu_alloc_area's
  scan by the bitmap's size.  `Chunk.read_past_end` records a scan that
  would read past it.
* `region_overlap`: "percpu: introduce helper to determine if two regions
  overlap" (03/12, its id [U]): before it, pcpu_block_update_hint_alloc()
  refreshed a hint only when the area *started* inside it, so an area
  starting just before the chunk's contig hint left it naming used bits.

Cells are bits; offsets and sizes in these functions are in bits, as in the
kernel.  The bitmaps are Python ints, one a block (`Bitmap`): every block
operation is on one small int, which keeps a 1 MiB unit (256 blocks of 1024
bits) cheap to update.
"""

from __future__ import annotations

from collections.abc import Iterator

from percpu_mc.model.bitmap_chunk import (
    PAGE_SIZE,
    PCPU_MIN_ALLOC_SIZE,
    BlockMd,
    Chunk,
    HintVersion,
    align_up,
    ffs0,
    pcpu_alloc_chunk,
)


def pcpu_region_overlap(a: int, b: int, x: int, y: int) -> bool:
    return a < y and x < b


def pcpu_block_update(block: BlockMd, start: int, end: int, v52: bool = True) -> None:
    """pcpu_block_update(): [start, end) is a whole free run of the record."""
    contig = end - start
    if start < block.first_free:
        block.first_free = start
    if start == 0:
        block.left_free = contig
    if end == block.nr_bits:
        block.right_free = contig
    hint = block.contig_hint
    if not v52:
        if contig > hint:
            block.contig_hint_start, block.contig_hint = start, contig
        elif (
            block.contig_hint_start
            and contig == hint
            and (not start or ffs0(start) > ffs0(block.contig_hint_start))
        ):
            block.contig_hint_start = start  # the start with the best alignment
        return
    if contig > hint:
        # the old contig_hint becomes the scan_hint when it lies before
        if start > block.contig_hint_start:
            if hint > block.scan_hint:
                block.scan_hint_start = block.contig_hint_start
                block.scan_hint = hint
            elif start < block.scan_hint_start:
                block.scan_hint = 0  # keep scan_hint_start < contig_hint_start
        else:
            block.scan_hint = 0
        block.contig_hint_start, block.contig_hint = start, contig
    elif contig == hint:
        if block.contig_hint_start and (not start or ffs0(start) > ffs0(block.contig_hint_start)):
            block.contig_hint_start = start  # better aligned
            if start < block.scan_hint_start and hint > block.scan_hint:
                block.scan_hint = 0
        elif start > block.scan_hint_start or hint > block.scan_hint:
            block.scan_hint_start, block.scan_hint = start, contig
    elif start < block.contig_hint_start and (
        contig > block.scan_hint or (contig == block.scan_hint and start > block.scan_hint_start)
    ):
        block.scan_hint_start, block.scan_hint = start, contig


def pcpu_block_refresh_hint(chunk: Chunk, index: int) -> None:
    """pcpu_block_refresh_hint(): rescan block `index` from first_free, or
    from past its scan_hint (v5.2, which becomes the contig_hint)."""
    block = chunk.md_blocks[index]
    v52 = chunk.version.generation == "v5.2"
    if v52 and block.scan_hint:
        start = block.scan_hint_start + block.scan_hint
        block.contig_hint_start, block.contig_hint = block.scan_hint_start, block.scan_hint
        block.scan_hint = 0
    else:
        start = block.first_free
        block.contig_hint = 0
    if not v52:
        block.left_free = 0
    block.right_free = 0
    w = ~chunk.alloc_map.word_bits(index) & chunk.alloc_map.full
    w &= ~((1 << start) - 1)
    while w:  # each clear region [rs, re)
        rs = ffs0(w)
        run = w >> rs
        re = rs + ((~run) & (run + 1)).bit_length() - 1
        pcpu_block_update(block, rs, re, v52)
        w &= ~((1 << re) - 1)


def md_free_regions(chunk: Chunk, bit_off: int) -> Iterator[tuple[int, int]]:
    """pcpu_for_each_md_free_region(): the free runs the block hints show
    from bit_off on, aggregated across blocks, (bit_off, bits) each; the
    next is looked for one bit past the end of the last, as the kernel's
    loop steps (bit_off += bits + 1)."""
    bb = chunk.version.block_bits
    blocks = chunk.md_blocks
    n = len(blocks)
    next_used_word = chunk.alloc_map.next_used_word
    i, block_off = divmod(bit_off, bb)
    while i < n:
        block = blocks[i]
        bits = block.contig_hint
        right = block.right_free
        if not bits and not right:  # a full block: nothing here
            block_off = 0
            i += 1
            continue
        start = block.contig_hint_start
        if bits and start >= block_off and bits + start < bb:
            yield i * bb + start, bits
            i, block_off = divmod(i * bb + start + bits + 1, bb)
            continue
        i += 1
        if not right:
            block_off = 0
            continue
        # The run continues through wholly free blocks.  A block's
        # left_free is BLOCK_BITS exactly when no bit of it is in use
        # (promise "block-left", kept by every version), so the blocks the
        # kernel adds up one by one are those with no bit set.
        j = next_used_word(i, n)
        bits = right + (j - i) * bb
        if j < n:
            bits += blocks[j].left_free
        yield i * bb - right, bits
        i, block_off = divmod(i * bb - right + bits + 1, bb)


def pcpu_next_md_free_region(chunk: Chunk, bit_off: int) -> tuple[int, int]:
    """pcpu_next_md_free_region(): the next free run the block hints show
    at or after bit_off, aggregated across blocks: (bit_off, bits); past the
    last block (map_bits or beyond), 0 bits, when there is none."""
    bb = chunk.version.block_bits
    n = len(chunk.md_blocks)
    return next(md_free_regions(chunk, bit_off), (bit_off if bit_off // bb >= n else n * bb, 0))


def pcpu_chunk_refresh_hint(chunk: Chunk, full_scan: bool = True) -> None:
    """pcpu_chunk_refresh_hint(): rebuild the chunk's hint from the blocks'."""
    md = chunk.chunk_md
    v52 = chunk.version.generation == "v5.2"
    if v52 and not full_scan and md.scan_hint:
        bit_off = md.scan_hint_start + md.scan_hint
        md.contig_hint_start, md.contig_hint = md.scan_hint_start, md.scan_hint
        md.scan_hint = 0
    else:
        bit_off = md.first_free
        md.contig_hint = 0
    nr_bits = md.nr_bits
    for bit_off, bits in md_free_regions(chunk, bit_off):
        if not v52:
            pcpu_chunk_update(md, bit_off, bits)
        elif not (
            # Past the hint and smaller than it, a run changes nothing in
            # pcpu_block_update() unless it ends the chunk: skip the call.
            bits < md.contig_hint
            and md.contig_hint_start < bit_off
            and md.first_free <= bit_off
            and bit_off + bits != nr_bits
        ):
            pcpu_block_update(md, bit_off, bit_off + bits)


def pcpu_chunk_update(md: BlockMd, bit_off: int, bits: int) -> None:
    """pcpu_chunk_update() (v4.14): the chunk's contig_bits given a free run."""
    if bits > md.contig_hint:
        md.contig_hint_start, md.contig_hint = bit_off, bits
    elif (
        bits == md.contig_hint
        and md.contig_hint_start
        and (not bit_off or ffs0(bit_off) > ffs0(md.contig_hint_start))
    ):
        md.contig_hint_start = bit_off


def pcpu_block_update_scan(chunk: Chunk, bit_off: int, bits: int) -> None:
    """pcpu_block_update_scan() (v5.2): a free area the search skipped, with
    the free bits alignment skipped before it."""
    bb = chunk.version.block_bits
    s_index, s_off = divmod(bit_off, bb)
    e_off = s_off + bits
    if e_off > bb:
        return
    l_bit = chunk.alloc_map.last_set_in_word(s_index, s_off)
    s_off = 0 if s_off == l_bit else l_bit + 1
    pcpu_block_update(chunk.md_blocks[s_index], s_off, e_off)


def pcpu_block_update_hint_alloc(chunk: Chunk, bit_off: int, bits: int) -> None:
    """pcpu_block_update_hint_alloc(): hints after [bit_off, +bits) was
    allocated.  CONTEXT: pcpu_lock."""
    bb = chunk.version.block_bits
    v52 = chunk.version.generation == "v5.2"
    amap = chunk.alloc_map
    s_index, s_off = divmod(bit_off, bb)
    e_index, e_last = divmod(bit_off + bits - 1, bb)
    e_off = e_last + 1
    s_block = chunk.md_blocks[s_index]

    if s_off == s_block.first_free:
        s_block.first_free = amap.next_bit(s_index * bb + s_off + bits, s_index * bb + bb, False)
        s_block.first_free = min(s_block.first_free - s_index * bb, bb)
    if v52:
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
    elif chunk.version.region_overlap:
        broken = pcpu_region_overlap(
            s_block.contig_hint_start,
            s_block.contig_hint_start + s_block.contig_hint,
            s_off,
            s_off + bits,
        )
    else:  # before 03/12: only an area starting inside the hint breaks it
        broken = (
            s_block.contig_hint_start <= s_off < s_block.contig_hint_start + s_block.contig_hint
        )
    if broken:
        if v52 and not s_off:
            s_block.left_free = 0
        pcpu_block_refresh_hint(chunk, s_index)
    else:
        s_block.left_free = min(s_block.left_free, s_off)
        if s_index == e_index:
            s_block.right_free = min(s_block.right_free, bb - e_off)
        else:
            s_block.right_free = 0

    if s_index != e_index:
        e_block = chunk.md_blocks[e_index]
        e_block.first_free = amap.next_bit(e_index * bb + e_off, e_index * bb + bb, False)
        e_block.first_free -= e_index * bb
        full_to = e_index
        if e_off == bb:
            full_to = e_index + 1  # the whole e_block is taken: reset it below
        else:
            if v52 and e_off > e_block.scan_hint_start:
                e_block.scan_hint = 0
            if v52:
                e_block.left_free = 0
            if e_off > e_block.contig_hint_start:
                pcpu_block_refresh_hint(chunk, e_index)
            else:
                if not v52:
                    e_block.left_free = 0
                e_block.right_free = min(e_block.right_free, bb - e_off)
        for block in chunk.md_blocks[s_index + 1 : full_to]:
            block.scan_hint = 0
            block.contig_hint = 0
            block.left_free = 0
            block.right_free = 0

    md = chunk.chunk_md
    if v52:
        if pcpu_region_overlap(
            md.scan_hint_start, md.scan_hint_start + md.scan_hint, bit_off, bit_off + bits
        ):
            md.scan_hint = 0
        if pcpu_region_overlap(
            md.contig_hint_start, md.contig_hint_start + md.contig_hint, bit_off, bit_off + bits
        ):
            pcpu_chunk_refresh_hint(chunk, False)
    elif chunk.version.region_overlap:
        if pcpu_region_overlap(
            md.contig_hint_start, md.contig_hint_start + md.contig_hint, bit_off, bit_off + bits
        ):
            pcpu_chunk_refresh_hint(chunk)
    elif md.contig_hint_start <= bit_off < md.contig_hint_start + md.contig_hint:
        pcpu_chunk_refresh_hint(chunk)


def pcpu_block_update_hint_free(chunk: Chunk, bit_off: int, bits: int) -> None:
    """pcpu_block_update_hint_free(): hints after [bit_off, +bits) was
    freed.  CONTEXT: pcpu_lock."""
    bb = chunk.version.block_bits
    v52 = chunk.version.generation == "v5.2"
    amap = chunk.alloc_map
    s_index, s_off = divmod(bit_off, bb)
    e_index, e_last = divmod(bit_off + bits - 1, bb)
    e_off = e_last + 1
    s_block, e_block = chunk.md_blocks[s_index], chunk.md_blocks[e_index]

    # the whole free run around the freed area, within the end blocks
    if s_off == s_block.contig_hint + s_block.contig_hint_start:
        start = s_block.contig_hint_start
    else:
        l_bit = amap.last_set_in_word(s_index, s_off)
        start = 0 if s_off == l_bit else l_bit + 1
    if e_off == e_block.contig_hint_start:
        end = e_block.contig_hint_start + e_block.contig_hint
    else:
        end = amap.next_bit(e_index * bb + e_off, e_index * bb + bb, True) - e_index * bb

    pcpu_block_update(s_block, start, end if s_index == e_index else bb, v52)
    if s_index != e_index:
        pcpu_block_update(e_block, 0, end, v52)
        for block in chunk.md_blocks[s_index + 1 : e_index]:
            block.first_free = 0
            block.scan_hint = 0
            block.contig_hint_start = 0
            block.contig_hint = bb
            block.left_free = bb
            block.right_free = bb

    md = chunk.chunk_md
    if v52:
        refresh = end - start >= bb or s_index != e_index
    else:
        page_bits = min(PAGE_SIZE // PCPU_MIN_ALLOC_SIZE, bb)
        refresh = (end // page_bits) * page_bits > align_up(start, page_bits) or s_index != e_index
    if refresh:
        pcpu_chunk_refresh_hint(chunk, True)
        return
    region = chunk.version.free_region
    chunk_start = s_index * bb + start
    if region == "block-end":
        pcpu_block_update(md, chunk_start, end, v52)  # `end` is a block offset
    elif region == "end-minus-start":
        if v52:
            pcpu_block_update(md, chunk_start, chunk_start + end - start)
        else:
            pcpu_chunk_update(md, chunk_start, end - start)
    elif v52:
        pcpu_block_update(md, chunk_start, chunk_start + s_block.contig_hint)
    else:
        pcpu_chunk_update(md, chunk_start, s_block.contig_hint)


# -- the first chunk: its static and reserved head and its tail are in use --------


def pcpu_alloc_first_chunk(version: HintVersion, start_offset: int, map_size: int) -> Chunk:
    """pcpu_alloc_first_chunk(): the chunk serving [start_offset,
    start_offset + map_size) bytes of a page-aligned region; the head and tail
    are hidden as allocated areas."""
    lcm_align = max(PAGE_SIZE, version.block_bits * PCPU_MIN_ALLOC_SIZE)
    region_size = align_up(start_offset + map_size, lcm_align)
    chunk = pcpu_alloc_chunk(version, region_size // PCPU_MIN_ALLOC_SIZE)
    chunk.free_bytes = map_size
    end_offset = region_size - start_offset - map_size
    if version.generation == "v4.14":
        chunk.chunk_md.contig_hint = map_size // PCPU_MIN_ALLOC_SIZE
    if start_offset:
        offset_bits = start_offset // PCPU_MIN_ALLOC_SIZE
        chunk.alloc_map.set_range(0, offset_bits)
        chunk.bound_map.set_range(0, 1)
        chunk.bound_map.set_range(offset_bits, 1)
        chunk.chunk_md.first_free = offset_bits
        pcpu_block_update_hint_alloc(chunk, 0, offset_bits)
    if end_offset:
        offset_bits = end_offset // PCPU_MIN_ALLOC_SIZE
        chunk.alloc_map.set_range(chunk.map_bits - offset_bits, offset_bits)
        chunk.bound_map.set_range((start_offset + map_size) // PCPU_MIN_ALLOC_SIZE, 1)
        chunk.bound_map.set_range(chunk.map_bits, 1)
        pcpu_block_update_hint_alloc(chunk, chunk.map_bits - offset_bits, offset_bits)
    return chunk
