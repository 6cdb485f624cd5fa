"""Level-1 checks of an ftrace log of the percpu allocator: is the log
consistent with any correct allocator at all? (docs/check-trace.md, "Level 1".)

The checker keeps only what it must: the live areas and the known chunks,
each chunk's freed-and-not-reused offsets, the last timestamp of each CPU.

What a log can and cannot prove:
- A log may start long after boot, so a free of an unknown area, an
  allocation in an unknown chunk, or the destruction of an unknown chunk is
  only an error with `strict` (the log claims to be complete), or when the
  chunk was created inside the log (its whole life is then visible).
- Lost events open a gap: the area and chunk state is forgotten at the
  marker, and the log is no longer complete.
- When the ring buffer overwrote its oldest events ("entries-in-buffer" below
  "entries-written"), each CPU's part of the log starts at a different time:
  allocation state is checked only once every CPU has shown up.
- The order of lines across CPUs is the order of their timestamps. With a
  global clock that order respects the allocator's order, because of where
  the tracepoints fire (docs/kernel-source-notes.md, section 5):
    * percpu_free_percpu fires under pcpu_lock after the area was released,
      so a later allocation of that area, which needs pcpu_lock, is stamped
      later;
    * percpu_alloc_percpu fires before pcpu_alloc() returns the pointer, so
      every free of that pointer is stamped later;
    * percpu_create_chunk fires before the chunk is linked for allocation,
      percpu_destroy_chunk after it was unlinked, fully free.
  Per-CPU clocks (the default "local" trace clock) may disagree by a little,
  though. A violation that goes away when one line of another CPU, stamped
  at most `window_ns` later, is taken first (with the lines of that CPU
  before it) is not reported: that order is what a small clock skew shows.
- A partial capture (a per_cpu/cpuN/trace file, or a log cut by CPU) lacks
  the other CPUs' events, and they may free, allocate, create and destroy
  between any two lines shown: a finding about areas or chunks is then
  unknown, not a violation (EXPLAINED_BY_OTHER_CPUS, docs/partial-captures.md).
"""

import bisect
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from percpu_mc.traces.events import (
    BufferEntries,
    Columns,
    Event,
    FunctionCall,
    LostEvents,
    OtherEvent,
    ParseError,
    PercpuAlloc,
    PercpuAllocFail,
    PercpuCreateChunk,
    PercpuDestroyChunk,
    PercpuFree,
    ProbeHit,
    Record,
)

# How far apart two CPUs' timestamps may be and still be taken for a skew.
DEFAULT_WINDOW_NS = 100_000

# Stable names of the findings, as the CLI and --json print them.
KINDS = {
    "time-goes-back": "a CPU's timestamps decrease",
    "invalid-request": "size 0 or an alignment that is not a power of two",
    "misaligned": "the offset does not respect the requested alignment",
    "overlap": "an allocation overlaps a live area",
    "double-free": "an area is freed twice",
    "free-unknown": "an area that was never allocated is freed",
    "free-inside-area": "a free names an offset inside a live area",
    "free-in-destroyed-chunk": "a free in a destroyed chunk",
    "alloc-in-destroyed-chunk": "an allocation in a destroyed chunk",
    "alloc-unknown-chunk": "an allocation in a chunk never created (complete logs)",
    "reserved-chunk-mismatch": "a reserved allocation outside the one reserved chunk",
    "destroy-nonempty-chunk": "a chunk with live areas is destroyed",
    "destroy-destroyed-chunk": "a chunk is destroyed twice",
    "destroy-unknown-chunk": "a chunk never created is destroyed (complete logs)",
    "create-live-chunk": "a chunk is created at the address of a live chunk",
    "ptr-mismatch": "ptr disagrees with base_addr and off",
    "bytes-alloc-mismatch": "bytes_alloc is not the boot's fixed multiple of size",
}

