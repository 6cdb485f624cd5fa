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

from percpu_mc.checker.logs.conformance_real import is_kworker, process_context
from percpu_mc.checker.logs.exact_chunk import (
    PAGE_BITS,
    PCPU_SLOT_FAIL_THRESHOLD,
    POPULATED,
    UNKNOWN,
    UNPOPULATED,
    Tracked,
    candidates,
    force_area,
    pcpu_chunk_slot,
)
from percpu_mc.checker.logs.exact_result import LINES_KEPT, ExactFinding, ExactResult
from percpu_mc.model.bitmap_chunk import PCPU_MIN_ALLOC_SIZE, V6_1, HintVersion, pcpu_alloc_chunk
from percpu_mc.model.block_fit import commit_area, pcpu_free_area
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
            fits, _ = candidates(t, bits, align, False, self.population_traced)
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
        fits, open_ = candidates(t, bits, align, r.is_atomic, self.population_traced)
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
