"""Level-2 conformance at real scale: logs of real kernels (4 KiB pages,
units of hundreds of pages, byte offsets), which start after boot.

At this scale the replay does not enumerate model states: it keeps, per
task and per chunk, what the spec's code allows a log to show, and treats
every choice the log does not show as free (an over-approximation: which
offset an allocation gets, when the balance work runs and what it
populates, every allocation made before the log).  What it checks, each
rule from the spec's code paths:

* percpu_destroy_chunk is printed only by pcpu_balance_workfn, which runs on
  a kworker (phase 1 of the balance work);
* percpu_create_chunk comes from pcpu_alloc() of a non-atomic request (the
  same task's next percpu event is that call's percpu_alloc_percpu or _fail)
  or, when the spec's balance work populates (balance_work =
  "free-and-populate"), from the balance work on a kworker;
* an allocation's alignment is a power of two of at most PAGE_SIZE, and
  with a known unit size (--unit-size) the area lies inside the unit;
* a reserved allocation needs the spec's reserved chunk;
* function-tracer lines naming code the spec does not have (area-map
  extension in a bitmap-allocator spec, partial depopulation in a spec
  without it) name the behaviour the model lacks.
Everything else a real log shows (areas, double frees, destroyed chunks) is
level 1's, which runs beside this.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from percpu_mc.checker.logs.findings import Violation
from percpu_mc.model.params import Params
from percpu_mc.traces.events import (
    BufferEntries,
    Event,
    FunctionCall,
    PercpuAlloc,
    PercpuAllocFail,
    PercpuCreateChunk,
    PercpuDestroyChunk,
    Record,
)

PAGE_SIZE = 4096

# Modern functions (v5.14, f183324133ea / 67c2669d69fb) and what they do.
PARTIAL_DEPOPULATION = ("pcpu_reclaim_populated", "pcpu_isolate_chunk", "pcpu_reintegrate_chunk")
AREA_MAP_EXTENSION = ("pcpu_extend_area_map", "pcpu_map_extend_workfn")


def process_context(e: Event) -> bool:
    """The irq-info columns show neither hardirq nor softirq."""
    return e.flags is not None and len(e.flags) >= 3 and e.flags[2] == "."


def is_kworker(comm: str) -> bool:
    return comm.startswith("kworker/") or comm == "<...>"


@dataclass
class RealReplay:
    p: Params
    unit_size: int | None = None  # bytes, when known
    findings: list[Violation] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    creator: dict[int, PercpuCreateChunk] = field(default_factory=dict)  # pid -> its create
    largest_end: int = 0  # the largest off + size seen
    stopped: bool = False
    cpus: int | None = None  # the header's #P
    live_bases: set[int] = field(default_factory=set)  # created and not destroyed
    stride: int | None = None  # the least distance between two live created chunks

    def feed(self, record: Record) -> None:
        if isinstance(record, BufferEntries):
            self.cpus = record.cpus
        if self.stopped or not isinstance(record, Event):
            return
        match record:
            case PercpuDestroyChunk():
                self.chunk_lives(record)
                if not is_kworker(record.comm):
                    self.nonconforming(
                        record,
                        f"task {record.comm} destroys a chunk: only "
                        "pcpu_balance_workfn destroys chunks, and it runs on a "
                        "kworker",
                    )
            case PercpuCreateChunk():
                self.chunk_lives(record)
                self.created(record)
            case PercpuAlloc() | PercpuAllocFail():
                self.allocation(record)
            case FunctionCall():
                self.function(record)

    def chunk_lives(self, e: PercpuCreateChunk | PercpuDestroyChunk) -> None:
        """Two live chunks' vm areas (one unit per CPU each) do not overlap:
        the distance of their base addresses bounds nr_units * unit_size."""
        if e.base_addr is None:
            return
        if isinstance(e, PercpuDestroyChunk):
            self.live_bases.discard(e.base_addr)
            return
        for other in self.live_bases:
            d = abs(other - e.base_addr)
            if d and (self.stride is None or d < self.stride):
                self.stride = d
        self.live_bases.add(e.base_addr)

    def created(self, e: PercpuCreateChunk) -> None:
        populates = self.p.switches.balance_work == "free-and-populate"
        if not (is_kworker(e.comm) and populates) and process_context(e):
            self.creator[e.pid] = e

    def call_ends(self, e: PercpuAlloc | PercpuAllocFail) -> None:
        """The task's next allocation, in process context, after a
        percpu_create_chunk it printed: an atomic one cannot be the call that
        created the chunk.  (An allocation or free from an interrupt prints
        the interrupted task: only lines showing process context count.)"""
        if not process_context(e) or (made := self.creator.pop(e.pid, None)) is None:
            return
        if not e.is_atomic:
            return
        what = "an atomic allocation"
        who = (
            "the balance work does not create chunks in this spec (balance_work = "
            f'"{self.p.switches.balance_work}")'
            if is_kworker(made.comm)
            else "a task creates a chunk only inside a non-atomic pcpu_alloc()"
        )
        self.nonconforming(
            made,
            f"task {made.comm}-{made.pid} created this chunk, but its next "
            f"percpu event (line {e.line}) is {what}: {who}",
        )

    def allocation(self, e: PercpuAlloc | PercpuAllocFail) -> None:
        self.call_ends(e)
        if self.stopped:
            return
        if e.align <= 0 or e.align & (e.align - 1) or e.align > PAGE_SIZE:
            return  # pcpu_alloc() refuses these before tracing anything: level 1 reports it
        if e.reserved and not self.p.has_reserved:
            self.nonconforming(
                e,
                "a reserved allocation, but the spec models no reserved chunk "
                "(reserved_cells = 0): the model lacks pcpu_reserved_chunk",
            )
            return
        if isinstance(e, PercpuAlloc):
            end = e.off + e.size
            self.largest_end = max(self.largest_end, end)
            if self.unit_size is not None and end > self.unit_size:
                self.nonconforming(
                    e,
                    f"the area [{e.off}, {end}) ends past the unit size "
                    f"{self.unit_size}: pcpu_alloc_area() serves one unit",
                )

    def function(self, e: FunctionCall) -> None:
        sw = self.p.switches
        if e.function in PARTIAL_DEPOPULATION and not sw.partial_depopulation:
            self.nonconforming(
                e,
                f"{e.function}: partial depopulation of isolated chunks "
                "(v5.14, f183324133ea) is not in this spec's model",
            )
        elif e.function in AREA_MAP_EXTENSION and sw.area_map == "bitmap":
            self.nonconforming(
                e, f"{e.function}: the bitmap allocator (v4.14) has no area-map extension"
            )

    def nonconforming(self, e: Event, message: str) -> None:
        self.findings.append(Violation(e.line, "nonconforming", message, e.text))
        self.stopped = True

    def finish(self) -> None:
        if self.unit_size is not None or not self.largest_end:
            return
        unit = 1 << (self.largest_end - 1).bit_length()
        note = (
            f"unit size not given: at least {self.largest_end} bytes ({unit} if a power of "
            "two), inferred from the largest area"
        )
        if self.stride is not None and self.cpus:
            note += (
                f"; at most {self.stride // self.cpus} bytes, from two live chunks "
                f"{self.stride:#x} bytes apart and #P:{self.cpus} units each"
            )
        self.notes.append(note)
