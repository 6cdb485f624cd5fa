"""Placement by the bitmap allocator's block hints (mm/percpu.c, v4.14+).

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

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal

PCPU_MIN_ALLOC_SIZE = 4  # bytes a bit of the bitmaps stands for
PAGE_SIZE = 4096

# pcpu_is_populated(chunk, bit_off, bits): None when [bit_off, +bits) is on
# populated pages, else the bit offset past the unpopulated pages found.
PopulatedTest = Callable[[int, int], "int | None"]

Generation = Literal["v4.14", "v5.2"]
FreeRegion = Literal["block-contig-hint", "end-minus-start", "block-end"]


@dataclass(frozen=True, slots=True)
class HintVersion:
    """Which kernel's hint code runs."""

    generation: Generation
    block_bits: int  # PCPU_BITMAP_BLOCK_BITS
    free_region: FreeRegion  # what the free path hands to the chunk's hint
    bounded_search: bool  # 8c43004af016: pcpu_alloc_area's end bounded by the map
    region_overlap: bool  # v5.2 03/12: hint broken when the area overlaps it


V4_14 = HintVersion("v4.14", 1024 // PCPU_MIN_ALLOC_SIZE, "block-contig-hint", False, False)
# v4.14's code with the three fixes that open the v5.2 series
V4_14_FIXED = HintVersion("v4.14", 1024 // PCPU_MIN_ALLOC_SIZE, "end-minus-start", True, True)
V5_2 = HintVersion("v5.2", PAGE_SIZE // PCPU_MIN_ALLOC_SIZE, "block-end", True, True)
V6_1 = V5_2  # the hint code did not change between v5.2 and v6.1
# v6.1 handing the freed run's own end to the chunk's hint
V6_1_FIXED = replace(V6_1, free_region="end-minus-start")
VERSIONS = {"v4.14": V4_14, "v4.14+fixes": V4_14_FIXED, "v5.2": V5_2, "v6.1": V6_1}


def align_up(x: int, a: int) -> int:
    return (x + a - 1) & -a if a > 1 else x


def ffs0(x: int) -> int:
    """__ffs(): index of the lowest set bit (x > 0)."""
    return (x & -x).bit_length() - 1


class Bitmap:
    """A bitmap of `size` bits kept as one int a block of `word` bits."""

    __slots__ = ("words", "word", "shift", "full", "size", "used")

    def __init__(self, size: int, word: int) -> None:
        self.size = size
        self.word = word
        self.shift = word.bit_length() - 1
        self.full = (1 << word) - 1
        self.words = [0] * (size // word + 1)
        self.used = 0  # bit i: word i has a bit set

    def copy(self) -> Bitmap:
        other = Bitmap.__new__(Bitmap)
        other.size, other.word, other.shift, other.full = (
            self.size,
            self.word,
            self.shift,
            self.full,
        )
        other.words = self.words.copy()
        other.used = self.used
        return other

    def next_used_word(self, i: int, n: int) -> int:
        """The first word at or after i with a bit set, or n."""
        rest = self.used >> i
        return min(i + ffs0(rest), n) if rest else n

    def test(self, bit: int) -> bool:
        return bool(self.words[bit >> self.shift] >> (bit & (self.word - 1)) & 1)

    def set_range(self, start: int, nr: int) -> None:
        self._update(start, nr, True)

    def clear_range(self, start: int, nr: int) -> None:
        self._update(start, nr, False)

    def _update(self, start: int, nr: int, value: bool) -> None:
        end = start + nr
        while start < end:
            i, off = start >> self.shift, start & (self.word - 1)
            n = min(end - start, self.word - off)
            mask = ((1 << n) - 1) << off
            w = self.words[i] = self.words[i] | mask if value else self.words[i] & ~mask
            self.used = self.used | (1 << i) if w else self.used & ~(1 << i)
            start += n

    def next_bit(self, start: int, end: int, value: bool) -> int:
        """find_next_bit / find_next_zero_bit: the first bit equal to
        `value` in [start, end), or `end`."""
        shift, mask = self.shift, self.word - 1
        while start < end:
            w = self.words[start >> shift]
            if not value:
                w = ~w & self.full
            w >>= start & mask
            if w:
                return min(start + ffs0(w), end)
            start = (start | mask) + 1
        return end

    def last_set_in_word(self, index: int, size: int) -> int:
        """find_last_bit(pcpu_index_alloc_map(chunk, index), size): the last
        set bit of block `index` below `size`, or `size`."""
        w = self.words[index] & ((1 << size) - 1)
        return w.bit_length() - 1 if w else size

    def word_bits(self, index: int) -> int:
        return self.words[index]


@dataclass(slots=True)
class BlockMd:
    """struct pcpu_block_md: the hints of one block, or of the chunk."""

    nr_bits: int  # bits the record covers
    contig_hint: int  # the largest free run
    contig_hint_start: int = 0  # where it starts
    scan_hint: int = 0  # v5.2: a free run before contig_hint_start
    scan_hint_start: int = 0
    left_free: int = 0  # the free run at the start
    right_free: int = 0  # the free run at the end
    first_free: int = 0  # no free bit below this

    @staticmethod
    def init(nr_bits: int) -> BlockMd:
        """pcpu_init_md_block(): all free."""
        return BlockMd(nr_bits, nr_bits, 0, 0, 0, nr_bits, nr_bits, 0)


@dataclass
class Chunk:
    """The bitmaps and hints of one chunk (struct pcpu_chunk, v4.14+)."""

    version: HintVersion
    map_bits: int  # pcpu_chunk_map_bits()
    alloc_map: Bitmap  # bit in use
    bound_map: Bitmap  # bit starts an area (map_bits + 1 bits)
    md_blocks: list[BlockMd]
    chunk_md: BlockMd  # v5.2 chunk_md; v4.14 contig_bits/_start, first_bit
    free_bytes: int
    read_past_end: bool = False  # a pcpu_alloc_area() scan reached past map_bits
    hint_skips: int = field(default=0)  # pcpu_find_block_fit() refusals by chunk hint


def pcpu_alloc_chunk(version: HintVersion, map_bits: int) -> Chunk:
    """pcpu_alloc_chunk() + pcpu_init_md_blocks(): an empty chunk."""
    bb = version.block_bits
    if map_bits % bb:
        raise ValueError(f"{map_bits} bits is not a whole number of {bb}-bit blocks")
    return Chunk(
        version,
        map_bits,
        Bitmap(map_bits, bb),
        Bitmap(map_bits + 1, bb),
        [BlockMd.init(bb) for _ in range(map_bits // bb)],
        BlockMd.init(map_bits),
        map_bits * PCPU_MIN_ALLOC_SIZE,
    )


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


def copy_chunk(chunk: Chunk) -> Chunk:
    return replace(
        chunk,
        alloc_map=chunk.alloc_map.copy(),
        bound_map=chunk.bound_map.copy(),
        md_blocks=[replace(b) for b in chunk.md_blocks],
        chunk_md=replace(chunk.chunk_md),
    )


# -- hint updates -----------------------------------------------------------


def pcpu_region_overlap(a: int, b: int, x: int, y: int) -> bool:
    return a < y and x < b


def pcpu_block_update(block: BlockMd, start: int, end: int, v52: bool = True) -> None:
    """pcpu_block_update(): [start, end) is a whole free run of the record."""
    contig = end - start
    block.first_free = min(block.first_free, start)
    if start == 0:
        block.left_free = contig
    if end == block.nr_bits:
        block.right_free = contig
    if not v52:
        if contig > block.contig_hint:
            block.contig_hint_start, block.contig_hint = start, contig
        elif (
            block.contig_hint_start
            and contig == block.contig_hint
            and (not start or ffs0(start) > ffs0(block.contig_hint_start))
        ):
            block.contig_hint_start = start  # the start with the best alignment
        return
    if contig > block.contig_hint:
        # the old contig_hint becomes the scan_hint when it lies before
        if start > block.contig_hint_start:
            if block.contig_hint > block.scan_hint:
                block.scan_hint_start = block.contig_hint_start
                block.scan_hint = block.contig_hint
            elif start < block.scan_hint_start:
                block.scan_hint = 0  # keep scan_hint_start < contig_hint_start
        else:
            block.scan_hint = 0
        block.contig_hint_start, block.contig_hint = start, contig
    elif contig == block.contig_hint:
        if block.contig_hint_start and (not start or ffs0(start) > ffs0(block.contig_hint_start)):
            block.contig_hint_start = start  # better aligned
            if start < block.scan_hint_start and block.contig_hint > block.scan_hint:
                block.scan_hint = 0
        elif start > block.scan_hint_start or block.contig_hint > block.scan_hint:
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


def pcpu_next_md_free_region(chunk: Chunk, bit_off: int) -> tuple[int, int]:
    """pcpu_next_md_free_region(): the next free run the block hints show
    at or after bit_off, aggregated across blocks: (bit_off, bits)."""
    bb = chunk.version.block_bits
    blocks = chunk.md_blocks
    n = len(blocks)
    i, block_off = divmod(bit_off, bb)
    if i >= n:
        return bit_off, 0
    while i < n:
        block = blocks[i]
        bits = block.contig_hint
        if not bits and not block.right_free:  # a full block: nothing here
            block_off = 0
            i += 1
            continue
        if bits and block.contig_hint_start >= block_off and bits + block.contig_hint_start < bb:
            return i * bb + block.contig_hint_start, bits
        block_off = 0
        bits = block.right_free
        bit_off = (i + 1) * bb - bits
        i += 1
        if bits:  # the run continues through wholly free blocks
            # A block's left_free is BLOCK_BITS exactly when no bit of it is
            # in use (promise "block-left", kept by every version), so the
            # blocks the kernel adds up one by one are those with no bit set.
            j = chunk.alloc_map.next_used_word(i, n)
            bits += (j - i) * bb
            if j < n:
                bits += blocks[j].left_free
            return bit_off, bits
    return n * bb, 0  # past the last block, which had no free run at its end


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
    bit_off, bits = pcpu_next_md_free_region(chunk, bit_off)
    while bit_off < chunk.map_bits:
        if v52:
            pcpu_block_update(md, bit_off, bit_off + bits)
        else:
            pcpu_chunk_update(md, bit_off, bits)
        bit_off, bits = pcpu_next_md_free_region(chunk, bit_off + bits + 1)


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


# -- the fit search ---------------------------------------------------------


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
    request, (bit_off, bits); bit_off = map_bits when there is none."""
    bb = chunk.version.block_bits
    v52 = chunk.version.generation == "v5.2"
    i, block_off = divmod(bit_off, bb)
    bits = 0
    blocks = chunk.md_blocks
    while i < len(blocks):
        block = blocks[i]
        if bits:  # a free run continuing from the previous block
            bits += block.left_free
            if bits >= alloc_bits:
                return bit_off, bits
            if block.left_free == bb:
                i += 1
                continue
        bits = align_up(block.contig_hint_start, align) - block.contig_hint_start
        if (
            block.contig_hint
            and block.contig_hint_start >= block_off
            and block.contig_hint >= bits + alloc_bits
        ):
            start = pcpu_next_hint(block, alloc_bits, v52)
            bits += alloc_bits + block.contig_hint_start - start
            return i * bb + start, bits
        block_off = 0
        off = align_up(bb - block.right_free, align)
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
