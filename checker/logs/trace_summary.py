"""A log summarised for drawing: chunk lives (create to destroy) with what
each holds at the end, allocation and failure rates over time, lost-event
gaps. Its size is bounded whatever the length of the log: rates are kept in
a histogram that coarsens itself, and lists of marks are capped.

It is fed the same records as the level-1 checker (checker/logs/trace_check.py)
and keeps its own, simpler picture: it does not judge, the checker does.
"""

from __future__ import annotations

import bisect
from collections import Counter
from dataclasses import dataclass, field

from percpu_mc.traces.events import (
    Event,
    LostEvents,
    PercpuAlloc,
    PercpuAllocFail,
    PercpuCreateChunk,
    PercpuDestroyChunk,
    PercpuFree,
    Record,
)

PAGE_SIZE = 4096  # the samples' kernels (x86-64); the log does not say
MAX_MARKS = 500  # atomic failures and lost-event gaps drawn on the timeline
MAX_BINS = 20_000  # histogram buckets kept before they are merged tenfold
START_RESOLUTION_NS = 1_000_000
SAMPLE_EVERY = 256  # events between two (line, timestamp) samples


@dataclass
class Histogram:
    """Counts per time bucket; when there are too many buckets the
    resolution grows tenfold, so memory stays bounded."""

    resolution_ns: int = START_RESOLUTION_NS
    counts: Counter = field(default_factory=Counter)

    def add(self, ts_ns: int) -> None:
        self.counts[ts_ns // self.resolution_ns] += 1
        if len(self.counts) > MAX_BINS:
            self.resolution_ns *= 10
            merged: Counter = Counter()
            for bucket, n in self.counts.items():
                merged[bucket // 10] += n
            self.counts = merged

    def rebin(self, start_ns: int, end_ns: int, bins: int) -> list[int]:
        """Counts in `bins` equal intervals of [start_ns, end_ns]."""
        out = [0] * bins
        span = max(end_ns - start_ns, 1)
        for bucket, n in self.counts.items():
            t = bucket * self.resolution_ns
            out[min(max((t - start_ns) * bins // span, 0), bins - 1)] += n
        return out


@dataclass
class ChunkLife:
    """One chunk between its creation (or the start of the log) and its
    destruction (or the end of the log). A base_addr may be reused."""

    base: int
    created: tuple[int, int] | None = None  # (line, ts_ns) of percpu_create_chunk
    destroyed: tuple[int, int] | None = None  # (line, ts_ns) of percpu_destroy_chunk
    gap: int | None = None  # line of the lost-events marker that ended what is known of it
    first_ns: int = 0
    last_ns: int = 0
    allocs: int = 0
    atomic_allocs: int = 0
    reserved: bool = False
    frees: int = 0
    live: dict[int, int] = field(default_factory=dict)  # off -> size at the end
    live_bytes: int = 0
    peak_bytes: int = 0
    extent: int = 0  # highest off + size seen
    touched: set[int] = field(default_factory=set)  # pages that held an area at some point


@dataclass
class Mark:
    line: int
    ts_ns: int
    what: str


@dataclass
class LogSummary:
    first_ns: int | None = None
    last_ns: int = 0
    allocs: Histogram = field(default_factory=Histogram)
    atomic_allocs: Histogram = field(default_factory=Histogram)
    frees: Histogram = field(default_factory=Histogram)
    failures: list[Mark] = field(default_factory=list)
    nr_failures: int = 0
    gaps: list[Mark] = field(default_factory=list)
    nr_gaps: int = 0
    lives: list[ChunkLife] = field(default_factory=list)
    current: dict[int, ChunkLife] = field(default_factory=dict)  # base -> its latest life
    nr_events: int = 0
    sample_lines: list[int] = field(default_factory=list)  # to place a line on the time axis
    sample_ns: list[int] = field(default_factory=list)

    def feed(self, record: Record) -> None:
        if isinstance(record, Event):
            ts = record.ts_ns
            if self.first_ns is None:
                self.first_ns = ts
            if ts > self.last_ns:
                self.last_ns = ts
            if self.nr_events % SAMPLE_EVERY == 0:
                self.sample_lines.append(record.line)
                self.sample_ns.append(ts)
            self.nr_events += 1
            match record:
                case PercpuAlloc():
                    self._alloc(record)
                case PercpuFree():
                    self._free(record)
                case PercpuAllocFail():
                    self.nr_failures += 1
                    if len(self.failures) < MAX_MARKS:
                        self.failures.append(
                            Mark(
                                record.line,
                                ts,
                                (
                                    f"{'atomic' if record.is_atomic else 'GFP_KERNEL'}"
                                    f"{' reserved' if record.reserved else ''} size={record.size} "
                                    f"align={record.align} failed"
                                ),
                            )
                        )
                case PercpuCreateChunk(base_addr=base) if base is not None:
                    life = self._new_life(base, ts)
                    life.created = (record.line, ts)
                case PercpuDestroyChunk(base_addr=base) if base is not None:
                    life = self.current.get(base) or self._new_life(base, ts)
                    life.destroyed = (record.line, ts)
                    life.last_ns = ts
                    del self.current[base]
        elif isinstance(record, LostEvents):
            self.nr_gaps += 1
            # what was live before a gap is no longer known: the lives end here
            for life in self.current.values():
                life.last_ns, life.gap = self.last_ns, record.line
            self.current.clear()
            if len(self.gaps) < MAX_MARKS:
                count = "an unknown number of" if record.count is None else str(record.count)
                self.gaps.append(
                    Mark(record.line, self.last_ns, f"CPU {record.cpu} lost {count} events")
                )

    def _new_life(self, base: int, ts: int) -> ChunkLife:
        old = self.current.get(base)
        if old is not None:  # created again without a destroy: a violation the checker reports
            old.last_ns = ts
        life = self.current[base] = ChunkLife(base, first_ns=ts, last_ns=ts)
        self.lives.append(life)
        return life

    def _life(self, event: PercpuAlloc | PercpuFree, rate: Histogram) -> ChunkLife | None:
        """Count the event in `rate`; the life of its chunk, touched now."""
        ts = event.ts_ns
        rate.add(ts)
        if event.base_addr is None:
            return None
        life = self.current.get(event.base_addr)
        if life is None:
            life = self._new_life(event.base_addr, ts)
        life.last_ns = ts
        return life

    def _alloc(self, event: PercpuAlloc) -> None:
        if event.is_atomic:
            self.atomic_allocs.add(event.ts_ns)
        life = self._life(event, self.allocs)
        if life is None:
            return
        life.allocs += 1
        life.atomic_allocs += event.is_atomic
        life.reserved |= event.reserved
        life.live_bytes += event.size - life.live.get(event.off, 0)
        life.live[event.off] = event.size
        life.peak_bytes = max(life.peak_bytes, life.live_bytes)
        life.extent = max(life.extent, event.off + event.size)
        life.touched.update(
            range(event.off // PAGE_SIZE, (event.off + max(event.size, 1) - 1) // PAGE_SIZE + 1)
        )

    def _free(self, event: PercpuFree) -> None:
        life = self._life(event, self.frees)
        if life is not None:
            life.frees += 1
            life.live_bytes -= life.live.pop(event.off, 0)

    def line_ts(self, line: int) -> int:
        """The timestamp of `line`, to within SAMPLE_EVERY events."""
        i = bisect.bisect_right(self.sample_lines, line)
        return self.sample_ns[i - 1] if i else (self.sample_ns[0] if self.sample_ns else 0)