# The findings that lines of CPUs missing from a partial capture explain: one
# free, allocation, creation or destruction on another CPU between two lines
# shown removes each. The other kinds rest on one line, on one CPU's clock or
# on a constant of the boot (the pointer offset, bytes_alloc per byte, the one
# reserved chunk), which no other CPU changes: they stay violations.
EXPLAINED_BY_OTHER_CPUS = frozenset(
    {
        "overlap",
        "double-free",
        "free-unknown",
        "free-inside-area",
        "free-in-destroyed-chunk",
        "alloc-in-destroyed-chunk",
        "alloc-unknown-chunk",
        "destroy-nonempty-chunk",
        "destroy-destroyed-chunk",
        "destroy-unknown-chunk",
        "create-live-chunk",
    }
)

# Lines that do not parse kept for the report: enough to show what the file
# is; the rest are only counted (a binary file has thousands).
SHOWN_PARSE_ERRORS = 5

# Kernel addresses on 64-bit kernels sit in the upper half; a hashed pointer
# is 32 bits wide. Only raw 64-bit pointers can be related arithmetically.
KERNEL_HALF = 1 << 63
HASH_LIMIT = 1 << 32
ADDRESS_MASK = (1 << 64) - 1

# The events that change the allocator state the checker tracks.
STATEFUL = (PercpuAlloc, PercpuFree, PercpuCreateChunk, PercpuDestroyChunk)

PERCPU_NAMES = {
    PercpuAlloc: "percpu_alloc_percpu",
    PercpuAllocFail: "percpu_alloc_percpu_fail",
    PercpuFree: "percpu_free_percpu",
    PercpuCreateChunk: "percpu_create_chunk",
    PercpuDestroyChunk: "percpu_destroy_chunk",
}


@dataclass(frozen=True, slots=True)
class Violation:
    line: int
    kind: str  # one of KINDS
    message: str  # why the line is impossible, in kernel terms
    text: str  # the line itself


class Area(NamedTuple):
    """A live allocation: [off, off + size) of its chunk."""

    off: int
    size: int
    ptr: int | None
    line: int


@dataclass(slots=True)
class Chunk:
    """What the log has shown of one chunk since the last gap."""

    base: int
    created: int | None = None  # line of its percpu_create_chunk in the log
    destroyed: int | None = None  # line of its percpu_destroy_chunk
    starts: list[int] = field(default_factory=list)  # sorted live offsets
    areas: dict[int, Area] = field(default_factory=dict)  # live, by offset
    freed: dict[int, int] = field(default_factory=dict)  # offset -> line of its free

    def overlapping(self, off: int, end: int) -> list[Area]:
        """Live areas that intersect [off, end); live areas never intersect
        each other, so only the one before `off` can reach into it. An empty
        range [off, off) intersects nothing, not even an area around `off`."""
        if end <= off:
            return []
        i = bisect.bisect_right(self.starts, off)
        if i and (before := self.areas[self.starts[i - 1]]).off + before.size > off:
            i -= 1
        found = []
        while i < len(self.starts) and self.starts[i] < end:
            found.append(self.areas[self.starts[i]])
            i += 1
        return found

    def add(self, area: Area) -> None:
        """Live areas are disjoint and not empty (see _alloc): each start is
        one area's."""
        bisect.insort(self.starts, area.off)
        self.areas[area.off] = area
        self.freed.pop(area.off, None)

    def remove(self, area: Area) -> None:
        del self.areas[area.off]
        del self.starts[bisect.bisect_left(self.starts, area.off)]


@dataclass(frozen=True)
class PartialView:
    """A log that holds only some CPUs' events, and what that left unknown."""

    seen: tuple[int, ...]  # the CPUs whose lines the log holds
    cpus: int | None  # how many the machine had (the header's #P), if known
    why: str  # how the view was recognised
    unknown: Counter  # kind -> findings that the missing CPUs' lines may explain

    def as_json(self) -> dict:
        """For --json; "cpus" only when the header told it."""
        return {
            "cpus_seen": list(self.seen),
            **({"cpus": self.cpus} if self.cpus else {}),
            "unknown": dict(self.unknown),
        }

    def describe(self) -> str:
        of = f" of {self.cpus}" if self.cpus else ""
        cpus = ",".join(map(str, self.seen)) or "none"
        text = f"partial capture: CPUs {cpus}{of} seen ({self.why}); events of the others unknown"
        if self.unknown:
            kinds = ", ".join(f"{n} {kind}" for kind, n in self.unknown.most_common())
            text += f"; {sum(self.unknown.values())} lines only their events explain ({kinds})"
        return text


