"""A chunk of the bitmap allocator (mm/percpu.c, v4.14+) at the kernel's own
scale: its allocation and boundary bitmaps in blocks, each block's metadata
record (struct pcpu_block_md) and the chunk's own, and which kernel's hint
code runs on them (`HintVersion`).  The hint updates are
model/block_hints.py's, the fit search model/block_fit.py's.
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
        if not rest:
            return n
        j = i + (rest & -rest).bit_length() - 1
        return j if j < n else n

    def test(self, bit: int) -> bool:
        return bool(self.words[bit >> self.shift] >> (bit & (self.word - 1)) & 1)

    def set_range(self, start: int, nr: int) -> None:
        self._update(start, nr, True)

    def clear_range(self, start: int, nr: int) -> None:
        self._update(start, nr, False)

    def _update(self, start: int, nr: int, value: bool) -> None:
        end = start + nr
        shift, last = self.shift, self.word - 1
        words = self.words
        while start < end:
            i, off = start >> shift, start & last
            n = end - start
            if n > self.word - off:
                n = self.word - off
            mask = ((1 << n) - 1) << off
            w = words[i] = words[i] | mask if value else words[i] & ~mask
            self.used = self.used | (1 << i) if w else self.used & ~(1 << i)
            start += n

    def next_bit(self, start: int, end: int, value: bool) -> int:
        """find_next_bit / find_next_zero_bit: the first bit equal to
        `value` in [start, end), or `end`."""
        shift, mask = self.shift, self.word - 1
        words = self.words
        while start < end:
            w = words[start >> shift] if value else ~words[start >> shift] & self.full
            w >>= start & mask
            if w:
                start += (w & -w).bit_length() - 1
                return start if start < end else end
            start = (start | mask) + 1
        return end

    def any_set(self, start: int, end: int) -> bool:
        """Is a bit of [start, end) set?"""
        shift = self.shift
        i = start >> shift
        if i == (end - 1) >> shift:  # one word
            span = ((1 << (end - start)) - 1) << (start & (self.word - 1))
            return bool(self.words[i] & span)
        return self.next_bit(start, end, True) < end

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


def copy_chunk(chunk: Chunk) -> Chunk:
    return replace(
        chunk,
        alloc_map=chunk.alloc_map.copy(),
        bound_map=chunk.bound_map.copy(),
        md_blocks=[replace(b) for b in chunk.md_blocks],
        chunk_md=replace(chunk.chunk_md),
    )
