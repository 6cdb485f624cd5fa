"""Where the exact replay's unit size comes from: the boot layout line
(dmesg), or what the log's areas and chunk addresses imply."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from percpu_mc.traces.events import (
    BufferEntries,
    PercpuAlloc,
    PercpuCreateChunk,
    PercpuDestroyChunk,
    Record,
)

EMBEDDED = re.compile(r"percpu: Embedded (\d+) pages/cpu s(\d+) r(\d+) d(\d+) u(\d+)")


@dataclass(frozen=True)
class FirstChunkLayout:
    """The boot line `percpu: Embedded P pages/cpu sS rR dD uU` (dmesg)."""

    static_size: int
    reserved_size: int
    dyn_size: int
    unit_size: int


def parse_embedded(text: str) -> FirstChunkLayout | None:
    """The layout a dmesg text prints, or None when it has no such line."""
    m = EMBEDDED.search(text)
    if m is None:
        return None
    return FirstChunkLayout(int(m[2]), int(m[3]), int(m[4]), int(m[5]))


class UnitInference:
    """The unit size a log implies, one record at a time: at least its
    largest area end (rounded up to a power of two), at most the least
    distance of two live chunks' bases over #P."""

    def __init__(self) -> None:
        self.largest = 1
        self.cpus: int | None = None
        self.live: set[int] = set()
        self.stride: int | None = None

    def feed(self, r: Record) -> None:
        if isinstance(r, PercpuAlloc):
            if r.off + r.size > self.largest:
                self.largest = r.off + r.size
        elif isinstance(r, PercpuCreateChunk) and r.base_addr is not None:
            for other in self.live:
                d = abs(other - r.base_addr)
                if d and (self.stride is None or d < self.stride):
                    self.stride = d
            self.live.add(r.base_addr)
        elif isinstance(r, PercpuDestroyChunk) and r.base_addr is not None:
            self.live.discard(r.base_addr)
        elif isinstance(r, BufferEntries):
            self.cpus = r.cpus

    def from_stride(self) -> int | None:
        """The stride's unit size, when two live chunks and #P gave one that
        the areas seen so far fit."""
        if self.stride is None or not self.cpus:
            return None
        high = self.stride // self.cpus
        low = 1 << (self.largest - 1).bit_length()
        return high if high >= low and high & (high - 1) == 0 else None

    def result(self) -> tuple[int, str]:
        """The unit size and a note saying where it comes from."""
        high = self.from_stride()
        if high is not None:
            return high, (
                f"unit size {high} bytes inferred: chunks {self.stride:#x} bytes apart with "
                f"#P:{self.cpus} units each (the largest area ends at {self.largest})"
            )
        low = 1 << (self.largest - 1).bit_length()
        return low, (
            f"unit size {low} bytes inferred from the largest area end {self.largest} (a guess)"
        )


def infer_unit_size(records: Iterable[Record]) -> tuple[int, str]:
    """The unit size a whole log implies, and the note that says how."""
    inference = UnitInference()
    for r in records:
        inference.feed(r)
    return inference.result()
