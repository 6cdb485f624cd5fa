"""The allocator's state as a log shows it, and the level-1 checks of each
percpu event against it (checker/logs/trace_check.py reads the log and
orders its lines; this module judges them).

What the checks keep is only what they must: the live areas and the known
chunks, each chunk's freed-and-not-reused offsets, the constants of the boot
(the pointer offset, bytes_alloc per byte, the first and reserved chunks).
"""

from collections.abc import Callable

from percpu_mc.checker.logs.chunk import Area, Chunk
from percpu_mc.checker.logs.findings import Violation
from percpu_mc.traces.events import (
    Event,
    PercpuAlloc,
    PercpuCreateChunk,
    PercpuDestroyChunk,
    PercpuFree,
)

# Kernel addresses on 64-bit kernels sit in the upper half; a hashed pointer
# is 32 bits wide. Only raw 64-bit pointers can be related arithmetically.
KERNEL_HALF = 1 << 63
HASH_LIMIT = 1 << 32
ADDRESS_MASK = (1 << 64) - 1


class Shadow:
    """The areas and chunks the log has shown since its last gap. Findings
    go to `violate`, notes to `note`, the kernel features seen to `feature`."""

    def __init__(
        self,
        complete: bool,
        violate: Callable[[Event, str, str], None],
        note: Callable[[Violation], None],
        feature: Callable[[str], None],
    ) -> None:
        self._violate = violate
        self._note = note
        self._feature = feature
        self._chunks: dict[int, Chunk] = {}
        # (base, off) -> (line of its free, the gap since): areas freed before
        # events may have been lost, and not allocated again since.
        self._freed_before_gap: dict[tuple[int, int], tuple[int, str]] = {}
        self._complete = complete  # the log holds the allocator's whole history
        self._first_chunk: int | None = None  # complete logs: the chunk never created
        self._reserved_chunk: int | None = None
        self._ptr_delta: int | None = None  # raw pointers: base_addr + off - ptr
        self._bytes_ratio: PercpuAlloc | None = None  # first alloc with bytes_alloc

    def classify(self, event: Event) -> Chunk | None:
        """The one look at the state each allocation and free starts with:
        its chunk when the event contradicts no area or chunk state (an
        allocation in a live chunk at free cells, a free of a live area's
        start), else None."""
        chunk = self._chunks.get(event.base_addr)  # type: ignore[attr-defined, arg-type]
        if chunk is None:
            return None
        match event:
            case PercpuAlloc(off=off, size=size):
                if chunk.destroyed is None and not chunk.overlapping(off, off + size):
                    return chunk
            case PercpuFree(off=off):
                if off in chunk.areas:
                    return chunk
        return None

    def conflicts(self, event: Event) -> bool:
        """Does `event` contradict the area or chunk state? (The violations
        that another CPU's line could explain away.)"""
        chunk = self._chunks.get(event.base_addr)  # type: ignore[attr-defined, arg-type]
        match event:
            case PercpuAlloc(size=0):
                return False  # changes no state (see _alloc): no order explains it
            case PercpuAlloc() | PercpuFree():
                # A chunk seen first here may be a create of another CPU's;
                # freeing an area not known to be live may be another CPU's
                # allocation of it, taken too late.
                return self.classify(event) is None
            case PercpuDestroyChunk():
                return chunk is not None and bool(chunk.areas)
            case PercpuCreateChunk():
                return chunk is not None and self.is_live(chunk)
        return False

    def before_state(self, event: Event) -> None:
        """Overwritten buffer, before every CPU appeared: no state is
        checked, but an area freed now and freed again later is noted."""
        if isinstance(event, PercpuFree) and event.base_addr is not None:
            self._freed_before_gap[event.base_addr, event.off] = (
                event.line,
                "the ring buffer overwrote the events of CPUs that had not appeared yet "
                "(entries-in-buffer below entries-written)",
            )
        elif isinstance(event, PercpuAlloc) and event.base_addr is not None:
            self._freed_before_gap.pop((event.base_addr, event.off), None)

    def forget(self, gap: str) -> None:
        """A gap: what the log showed of areas and chunks no longer holds,
        but an area freed before it is remembered, to note a second free."""
        gone = self._freed_before_gap
        for chunk in self._chunks.values():
            for off, line in chunk.freed.items():
                gone[chunk.base, off] = (line, gap)
        self._chunks.clear()
        self._complete = False
        self._first_chunk = self._reserved_chunk = None

    def apply(self, event: Event, clean: Chunk | None = None) -> None:
        """Check `event` against the state and apply it; `clean`: its chunk,
        as classify() found it (the fast path skips the lookups)."""
        match event:
            case PercpuAlloc():
                self._alloc(event, clean)
            case PercpuFree():
                self._free(event, clean)
            case PercpuCreateChunk():
                self._create(event)
            case PercpuDestroyChunk():
                self._destroy(event)

    def _alloc(self, event: PercpuAlloc, clean: Chunk | None = None) -> None:
        """`clean`: the event's chunk, live and free at the event's area."""
        base, off, size, align = event.base_addr, event.off, event.size, event.align
        self._feature("v5.19+ field set" if event.call_site is not None else "v4.13 field set")
        if (
            (bytes_alloc := event.bytes_alloc) is not None
            and size != 0
            and (
                (first := self._bytes_ratio) is None
                or bytes_alloc * first.size != first.bytes_alloc * size
            )
        ):
            self._check_bytes_alloc(event)
        if size == 0 or align & (align - 1) or align <= 0:
            self._violate(
                event,
                "invalid-request",
                f"size={size} align={align}: pcpu_alloc() refuses a zero size or an "
                "alignment that is not a power of two before allocating anything",
            )
        elif off % align or off < 0:
            self._violate(
                event,
                "misaligned",
                f"off={off} is not a multiple of align={align}: the area search "
                "only considers offsets aligned to the request",
            )
        if base is None:
            return
        self._check_ptr(event, None)
        if size == 0:
            # Reported above as invalid-request; it changes no allocator state.
            # pcpu_alloc() refuses a zero size (WARN, NULL) before searching a
            # chunk, so the line hands out no area, and an area of no bytes
            # could not be indexed anyway: it would share its start with the
            # live area there (areas are keyed by offset), hide it, and leave
            # `starts` and `areas` disagreeing. Kept out, the live area stays
            # the one later lines are checked against, so the line is one
            # finding and not a cascade; a later free of the offset is judged
            # as if the line were not there (the kernel never returned a
            # pointer to free). Nor does it revive a destroyed chunk or claim
            # the first or reserved chunk: it took nothing from any chunk.
            return
        if clean is not None:
            if event.reserved or clean.created is None and self._complete:
                self._check_chunk_identity(event, clean)
            clean.add(Area(off, size, event.ptr, event.line))
            if self._freed_before_gap:
                self._freed_before_gap.pop((base, off), None)
            return
        chunk = self._chunks.get(base)
        if chunk is None:
            chunk = self._chunks[base] = Chunk(base)
        if chunk.destroyed is not None:
            self._violate(
                event,
                "alloc-in-destroyed-chunk",
                f"chunk {base:#x} was destroyed at line {chunk.destroyed} and not "
                "created again: pcpu_balance_workfn unlinked it from the slot lists "
                "before pcpu_destroy_chunk",
            )
            chunk = self._chunks[base] = Chunk(base)
        self._check_chunk_identity(event, chunk)
        for area in chunk.overlapping(off, off + size):
            self._violate(
                event,
                "overlap",
                f"[{off}, {off + size}) of chunk {base:#x} overlaps the live area "
                f"[{area.off}, {area.off + area.size}) allocated at line {area.line} "
                "and not freed since: pcpu_alloc_area() only hands out free bits",
            )
            chunk.remove(area)
        chunk.add(Area(off, size, event.ptr, event.line))
        if self._freed_before_gap:
            self._freed_before_gap.pop((base, off), None)

    def _check_chunk_identity(self, event: PercpuAlloc, chunk: Chunk) -> None:
        """Reserved allocations come from the reserved chunk only, which, like
        the first chunk, exists from boot and never gets a create event."""
        if chunk.created is not None:
            if event.reserved:
                self._violate(
                    event,
                    "reserved-chunk-mismatch",
                    f"a reserved allocation in chunk {chunk.base:#x}, created at line "
                    f"{chunk.created}: reserved requests are served only by "
                    "pcpu_reserved_chunk, which is set up at boot",
                )
            return
        if event.reserved:
            if self._reserved_chunk is None:
                self._reserved_chunk = chunk.base
            elif self._reserved_chunk != chunk.base:
                self._violate(
                    event,
                    "reserved-chunk-mismatch",
                    f"a reserved allocation in chunk {chunk.base:#x}, but earlier ones "
                    f"used {self._reserved_chunk:#x}: there is one pcpu_reserved_chunk",
                )
        elif self._complete:
            if self._first_chunk is None:
                self._first_chunk = chunk.base
            elif self._first_chunk != chunk.base:
                self._violate(
                    event,
                    "alloc-unknown-chunk",
                    f"chunk {chunk.base:#x} was never created, and the first chunk is "
                    f"{self._first_chunk:#x}: in a complete log every other chunk "
                    "appears with percpu_create_chunk first",
                )

    def _check_ptr(self, event: PercpuAlloc | PercpuFree, area: Area | None) -> None:
        """ptr is __addr_to_pcpu_ptr(base_addr + off): the address shifted by
        one constant of the boot. Hashed pointers can only be compared whole."""
        base, ptr = event.base_addr, event.ptr
        if base is None or ptr is None:
            return
        if base >= KERNEL_HALF:
            self._feature("raw pointers")
            delta = (base + event.off - ptr) & ADDRESS_MASK
            if delta == self._ptr_delta:
                return
            if self._ptr_delta is None:
                self._ptr_delta = delta
            else:
                self._violate(
                    event,
                    "ptr-mismatch",
                    f"ptr={ptr:#x} is not base_addr + off - {self._ptr_delta:#x}, the "
                    "offset every earlier event of this boot showed "
                    "(__addr_to_pcpu_ptr)",
                )
            return
        if base < HASH_LIMIT:
            self._feature("hashed pointers")
        if area is not None and area.ptr is not None and area.ptr != ptr:
            self._violate(
                event,
                "ptr-mismatch",
                f"ptr={ptr:#x}, but the area at off={event.off} was handed out as "
                f"ptr={area.ptr:#x} at line {area.line}",
            )

    def _check_bytes_alloc(self, event: PercpuAlloc) -> None:
        """bytes_alloc = pcpu_obj_full_size(size): size times the possible
        CPUs, plus the memcg pointers when kmem accounting is on — a fixed
        multiple of size within one boot."""
        first = self._bytes_ratio
        if first is None:
            self._bytes_ratio = event
        elif event.bytes_alloc * first.size != first.bytes_alloc * event.size:
            self._violate(
                event,
                "bytes-alloc-mismatch",
                f"bytes_alloc={event.bytes_alloc} for size={event.size}, but line "
                f"{first.line} had bytes_alloc={first.bytes_alloc} for size="
                f"{first.size}: pcpu_obj_full_size() is linear in size",
            )

    def _free(self, event: PercpuFree, clean: Chunk | None = None) -> None:
        """`clean`: the event's chunk, holding a live area at the event's off."""
        base, off = event.base_addr, event.off
        if base is None:
            return
        chunk = clean if clean is not None else self._chunks.get(base)
        area = chunk.areas.get(off) if chunk is not None else None
        if (
            area is None
            or event.ptr is None
            or base < KERNEL_HALF
            or (base + off - event.ptr) & ADDRESS_MASK != self._ptr_delta
        ):
            self._check_ptr(event, area)
        if area is not None:
            chunk.remove(area)  # type: ignore[union-attr]
            chunk.freed[off] = event.line  # type: ignore[union-attr]
        elif violation := self._free_violation(base, off):
            self._violate(event, *violation)
        else:
            # An area allocated before the log began (or before a gap): from
            # now on it is known free, so a second free is a double free.
            if chunk is None:
                chunk = self._chunks[base] = Chunk(base)
            chunk.freed[off] = event.line
            if (before := self._freed_before_gap.pop((base, off), None)) is not None:
                line, gap = before
                self._note(
                    Violation(
                        event.line,
                        "double-free",
                        f"the area at off={off} of chunk {base:#x} was freed at line {line} "
                        f"and not allocated again in the log since; noted, not a violation: "
                        f"{gap}, and those may have allocated it again",
                        event.text,
                    )
                )

    def _free_violation(self, base: int, off: int) -> tuple[str, str] | None:
        """Why freeing [base_addr + off] is impossible now, if it is."""
        chunk = self._chunks.get(base)
        if chunk is None:
            if self._complete:
                return (
                    "free-unknown",
                    f"chunk {base:#x} holds no area allocated in this log, "
                    "which claims to be complete",
                )
            return None
        if off in chunk.areas:
            return None
        if chunk.destroyed is not None:
            return (
                "free-in-destroyed-chunk",
                f"chunk {base:#x} was destroyed at line {chunk.destroyed}: only a fully "
                "free chunk is destroyed, and nothing was allocated in it since",
            )
        if inside := chunk.overlapping(off, off + 1):
            return (
                "free-inside-area",
                f"off={off} lies inside the live area [{inside[0].off}, "
                f"{inside[0].off + inside[0].size}) allocated at line {inside[0].line}: "
                "free_percpu() must be given the area's start",
            )
        if off in chunk.freed:
            return (
                "double-free",
                f"the area at off={off} of chunk {base:#x} was already freed "
                f"at line {chunk.freed[off]} and not allocated again, and no event "
                "was lost since",
            )
        if chunk.created is not None:
            return (
                "free-unknown",
                f"no area at off={off} of chunk {base:#x} was allocated since "
                f"its percpu_create_chunk at line {chunk.created}",
            )
        if self._complete:
            return (
                "free-unknown",
                f"no area at off={off} of chunk {base:#x} was allocated in "
                "this log, which claims to be complete",
            )
        return None

    @staticmethod
    def is_live(chunk: Chunk) -> bool:
        return chunk.destroyed is None and (chunk.created is not None or bool(chunk.areas))

    def _create(self, event: PercpuCreateChunk) -> None:
        base = event.base_addr
        if base is None:
            return
        chunk = self._chunks.get(base)
        if chunk is not None and self.is_live(chunk):
            why = (
                f"created at line {chunk.created}"
                if chunk.created is not None
                else f"holding {len(chunk.areas)} live areas"
            )
            self._violate(
                event,
                "create-live-chunk",
                f"chunk {base:#x} is live ({why}) and not destroyed: its vm area "
                "cannot be handed out again",
            )
        self._chunks[base] = Chunk(base, created=event.line)

    def _destroy(self, event: PercpuDestroyChunk) -> None:
        base = event.base_addr
        if base is None:
            return
        chunk = self._chunks.get(base, Chunk(base))
        if chunk.destroyed is not None:
            self._violate(
                event,
                "destroy-destroyed-chunk",
                f"chunk {base:#x} was already destroyed at line {chunk.destroyed}",
            )
        elif chunk.areas:
            first = chunk.areas[chunk.starts[0]]
            self._violate(
                event,
                "destroy-nonempty-chunk",
                f"chunk {base:#x} still holds {len(chunk.areas)} live areas (the first "
                f"at off={first.off}, allocated at line {first.line}): "
                "pcpu_balance_workfn frees only fully free chunks",
            )
        elif chunk.created is None and self._complete:
            self._violate(
                event,
                "destroy-unknown-chunk",
                f"chunk {base:#x} was never created in this log, which claims to be "
                "complete, and the first and reserved chunks are never destroyed",
            )
        self._chunks[base] = Chunk(base, destroyed=event.line)