@dataclass
class Report:
    """Everything learnt from one log."""

    lines: int = 0
    events: Counter = field(default_factory=Counter)  # event name -> count
    skipped: int = 0  # events of no interest to the allocator
    features: list[str] = field(default_factory=list)  # kernel features the log shows
    violations: list[Violation] = field(default_factory=list)
    parse_errors: list[ParseError] = field(default_factory=list)  # the first SHOWN_PARSE_ERRORS
    parse_error_count: int = 0  # every line that does not parse
    partial: PartialView | None = None  # set when the log lacks some CPUs' events
    no_percpu_event: str | None = None  # why nothing could be checked, when so


class TraceChecker:
    """Feed it a log's records in order, then call finish()."""

    def __init__(
        self, strict: bool = False, window_ns: int = DEFAULT_WINDOW_NS, partial: bool | None = None
    ) -> None:
        self.strict = strict
        self.window_ns = window_ns
        self.partial = partial  # None: tell from the log whether CPUs are missing
        self._entries: BufferEntries | None = None  # the header's counts
        self.report = Report()
        self._pending: deque[Event] = deque()  # events inside the skew window
        self._moved: set[int] = set()  # ids of events already taken early once
        self._last_time: dict[int, Event] = {}  # cpu -> its latest event
        self._chunks: dict[int, Chunk] = {}
        self._complete = strict  # the log holds the allocator's whole history
        self._cpus_to_wait: int | None = None  # overwritten buffer: CPUs not yet seen
        self._first_chunk: int | None = None  # complete logs: the chunk never created
        self._reserved_chunk: int | None = None
        self._ptr_delta: int | None = None  # raw pointers: base_addr + off - ptr
        self._bytes_ratio: PercpuAlloc | None = None  # first alloc with bytes_alloc
        self._features: dict[str, None] = {}  # ordered set
        self._finished = False

    # -- input ---------------------------------------------------------------

    def feed(self, record: Record) -> None:
        report = self.report
        if record.line > report.lines:
            report.lines = record.line
        name = PERCPU_NAMES.get(type(record))
        if name is not None:
            report.events[name] += 1
        elif isinstance(record, Event):
            self._count(record)
        else:
            self._feed_header(record)
            return
        event: Event = record  # type: ignore[assignment]
        cpu = event.cpu
        last = self._last_time.get(cpu)
        if last is not None and event.ts_ns < last.ts_ns:
            self._violate(
                event,
                "time-goes-back",
                f"CPU {cpu} stamped {event.timestamp} after {last.timestamp} "
                f"at line {last.line}: one CPU's ring buffer is written in time order",
            )
        self._last_time[cpu] = event
        if self._cpus_to_wait is not None:
            if last is None:
                self._cpu_appears(event)
            if self._cpus_to_wait is not None:
                return
        if type(event) in SETTLE_CLEAN or isinstance(event, STATEFUL):
            # The skew window: settle what is older than it.
            pending = self._pending
            pending.append(event)
            horizon = event.ts_ns - self.window_ns
            while (oldest := pending[0]).ts_ns < horizon:
                clean = SETTLE_CLEAN.get(type(oldest))
                if clean is None or not clean(self, oldest):
                    self._settle()  # finds it in conflict again, and settles that
                    continue
                pending.popleft()
                if self._moved:
                    self._moved.discard(id(oldest))

    def _feed_header(self, record: Record) -> None:
        """Records other than events."""
        if isinstance(record, LostEvents):
            self._feature("lost events")
            self._flush()
            self._forget()
        elif isinstance(record, ParseError):
            self.report.parse_error_count += 1
            if len(self.report.parse_errors) < SHOWN_PARSE_ERRORS:
                self.report.parse_errors.append(record)
        elif isinstance(record, BufferEntries):
            self._entries = record
            if record.in_buffer < record.written:
                self._feature("ring buffer overwritten")
                self._cpus_to_wait = record.cpus
        elif isinstance(record, Columns):
            self._feature(
                f"{record.irq_info} irq-info columns" if record.irq_info else "irq-info off"
            )
            if record.tgid:
                self._feature("tgid column")

    def finish(self) -> Report:
        """The report; once settled, the same report again."""
        if self._finished:
            return self.report
        self._finished = True
        self._flush()
        if self._cpus_to_wait is not None:
            self._feature(
                f"allocation state not checked: {self._cpus_to_wait} CPUs never "
                "appear in the overwritten buffer"
            )
        report = self.report
        unknown = Counter(v.kind for v in report.violations if v.kind in EXPLAINED_BY_OTHER_CPUS)
        report.partial = self._partial_view(unknown)
        if report.partial is not None:
            report.violations = [
                v for v in report.violations if v.kind not in EXPLAINED_BY_OTHER_CPUS
            ]
            self._feature(report.partial.describe())
        elif unknown and self.partial is None and self._entries is None:
            self._feature(
                "every CPU's events taken as present (for a log of some CPUs "
                "only, --partial takes the others' as unknown)"
            )
        report.no_percpu_event = self._no_percpu_event()
        report.features = list(self._features)
        return report

    def _partial_view(self, unknown: Counter) -> PartialView | None:
        """Does the log lack some CPUs' events? A per_cpu/cpuN/trace file
        prints the same header as the trace file, which counts the entries
        in every CPU's buffer and, as #P, the CPUs online, but only CPU N's
        lines follow. Without a header: a CPU missing below one that shows
        up, and findings (`unknown`) that another CPU's lines would explain."""
        seen = tuple(sorted(self._last_time))
        entries = self._entries
        cpus = entries.cpus if entries is not None else None
        if self.partial is not None:
            return PartialView(seen, cpus, "--partial", unknown) if self.partial else None
        if entries is not None:
            events = sum(self.report.events.values())
            if seen and len(seen) < entries.cpus and events < entries.in_buffer:
                return PartialView(
                    seen,
                    cpus,
                    f"the header counts {entries.in_buffer} entries "
                    f"in the buffers of all CPUs, the file holds {events}",
                    unknown,
                )
            return None
        missing = sorted(set(range(seen[-1] + 1)) - set(seen)) if seen else []
        if missing and unknown:
            return PartialView(seen, None, "no line of CPU " + ",".join(map(str, missing)), unknown)
        return None

    def _no_percpu_event(self) -> str | None:
        """Why a log holds nothing level 1 can check, with the likely cause."""
        events = self.report.events
        if any(events[name] for name in PERCPU_NAMES.values()):
            return None
        total = sum(events.values())
        if not total and self._entries is None and not self._features:
            return (
                "no event and no ftrace header: an empty file, or not the trace file "
                "(/sys/kernel/tracing/trace)"
            )
        if not total:
            return (
                "a header and no event: nothing was traced (tracing off, or the buffer "
                "was cleared before it was copied)"
            )
        name, count = events.most_common(1)[0]
        return (
            f"{total} events, none a percpu tracepoint (the most frequent: {name}, "
            f"{count}): the percpu events were not enabled (echo 1 > "
            "/sys/kernel/tracing/events/percpu/enable, or trace_event=percpu:* on the "
            "kernel command line)"
        )

    def _feature(self, name: str) -> None:
        self._features[name] = None

    def _count(self, event: Event) -> None:
        """Count an event of no percpu type."""
        name = None
        if isinstance(event, OtherEvent):
            name = event.name
            self.report.skipped += 1
        elif isinstance(event, ProbeHit):
            name = event.name
        elif isinstance(event, FunctionCall):
            name = "function"
        self.report.events[name] += 1

    def _cpu_appears(self, event: Event) -> None:
        """Overwritten buffer: a CPU's first line. Its earlier events are
        gone, and so is what they did: allocation state is tracked from the
        first line by which every CPU has appeared."""
        assert self._cpus_to_wait is not None
        self._cpus_to_wait -= 1
        if self._cpus_to_wait == 0:
            self._cpus_to_wait = None
            self._forget()
            self._feature(f"allocation state checked from line {event.line}")

    def _flush(self) -> None:
        while self._pending:
            self._settle()

    def _forget(self) -> None:
        self._chunks.clear()
        self._complete = False
        self._first_chunk = self._reserved_chunk = None

    # -- the skew window -----------------------------------------------------

    def _settle(self) -> None:
        """Apply the oldest pending event, unless a little later line of
        another CPU explains away its violation: then apply that one (and
        its CPU's lines before it) first. Each line moves at most once."""
        pending = self._pending
        event = pending.popleft()
        clean = SETTLE_CLEAN.get(type(event))
        if clean is not None and clean(self, event):
            if self._moved:
                self._moved.discard(id(event))
            return
        if self._conflicts(event):
            for i, later in enumerate(pending):
                if later.ts_ns - event.ts_ns > self.window_ns:
                    break
                if (
                    later.cpu != event.cpu
                    and id(later) not in self._moved
                    and self._explains(event, later)
                ):
                    early = [e for e in list(pending)[: i + 1] if e.cpu == later.cpu]
                    for e in early:
                        pending.remove(e)
                        self._moved.add(id(e))
                    pending.appendleft(event)
                    pending.extendleft(reversed(early))
                    return
        self._moved.discard(id(event))
        self._apply(event)

    def _conflicts(self, event: Event) -> bool:
        """Does `event` contradict the area or chunk state? (The violations
        that another CPU's line could explain away.)"""
        base = event.base_addr  # type: ignore[attr-defined]
        chunk = self._chunks.get(base)
        match event:
            case PercpuAlloc(size=0):
                return False  # changes no state (see _alloc): no order explains it
            case PercpuAlloc(off=off, size=size):
                # A chunk seen first here may be a create of another CPU's.
                return (
                    chunk is None
                    or chunk.destroyed is not None
                    or bool(chunk.overlapping(off, off + size))
                )
            case PercpuFree(off=off):
                # Freeing an area not known to be live may be another CPU's
                # allocation of it, taken too late.
                return chunk is None or off not in chunk.areas
            case PercpuDestroyChunk():
                return chunk is not None and bool(chunk.areas)
            case PercpuCreateChunk():
                return chunk is not None and self._is_live(chunk)
        return False

    @staticmethod
    def _explains(event: Event, later: Event) -> bool:
        """Would `later`, applied first, resolve `event`'s conflict? A free
        before an allocation of the area, an allocation before its free, a
        create before an allocation in the chunk, a destroy before a create."""
        base = event.base_addr  # type: ignore[attr-defined]
        if later.base_addr != base:  # type: ignore[attr-defined]
            return False
        match event:
            case PercpuAlloc(off=off, size=size):
                return (
                    isinstance(later, PercpuCreateChunk)
                    or isinstance(later, PercpuFree)
                    and off - size < later.off < off + size
                )
            case PercpuFree(off=off):
                return isinstance(later, PercpuAlloc) and later.off == off and later.size != 0
            case PercpuDestroyChunk():
                return isinstance(later, PercpuFree)
            case PercpuCreateChunk():
                return isinstance(later, PercpuDestroyChunk)
        return False

    # -- the checks ----------------------------------------------------------

    def _alloc_if_clean(self, event: PercpuAlloc) -> bool:
        """Apply `event` if it does not conflict (see _conflicts). The usual
        allocation, which every check passes, is applied here in full."""
        chunk = self._chunks.get(event.base_addr)  # type: ignore[arg-type]
        if chunk is None or chunk.destroyed is not None:
            return False
        base, off, size, align, ptr = event.base_addr, event.off, event.size, event.align, event.ptr
        starts = chunk.starts
        i = bisect.bisect_right(starts, off)
        if i and (before := chunk.areas[starts[i - 1]]).off + before.size > off:
            i -= 1
        if i < len(starts) and starts[i] < off + size:  # chunk.overlaps(off, off + size)
            return False
        bytes_alloc = event.bytes_alloc
        if (
            size == 0
            or align <= 0
            or align & (align - 1)
            or off % align
            or off < 0
            or event.reserved
            or bytes_alloc is not None
            and (
                (first := self._bytes_ratio) is None
                or bytes_alloc * first.size != first.bytes_alloc * size
            )
            or ptr is None
            or base < KERNEL_HALF  # type: ignore[operator]
            or (base + off - ptr) & ADDRESS_MASK != self._ptr_delta  # type: ignore[operator]
            or chunk.created is None
            and self._complete
        ):
            self._alloc(event, chunk)
            return True
        # An allocation with raw pointers that _alloc would find sound
        # ("raw pointers" is a feature since _ptr_delta was set).
        self._features["v5.19+ field set" if event.call_site is not None else "v4.13 field set"] = (
            None
        )
        bisect.insort(starts, off)
        chunk.areas[off] = Area(off, size, ptr, event.line)
        chunk.freed.pop(off, None)
        return True

    def _free_if_clean(self, event: PercpuFree) -> bool:
        """Apply `event` if it does not conflict (see _conflicts)."""
        chunk = self._chunks.get(event.base_addr)  # type: ignore[arg-type]
        off = event.off
        if chunk is None or (area := chunk.areas.get(off)) is None:
            return False
        base, ptr = event.base_addr, event.ptr
        if (
            ptr is None
            or base < KERNEL_HALF  # type: ignore[operator]
            or (base + off - ptr) & ADDRESS_MASK != self._ptr_delta
        ):  # type: ignore[operator]
            self._check_ptr(event, area)
        del chunk.areas[off]
        del chunk.starts[bisect.bisect_left(chunk.starts, off)]
        chunk.freed[off] = event.line
        return True

    def _violate(self, event: Event, kind: str, message: str) -> None:
        self.report.violations.append(Violation(event.line, kind, message, event.text))

    def _apply(self, event: Event) -> None:
        match event:
            case PercpuAlloc():
                self._alloc(event)
            case PercpuFree():
                self._free(event)
            case PercpuCreateChunk():
                self._create(event)
            case PercpuDestroyChunk():
                self._destroy(event)

    def _alloc(self, event: PercpuAlloc, clean: Chunk | None = None) -> None:
        """`clean`: the event's chunk, live and free at the event's area."""
        base, off, size, align = event.base_addr, event.off, event.size, event.align
        self._features["v5.19+ field set" if event.call_site is not None else "v4.13 field set"] = (
            None
        )
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
            self._features["raw pointers"] = None
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

    def _free(self, event: PercpuFree) -> None:
        base, off = event.base_addr, event.off
        if base is None:
            return
        chunk = self._chunks.get(base)
        area = chunk.areas.get(off) if chunk is not None else None
        self._check_ptr(event, area)
        if area is not None:
            chunk.remove(area)  # type: ignore[union-attr]
            chunk.freed[off] = event.line  # type: ignore[union-attr]
        elif violation := self._free_violation(base, off):
            self._violate(event, *violation)

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
                f"at line {chunk.freed[off]} and not allocated again",
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
    def _is_live(chunk: Chunk) -> bool:
        return chunk.destroyed is None and (chunk.created is not None or bool(chunk.areas))

    def _create(self, event: PercpuCreateChunk) -> None:
        base = event.base_addr
        if base is None:
            return
        chunk = self._chunks.get(base)
        if chunk is not None and self._is_live(chunk):
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


# The events _settle applies at once when they conflict with nothing.
SETTLE_CLEAN = {PercpuAlloc: TraceChecker._alloc_if_clean, PercpuFree: TraceChecker._free_if_clean}


def check_log(
    records: Iterable[Record],
    strict: bool = False,
    window_ns: int = DEFAULT_WINDOW_NS,
    partial: bool | None = None,
) -> Report:
    """Check a whole log, given as its records in order."""
    checker = TraceChecker(strict, window_ns, partial)
    feed = checker.feed
    for record in records:
        feed(record)
    return checker.finish()


def excerpt(text: str, width: int) -> str:
    """`text` as a terminal can show it: at most `width` characters, saying
    how many more there were, each non-printable character escaped."""
    shown: list[str] = []
    used = 0
    for i, char in enumerate(text):
        if not char.isprintable():
            char = char.encode("unicode_escape").decode("ascii")
        used += len(char)
        if used > width:
            return "".join(shown) + f" ... ({len(text) - i} more characters)"
        shown.append(char)
    return "".join(shown)
