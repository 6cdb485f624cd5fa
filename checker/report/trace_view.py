"""A checked log as pictures are drawn from it: a timeline (allocation
rates, chunk lives, atomic failures, lost-event gaps, violations) and a
chunk map (each chunk life as a row of pages, shaded by how much of each is
allocated at the end of the log). Sizes are capped: the page is a summary,
not a dump of the log."""

from __future__ import annotations

from dataclasses import dataclass

from percpu_mc.checker.logs.findings import KINDS, Report
from percpu_mc.checker.logs.trace_summary import PAGE_SIZE, ChunkLife, LogSummary

TIMELINE_WIDTH = 900  # px of the time axis
RATE_BINS = 150
MAX_MAP_BOXES = 64  # boxes per chunk row; wider chunks group pages per box
MAX_LIVES = 60  # chunk lives drawn (the rest counted)
MAX_VIOLATIONS = 100  # violations listed and marked (the rest counted)


@dataclass(frozen=True)
class Bar:
    x: float
    width: float
    height: float  # all allocations, px
    atomic_height: float
    rate: float  # allocations per second
    atomic_rate: float


@dataclass(frozen=True)
class Tick:
    x: float
    line: int
    seconds: float
    what: str


@dataclass(frozen=True)
class LifeRow:
    label: str
    x: float
    width: float
    created: str  # "line 123 at 1.234567 s", or "before the log"
    destroyed: str  # likewise, or "live at the end", or where events were lost
    end: str  # "destroyed", "lost events" or "live"
    allocs: int
    atomic_allocs: int
    frees: int
    live_areas: int
    live_bytes: int
    peak_bytes: int
    pages: int
    pages_per_box: int
    boxes: tuple[tuple[float, bool], ...]  # per box: fraction allocated at the end, ever used
    role: str


@dataclass(frozen=True)
class FileView:
    path: str
    format: str
    lines: int
    verdict: str
    events: tuple[tuple[str, int], ...]
    features: tuple[str, ...]
    seconds: tuple[float, float]
    axis: tuple[Tick, ...]
    bars: tuple[Bar, ...]
    max_rate: float
    lives: tuple[LifeRow, ...]
    more_lives: int
    failures: tuple[Tick, ...]
    nr_failures: int
    gaps: tuple[Tick, ...]
    nr_gaps: int
    violations: tuple[Tick, ...]
    violation_rows: tuple[tuple[int, str, str, str], ...]  # line, kind, meaning, message
    nr_violations: int
    parse_errors: tuple[tuple[int, str], ...]
    error: str | None


def _seconds(ns: int) -> float:
    return ns / 1e9


def _boxes(life: ChunkLife) -> tuple[int, int, tuple[tuple[float, bool], ...]]:
    pages = max(1, -(-life.extent // PAGE_SIZE))
    per_box = -(-pages // MAX_MAP_BOXES)
    nboxes = -(-pages // per_box)
    span = per_box * PAGE_SIZE
    used = [0] * nboxes
    for off, size in life.live.items():
        end = off + size
        while off < end:
            b = off // span
            stop = min(end, (b + 1) * span)
            used[b] += stop - off
            off = stop
    touched = [False] * nboxes
    for page in life.touched:
        touched[page // per_box] = True
    return pages, per_box, tuple((min(u / span, 1.0), t) for u, t in zip(used, touched))


def _role(life: ChunkLife) -> str:
    if life.reserved:
        return "reserved chunk"
    if life.created is None:
        return "first chunk, or created before the log"
    return "dynamic chunk"


def _when(mark: tuple[int, int] | None, absent: str) -> str:
    return absent if mark is None else f"line {mark[0]} at {_seconds(mark[1]):.6f} s"


def file_view(
    path: str,
    fmt: str,
    report: Report,
    summary: LogSummary,
    verdict: str,
    error: str | None,
    features: list[str],
) -> FileView:
    """`features`: the kernel features and any level-2 notes."""
    start = summary.first_ns or 0
    end = max(summary.last_ns, start + 1)
    span = end - start

    def x(ts: int) -> float:
        return round((ts - start) * TIMELINE_WIDTH / span, 1)

    def ticks(marks: list) -> tuple[Tick, ...]:
        # a gap before the first event is drawn at the start
        return tuple(Tick(x(t := max(m.ts_ns, start)), m.line, _seconds(t), m.what) for m in marks)

    allocs = summary.allocs.rebin(start, end, RATE_BINS)
    atomic = summary.atomic_allocs.rebin(start, end, RATE_BINS)
    bin_s = _seconds(span) / RATE_BINS
    max_rate = max(allocs) / bin_s if any(allocs) else 0.0
    width = TIMELINE_WIDTH / RATE_BINS
    bars = tuple(
        Bar(
            round(i * width, 1),
            round(width, 1),
            round(60 * n / bin_s / max_rate, 1) if max_rate else 0.0,
            round(60 * a / bin_s / max_rate, 1) if max_rate else 0.0,
            n / bin_s,
            a / bin_s,
        )
        for i, (n, a) in enumerate(zip(allocs, atomic))
        if n
    )
    axis = tuple(
        Tick(round(i * TIMELINE_WIDTH / 5, 1), 0, _seconds(start + span * i // 5), "")
        for i in range(6)
    )

    lives = []
    for life in summary.lives[:MAX_LIVES]:
        pages, per_box, boxes = _boxes(life)
        last = summary.last_ns if summary.current.get(life.base) is life else life.last_ns
        lives.append(
            LifeRow(
                f"{life.base:#x}",
                x(life.first_ns),
                max(x(last) - x(life.first_ns), 2.0),
                _when(life.created, "before the log"),
                _when(
                    life.destroyed,
                    "live at the end"
                    if life.gap is None
                    else f"unknown: events lost at line {life.gap}",
                ),
                "destroyed" if life.destroyed else "lost events" if life.gap else "live",
                life.allocs,
                life.atomic_allocs,
                life.frees,
                len(life.live),
                life.live_bytes,
                life.peak_bytes,
                pages,
                per_box,
                boxes,
                _role(life),
            )
        )

    shown = report.violations[:MAX_VIOLATIONS]
    violations = tuple(
        Tick(x(ts := summary.line_ts(v.line)), v.line, _seconds(ts), v.kind) for v in shown
    )
    rows = tuple((v.line, v.kind, KINDS.get(v.kind, ""), v.message) for v in shown)
    errors = tuple((e.line, e.message) for e in report.parse_errors[:MAX_VIOLATIONS])
    return FileView(
        path,
        fmt,
        report.lines,
        verdict,
        tuple(sorted(report.events.items(), key=str)),
        tuple(features),
        (_seconds(start), _seconds(end)),
        axis,
        bars,
        max_rate,
        tuple(lives),
        max(0, len(summary.lives) - MAX_LIVES),
        ticks(summary.failures),
        summary.nr_failures,
        ticks(summary.gaps),
        summary.nr_gaps,
        violations,
        rows,
        len(report.violations),
        errors,
        error,
    )
