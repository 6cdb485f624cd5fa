"""Exact replay of a real log at the kernel's own scale: each chunk's
bitmaps and block hints (model.block_hints) followed line by line, and each
allocation's offset compared with the one pcpu_find_block_fit() and
pcpu_alloc_area() would choose.

What the log pins and what it leaves open:

* A chunk created within the log (percpu_create_chunk) starts empty, so
  its bitmaps and hints are known exactly from then on.  A chunk the log
  never saw created (the first chunk, the reserved chunk, chunks made
  before tracing began) had a state the log does not show: its allocations
  are counted "not decided (prior state unknown)", and the first offset seen
  in it is stated.
* Within a chunk, a non-atomic allocation's place depends only on the
  bitmaps and hints: it is predicted exactly.  An atomic one takes the
  first fit on populated pages (pcpu_is_populated); population is untraced
  (the balance work populates and reclaims in the background), so a page
  is known populated once an area on it was allocated, and unknown again
  when its block becomes wholly free (pcpu_reclaim_populated may take it).
  Fit regions on pages of unknown population are kept as candidates.
* An allocation is traced after pcpu_alloc() dropped its locks, so its line
  can follow events of other contexts that happened after its area was
  taken.  When the prediction misses and another context touched the chunk
  since the allocating task's previous event, the line is "not decided
  (race)".  The chunk's hints then follow the logged offset, which need not
  be the kernel's scan (the skipped-area hint of pcpu_block_update_scan):
  its later placements are "not decided (hints unsure)" until the chunk is
  wholly free again, when its hints are back to their one value.

Findings, each at its line with what the kernel would have done:
`placement` (an offset the placement would not choose; the predicted one
named), `atomic-unpopulated` (an atomic allocation on a page known
unpopulated: the chunk was created within the log, which shows
pcpu_populate_chunk() calls by the function tracer or a kprobe, and no such
call came since), `create-while-fitting` (a chunk created by an allocating
task, in process context, while a chunk the log created fitted the task's
request by pcpu_find_block_fit(); the balance work creates chunks ahead of
need, so a kworker's creation is not judged) and `destroy-not-free`
(percpu_destroy_chunk of a chunk with areas still allocated).  Level 1
(trace_check) runs beside this and owns the rest (double frees, overlaps,
frees of unknown areas).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from percpu_mc.checker.logs.conformance_real import is_kworker, process_context
from percpu_mc.model.bitmap_chunk import (
    PAGE_SIZE,
    PCPU_MIN_ALLOC_SIZE,
    V6_1,
    Chunk,
    HintVersion,
    pcpu_alloc_chunk,
)
from percpu_mc.model.block_fit import (
    AreaFit,
    commit_area,
    pcpu_free_area,
    pcpu_next_fit_region,
    pcpu_next_hint,
    pcpu_search_area,
)
from percpu_mc.traces.events import (
    BufferEntries,
    Event,
    FunctionCall,
    LostEvents,
    PercpuAlloc,
    PercpuAllocFail,
    PercpuCreateChunk,
    PercpuDestroyChunk,
    PercpuFree,
    ProbeHit,
    Record,
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


@dataclass(frozen=True, slots=True)
class ExactFinding:
    line: int
    kind: str  # "placement" | "atomic-unpopulated" | "create-while-fitting" | "destroy-not-free"
    message: str
    text: str


# Lines kept for each reason of "not decided" (the count goes on): a
# million-line log's undecided lines would grow memory with the log.
LINES_KEPT = 1000


@dataclass
class ExactResult:
    unit_size: int
    findings: list[ExactFinding] = field(default_factory=list)
    checked: int = 0  # allocations predicted and matched
    not_decided: dict[str, list[int]] = field(default_factory=dict)  # reason -> first lines
    undecided_counts: dict[str, int] = field(default_factory=dict)  # reason -> lines
    notes: list[str] = field(default_factory=list)

    @property
    def not_decided_count(self) -> int:
        return sum(self.undecided_counts.values())


@dataclass
class Tracked:
    """A chunk created within the log: its state, and what is known of it."""

    chunk: Chunk
    created_line: int
    populated: bytearray  # per page: UNKNOWN, POPULATED or UNPOPULATED
    sure: bool = True  # hints are the kernel's (no forced offset since empty)
    touched: dict[int, int] = field(default_factory=dict)  # pid -> its last line here


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


class ExactReplay:
    """Feeds records in log order; `result` holds what was found."""

    def __init__(self, unit_size: int, version: HintVersion = V6_1) -> None:
        self.version = version
        self.map_bits = unit_size // PCPU_MIN_ALLOC_SIZE
        self.result = ExactResult(unit_size)
        self.tracked: dict[int, Tracked] = {}
        self.prior: dict[int, int] = {}  # base -> first line seen, chunks not created in the log
        self.last_line: dict[int, int] = {}  # pid -> its last percpu line
        # the log shows pcpu_populate_chunk() calls (function tracer or kprobe)
        self.population_traced = False
        # pid -> (its create line, its percpu line before it): a chunk made
        # by an allocating task, judged at the task's next allocation
        self.created_by: dict[int, tuple[PercpuCreateChunk, int]] = {}
        self.cpus_to_wait: int | None = None  # overwritten buffer: #P, until all appeared
        self.cpus_seen: set[int] = set()
        self.forgotten: set[int] = set()  # chunks followed until events were lost
        self.lost_at: int | None = None  # the first LOST EVENTS line

    def undecided(self, reason: str, line: int) -> None:
        counts = self.result.undecided_counts
        counts[reason] = counts.get(reason, 0) + 1
        if counts[reason] <= LINES_KEPT:
            self.result.not_decided.setdefault(reason, []).append(line)

    def feed(self, r: Record) -> None:
        if self.cpus_to_wait is not None and isinstance(r, Event):
            self.cpu_appears(r.cpu)
        kind = type(r)
        if kind is PercpuAlloc:
            self.allocation(r)
        elif kind is PercpuFree:
            self.free(r)
        elif kind is PercpuCreateChunk:
            self.create(r)
        elif kind is PercpuDestroyChunk:
            self.destroy(r)
        elif kind is PercpuAllocFail:
            self.request_ends(r, r.size, r.align)
            return
        elif kind is FunctionCall or kind is ProbeHit:
            self.population(r)
            return
        elif kind is LostEvents:
            self.forget(r.line)
            return
        elif kind is BufferEntries:
            if r.in_buffer < r.written:
                self.cpus_to_wait = r.cpus
            return
        else:
            return
        self.last_line[r.pid] = r.line

    def forget(self, line: int) -> None:
        """Events were lost here: every chunk followed so far may have
        changed unseen, so its state is unknown from now on."""
        self.forgotten.update(self.tracked)
        self.tracked.clear()
        self.created_by.clear()
        if self.lost_at is None:
            self.lost_at = line

    def cpu_appears(self, cpu: int) -> None:
        """An overwritten buffer: each CPU's part starts at another time, so
        a chunk is followed from its creation only once every CPU has shown
        up (before, another CPU's events in it may be gone)."""
        self.cpus_seen.add(cpu)
        if len(self.cpus_seen) >= self.cpus_to_wait:
            self.cpus_to_wait = None

    def create(self, r: PercpuCreateChunk) -> None:
        if r.base_addr is None:
            return
        if self.cpus_to_wait is not None:
            self.prior.setdefault(r.base_addr, r.line)  # see cpu_appears
            return
        chunk = pcpu_alloc_chunk(self.version, self.map_bits)
        pages = self.map_bits // PAGE_BITS
        self.tracked[r.base_addr] = Tracked(chunk, r.line, bytearray([UNPOPULATED]) * pages)
        self.prior.pop(r.base_addr, None)
        self.forgotten.discard(r.base_addr)
        if not is_kworker(r.comm) and process_context(r):
            # pcpu_alloc() of this task found no chunk to fit its request
            self.created_by[r.pid] = (r, self.last_line.get(r.pid, 0))

    def population(self, r: FunctionCall | ProbeHit) -> None:
        """pcpu_populate_chunk(chunk, page_start, page_end): which chunk the
        line does not say (a kprobe's chunk argument is the struct, not the
        base address), so the pages (those of the kprobe's range, or every
        page) of every chunk not known populated become unknown."""
        if isinstance(r, FunctionCall):
            if r.function != "pcpu_populate_chunk":
                return
            pages = None
        elif r.site.startswith("pcpu_populate_chunk+"):
            args = dict(r.args)
            try:
                pages = range(int(args["page_start"], 0), int(args["page_end"], 0))
            except (KeyError, ValueError):
                pages = None
        else:
            return
        self.population_traced = True
        for t in self.tracked.values():
            populated = t.populated
            for page in pages if pages is not None else range(len(populated)):
                if page < len(populated) and populated[page] == UNPOPULATED:
                    populated[page] = UNKNOWN

    def request_ends(self, r: PercpuAlloc | PercpuAllocFail, size: int, align: int) -> None:
        """The task's request after it created a chunk: pcpu_alloc() creates
        one only when pcpu_find_block_fit() fitted it in no chunk.  A chunk
        the log created before, its hints followed and no other context
        touching it since the task's event before the creation, that fits
        the request by the same code is a finding.  (Chunks whose slot is
        below PCPU_SLOT_FAIL_THRESHOLD may sit unscanned in slot 0; the
        first and reserved chunks' state is unknown.)"""
        made = self.created_by.pop(r.pid, None)
        if made is None or r.is_atomic or r.reserved:
            return
        create, since = made
        bits = size // PCPU_MIN_ALLOC_SIZE
        align = max(align, PCPU_MIN_ALLOC_SIZE) // PCPU_MIN_ALLOC_SIZE
        if bits <= 0 or align & (align - 1):
            return
        for base, t in self.tracked.items():
            if base == create.base_addr or not t.sure or t.created_line > since:
                continue
            if any(line > since for pid, line in t.touched.items() if pid != r.pid):
                continue  # another context changed it after the task's scan
            if pcpu_chunk_slot(t.chunk) < PCPU_SLOT_FAIL_THRESHOLD:
                continue
            fits, _ = self.candidates(t, bits, align, False)
            if fits:
                self.result.findings.append(
                    ExactFinding(
                        create.line,
                        "create-while-fitting",
                        f"task {create.comm}-{create.pid} created a chunk for its request of "
                        f"{size} bytes (line {r.line}), but chunk {base:#x} (created at line "
                        f"{t.created_line}) fitted it at offset "
                        f"{fits[0].bit_off * PCPU_MIN_ALLOC_SIZE}: pcpu_alloc() creates a "
                        "chunk only when pcpu_find_block_fit() fits no chunk",
                        create.text,
                    )
                )
                return

    def destroy(self, r: PercpuDestroyChunk) -> None:
        t = self.tracked.pop(r.base_addr, None) if r.base_addr is not None else None
        if r.base_addr is not None:
            self.prior.pop(r.base_addr, None)
        if t is None:
            return
        used = self.map_bits * PCPU_MIN_ALLOC_SIZE - t.chunk.free_bytes
        if used:
            self.result.findings.append(
                ExactFinding(
                    r.line,
                    "destroy-not-free",
                    f"the chunk created at line {t.created_line} still has {used} bytes "
                    "allocated: pcpu_balance_workfn destroys only fully free chunks",
                    r.text,
                )
            )

    def chunk_of(self, base: int | None, line: int) -> Tracked | None:
        if base is None:
            return None
        t = self.tracked.get(base)
        if t is None and base not in self.prior and base not in self.forgotten:
            self.prior[base] = line
        return t

    def free(self, r: PercpuFree) -> None:
        t = self.chunk_of(r.base_addr, r.line)
        if t is None:
            return
        bit_off = r.off // PCPU_MIN_ALLOC_SIZE
        chunk = t.chunk
        if bit_off >= chunk.map_bits or not chunk.bound_map.test(bit_off):
            return  # not an area start here: level 1 reports it
        if not chunk.alloc_map.test(bit_off):
            return
        bits = pcpu_free_area(chunk, bit_off)
        t.touched[r.pid] = r.line
        first, last = bit_off // PAGE_BITS, (bit_off + bits - 1) // PAGE_BITS
        for page in range(first, last + 1):
            if not chunk.alloc_map.any_set(page * PAGE_BITS, (page + 1) * PAGE_BITS):
                t.populated[page] = UNKNOWN  # wholly free: pcpu_reclaim_populated may take it
        if chunk.free_bytes == chunk.map_bits * PCPU_MIN_ALLOC_SIZE:
            t.sure = True  # an empty chunk's hints have one value

    def allocation(self, r: PercpuAlloc) -> None:
        if self.created_by:
            self.request_ends(r, r.size, r.align)
        t = self.chunk_of(r.base_addr, r.line)
        if t is None:
            if r.base_addr is not None:
                self.undecided("prior state unknown", r.line)
            return
        chunk = t.chunk
        bits = r.size // PCPU_MIN_ALLOC_SIZE
        align = max(r.align, PCPU_MIN_ALLOC_SIZE) // PCPU_MIN_ALLOC_SIZE
        bit_off = r.off // PCPU_MIN_ALLOC_SIZE
        if (
            r.off % PCPU_MIN_ALLOC_SIZE
            or bits <= 0
            or bit_off + bits > chunk.map_bits
            or chunk.alloc_map.any_set(bit_off, bit_off + bits)
        ):
            return  # an impossible area: level 1 reports it
        first, last = bit_off // PAGE_BITS, (bit_off + bits - 1) // PAGE_BITS
        if r.is_atomic and self.population_traced:
            unpopulated = [p for p in range(first, last + 1) if t.populated[p] == UNPOPULATED]
            if unpopulated:
                self.result.findings.append(
                    ExactFinding(
                        r.line,
                        "atomic-unpopulated",
                        f"an atomic allocation at offset {r.off} in chunk {r.base_addr:#x}, "
                        f"on page {unpopulated[0]}, which no pcpu_populate_chunk() line has "
                        f"populated since the chunk was created (line {t.created_line}): "
                        "pcpu_find_block_fit() takes only populated pages for atomic requests",
                        r.text,
                    )
                )
                force_area(chunk, bit_off, bits)
                t.sure = False
                for page in range(first, last + 1):
                    t.populated[page] = POPULATED
                t.touched[r.pid] = r.line
                return
        fits, open_ = self.candidates(t, bits, align, r.is_atomic)
        match = next((fit for fit in fits if fit.bit_off == bit_off), None)
        if not t.sure:
            self.undecided("hints unsure", r.line)
        elif match is not None and not open_:
            self.result.checked += 1
        elif match is not None:
            self.undecided("population unknown", r.line)
        elif self.raced(t, r):
            self.undecided("race", r.line)
            t.sure = False
        elif open_:
            self.undecided("population unknown", r.line)
            t.sure = False
        else:
            where = f"offset {fits[0].bit_off * PCPU_MIN_ALLOC_SIZE}" if fits else "another chunk"
            self.result.findings.append(
                ExactFinding(
                    r.line,
                    "placement",
                    f"offset {r.off} in chunk {r.base_addr:#x}, but pcpu_find_block_fit() and "
                    f"pcpu_alloc_area() on this chunk's bitmap and hints choose {where}",
                    r.text,
                )
            )
            t.sure = False
        if match is not None:
            commit_area(chunk, match, bits)
        else:
            force_area(chunk, bit_off, bits)
        for page in range(first, last + 1):
            t.populated[page] = POPULATED
        t.touched[r.pid] = r.line

    def raced(self, t: Tracked, r: PercpuAlloc) -> bool:
        """Another context changed the chunk since this task's previous
        percpu event: its area may have been taken before those lines."""
        since = self.last_line.get(r.pid, 0)
        return any(line > since for pid, line in t.touched.items() if pid != r.pid)

    def candidates(
        self, t: Tracked, bits: int, align: int, atomic: bool
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
            if t.populated[page] == UNKNOWN or not self.population_traced:
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


class ExactPass:
    """The exact replay fed during the one reading of a log that level 1
    makes.  Without a given unit size it is inferred as the log goes: the
    replay waits at the first chunk the log creates, holding at most
    HELD_RECORDS records, until two live chunks' stride gives the unit
    size (or the log ends, when the inference is final).  If the holding
    overflowed, or the final inference differs from the size used,
    `finish` replays the log again from `reread()`."""

    HELD_RECORDS = 65_536

    def __init__(
        self, unit_size: int | None, version: HintVersion, reread: Callable[[], Iterable[Record]]
    ) -> None:
        self.version = version
        self.reread = reread
        self.given = unit_size
        self.inference = UnitInference()
        self.replay = ExactReplay(unit_size or PAGE_SIZE, version)
        self.unit = unit_size  # the size the replay runs with, once known
        self.held: list[Record] | None = None  # records waiting for the unit size
        self.overflowed = False

    def feed(self, r: Record) -> None:
        if self.given is None:
            self.inference.feed(r)
            if self.unit is None:
                self.wait(r)
                return
        self.replay.feed(r)

    def wait(self, r: Record) -> None:
        """Before the unit size is known: a record before the first created
        chunk needs none; from there on, records are held."""
        if self.held is None:
            if not isinstance(r, PercpuCreateChunk):
                self.replay.feed(r)  # in chunks the log did not create: no unit needed
                return
            self.held = []
        if self.overflowed:
            return
        self.held.append(r)
        if (unit := self.inference.from_stride()) is not None:
            self.start(unit)
        elif len(self.held) > self.HELD_RECORDS:
            self.overflowed, self.held = True, []

    def start(self, unit: int) -> None:
        """Run the held records at `unit`."""
        self.unit = unit
        self.replay.map_bits = unit // PCPU_MIN_ALLOC_SIZE
        self.replay.result.unit_size = unit
        for held in self.held or ():
            self.replay.feed(held)
        self.held = []

    def finish(self) -> ExactReplay:
        """The replay, its result's notes saying how the unit size was had."""
        if self.given is not None:
            return self.replay
        unit, note = self.inference.result()
        if self.unit is None and not self.overflowed:
            self.start(unit)
        elif self.unit != unit or self.overflowed:
            self.replay = ExactReplay(unit, self.version)
            for r in self.reread():
                self.replay.feed(r)
        self.replay.result.notes.append(note)
        return self.replay


def exact_replay(
    records: Iterable[Record],
    unit_size: int | None = None,
    version: HintVersion = V6_1,
    layout: FirstChunkLayout | None = None,
) -> ExactResult:
    """Replay `records` exactly (see the module's docstring).  Without
    `unit_size` (or a `layout`, whose u value is the unit size) it is
    inferred from the log as the replay goes."""
    notes = []
    if unit_size is None and layout is not None:
        unit_size = layout.unit_size
        notes.append(f"unit size {unit_size} bytes from the boot layout line")
    records = records if isinstance(records, list | tuple) else list(records)
    one = ExactPass(unit_size, version, lambda: records)
    for r in records:
        one.feed(r)
    return finish_notes(one.finish(), notes, layout)


def finish_notes(
    replay: ExactReplay, notes: list[str], layout: FirstChunkLayout | None = None
) -> ExactResult:
    """The replay's result with its notes: how the unit size was had, the
    first chunk's layout, and the chunks whose prior state is unknown."""
    result = replay.result
    result.notes = notes + result.notes
    if layout is not None:
        result.notes.append(
            f"first chunk: static {layout.static_size}, reserved {layout.reserved_size}, "
            f"dynamic {layout.dyn_size} bytes"
        )
    if replay.lost_at is not None:
        result.notes.append(
            f"events were lost from line {replay.lost_at} on: the {len(replay.forgotten)} "
            "chunks followed until then are not decided after it (prior state unknown)"
        )
    for base, line in replay.prior.items():
        result.notes.append(
            f"chunk {base:#x}: not created in the log (first seen at line {line}); its state "
            "before the log is unknown, so its placements are not decided"
        )
    return result
