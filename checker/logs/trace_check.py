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

from collections import Counter
from collections.abc import Iterable

from percpu_mc.checker.logs.findings import (
    EXPLAINED_BY_OTHER_CPUS,
    KEPT_PER_KIND,
    SHOWN_PARSE_ERRORS,
    PartialView,
    Report,
    Violation,
)
from percpu_mc.checker.logs.shadow import Shadow
from percpu_mc.checker.logs.skew import MAX_PENDING, SkewWindow
from percpu_mc.traces.events import (
    BufferEntries,
    Columns,
    CutLine,
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

# The events that change the allocator state the checker tracks.
STATEFUL = (PercpuAlloc, PercpuFree, PercpuCreateChunk, PercpuDestroyChunk)

PERCPU_NAMES = {
    PercpuAlloc: "percpu_alloc_percpu",
    PercpuAllocFail: "percpu_alloc_percpu_fail",
    PercpuFree: "percpu_free_percpu",
    PercpuCreateChunk: "percpu_create_chunk",
    PercpuDestroyChunk: "percpu_destroy_chunk",
}


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
        self._pending = SkewWindow(window_ns)  # events inside the skew window
        self._found: Counter = Counter()  # kind -> findings so far
        self._last_time: dict[int, Event] = {}  # cpu -> its latest event
        self._shadow = Shadow(strict, self._violate, self.report.notes.append, self._feature)
        self._cpus_to_wait: int | None = None  # overwritten buffer: CPUs not yet seen
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
                self._shadow.before_state(event)
                return
        if isinstance(event, STATEFUL):
            # The skew window: settle what is older than it.  This line is
            # more than window_ns later than those, so it explains none of
            # them: they settle before it joins the window.
            pending = self._pending
            horizon = event.ts_ns - self.window_ns
            while pending and pending.oldest().ts_ns < horizon:
                self._settle()
            if not pending and (clean := self._shadow.classify(event)) is not None:
                # Nothing waits before it and it contradicts nothing: no
                # line is taken early in front of it, so the window would
                # apply it as it is now.
                self._shadow.apply(event, clean)
                return
            pending.append(event)
            while pending.oldest().ts_ns < horizon or len(pending) > MAX_PENDING:
                self._settle()

    def _feed_header(self, record: Record) -> None:
        """Records other than events."""
        if isinstance(record, LostEvents):
            self._feature("lost events")
            self._flush()
            self._shadow.forget(f"events were lost at line {record.line} (LOST EVENTS)")
        elif isinstance(record, CutLine):
            self.report.warnings.append(
                f"line {record.line} is cut: the file ends inside it, with no newline "
                "(a capture stopped mid-line); it is not read, the lines before it are"
            )
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
        unknown = Counter(
            {kind: n for kind, n in self._found.items() if kind in EXPLAINED_BY_OTHER_CPUS}
        )
        report.partial = self._partial_view(unknown)
        if report.partial is not None:
            report.violations = [
                v for v in report.violations if v.kind not in EXPLAINED_BY_OTHER_CPUS
            ]
            report.notes = [n for n in report.notes if n.kind not in EXPLAINED_BY_OTHER_CPUS]
            for kind in EXPLAINED_BY_OTHER_CPUS:
                report.left_out.pop(kind, None)
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
            self._shadow.forget(
                f"the ring buffer overwrote the CPUs' events before line {event.line} "
                "(entries-in-buffer below entries-written)"
            )
            self._feature(f"allocation state checked from line {event.line}")

    def _flush(self) -> None:
        while self._pending:
            self._settle()

    # -- the skew window -----------------------------------------------------

    def _settle(self) -> None:
        """Apply the oldest pending event, unless a little later line of
        another CPU explains away its violation: then take that one (and
        its CPU's lines before it) first. Each line moves at most once."""
        pending, shadow = self._pending, self._shadow
        event = pending.oldest()
        clean = shadow.classify(event)
        if clean is None and shadow.conflicts(event):
            if (later := pending.explainer(event)) is not None:
                pending.take_early(event, later)
                return
        pending.pop()
        shadow.apply(event, clean)

    def _violate(self, event: Event, kind: str, message: str) -> None:
        found = self._found
        found[kind] += 1
        if found[kind] > KEPT_PER_KIND:
            self.report.left_out[kind] += 1
        else:
            self.report.violations.append(Violation(event.line, kind, message, event.text))


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
