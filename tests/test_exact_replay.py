"""Exact replay at the kernel's scale (checker/logs/exact.py): the real
captures conform with every non-atomic allocation in a chunk created within
the log predicted; an allocation moved to another free, aligned offset of
its chunk for its whole life is reported at its line as `placement`, while
level 1 alone still finds the log consistent."""

from __future__ import annotations

import dataclasses
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from percpu_mc.checker.logs.exact_pass import ExactPass, exact_replay
from percpu_mc.checker.logs.exact_unit import parse_embedded
from percpu_mc.checker.logs.trace_check import check_log
from percpu_mc.model import bitmap_chunk as bc
from percpu_mc.traces.events import (
    PercpuAlloc,
    PercpuCreateChunk,
    PercpuDestroyChunk,
    PercpuFree,
    Record,
)
from percpu_mc.traces.input import open_log
from percpu_mc.traces.parser import LogParser

SAMPLES = Path(__file__).parent / "trace_samples"
# ../shared/samples beside the checkout (or beside the worktrees' folder)
SHARED = [p / "shared" / "samples" / "debian-6.1" for p in Path(__file__).resolve().parents[2:4]]
CAPTURES = [SAMPLES / "boot.trace", SAMPLES / "mix.trace.gz"]
# every shared capture, but each content once (the shipped ones are copies)
CAPTURES += [
    p
    for d in SHARED
    if d.is_dir()
    for p in sorted(d.glob("*.trace*"))
    if all(p.read_bytes() != c.read_bytes() for c in CAPTURES)
]
UNIT = 1 << 20  # the captures' boot line: u1048576


@cache
def records(path: Path) -> tuple[Record, ...]:
    with open_log(str(path)) as f:
        return tuple(LogParser().records(f))


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_real_captures_conform_exactly(path: Path) -> None:
    result = exact_replay(records(path), unit_size=UNIT)
    assert result.findings == []
    # every non-atomic allocation in a chunk created within the log: predicted
    created: set[int] = set()
    wanted, in_created = [], []
    for r in records(path):
        if isinstance(r, PercpuCreateChunk):
            created.add(r.base_addr)
        elif isinstance(r, PercpuDestroyChunk):
            created.discard(r.base_addr)
        elif isinstance(r, PercpuAlloc) and r.base_addr in created:
            in_created.append(r.line)
            if not r.is_atomic:
                wanted.append(r.line)
    undecided = {line for lines in result.not_decided.values() for line in lines}
    assert result.not_decided_count == len(undecided)  # every line kept: few
    assert not undecided & set(wanted)
    assert result.checked == len(set(in_created) - undecided)
    if path.name == "mix.trace.gz":
        assert len(wanted) > 20_000
        assert result.not_decided_count < 500  # the first and reserved chunks, atomic ones


def test_unit_size_inferred_from_chunk_strides() -> None:
    result = exact_replay(records(SAMPLES / "mix.trace.gz")[:12_000])
    assert result.unit_size == UNIT
    assert "0x200000 bytes apart" in result.notes[0]


def test_boot_layout_line() -> None:
    line = "[    0.052] percpu: Embedded 62 pages/cpu s217088 r8192 d28672 u1048576\n"
    layout = parse_embedded(line)
    assert layout is not None and (layout.static_size, layout.dyn_size) == (217088, 28672)
    assert exact_replay([], layout=layout).unit_size == UNIT
    assert parse_embedded("no such line") is None


@dataclasses.dataclass(frozen=True)
class Life:
    """A traced area: allocated at index `born` of the records, freed at `dies`."""

    born: int
    dies: int | None
    base: int
    off: int
    size: int


@cache
def lives(prefix: int) -> tuple[list[Life], dict[int, int]]:
    """The areas of created chunks in the first `prefix` records of mix, and
    each chunk's creation index."""
    recs = records(SAMPLES / "mix.trace.gz")[:prefix]
    created: dict[int, int] = {}
    live: dict[tuple[int, int], int] = {}
    out: list[Life] = []
    for i, r in enumerate(recs):
        if isinstance(r, PercpuCreateChunk):
            created[r.base_addr] = i
        elif isinstance(r, PercpuAlloc) and r.base_addr in created:
            live[(r.base_addr, r.off)] = len(out)
            out.append(Life(i, None, r.base_addr, r.off, r.size))
        elif isinstance(r, PercpuFree) and (k := live.pop((r.base_addr, r.off), None)) is not None:
            out[k] = dataclasses.replace(out[k], dies=i)
    return out, created


def unraced(recs: tuple[Record, ...], index: int) -> bool:
    """No other task touched the allocation's chunk since the task's
    previous percpu event (else the replay may say "not decided (race)")."""
    r = recs[index]
    j = index - 1
    while j >= 0:
        o = recs[j]
        if isinstance(o, PercpuAlloc | PercpuFree | PercpuCreateChunk | PercpuDestroyChunk):
            if o.pid == r.pid:
                return True
            if getattr(o, "base_addr", None) == r.base_addr:
                return False
        j -= 1
    return True


def moved(recs: tuple[Record, ...], life: Life, to: int) -> list[Record]:
    """The log with `life`'s allocation and free at offset `to`."""
    out = list(recs)
    for i in (life.born, life.dies):
        if i is None:
            continue
        r = out[i]
        delta = to - r.off
        ptr = None if r.ptr is None else r.ptr + delta
        text = r.text.replace(f"off={r.off} ", f"off={to} ")
        if r.ptr is not None:
            text = text.replace(f"ptr={r.ptr:016x}", f"ptr={ptr:016x}")
        out[i] = dataclasses.replace(r, off=to, ptr=ptr, text=text)
    return out


PREFIX = 6_000  # records of mix: its first created chunk's first thousands of areas


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_moved_allocation_is_a_placement_finding(data: st.DataObject) -> None:
    recs = records(SAMPLES / "mix.trace.gz")[:PREFIX]
    areas, _ = lives(PREFIX)
    choices = [
        a for a in areas if not recs[a.born].is_atomic and unraced(recs, a.born) and a.size <= 4096
    ]
    life = data.draw(st.sampled_from(choices))
    end = life.dies if life.dies is not None else len(recs)
    align = max(recs[life.born].align, 4)
    busy = sorted(
        (a.off, a.off + a.size)
        for a in areas
        if a.base == life.base and a != life and a.born < end and (a.dies or len(recs)) > life.born
    )
    slots = []  # aligned offsets free for the whole life, from the gaps between busy areas
    gap_start = 0
    for s, e in [*busy, (UNIT, UNIT)]:
        off = -(-gap_start // align) * align
        while off + life.size <= s and len(slots) < 4096:
            if off != life.off:
                slots.append(off)
            off += align
        gap_start = max(gap_start, e)
    to = data.draw(st.sampled_from(slots))
    log = moved(recs, life, to)
    assert check_log(recs).violations == []
    assert check_log(log).violations == []  # level 1 alone: consistent
    result = exact_replay(log, unit_size=UNIT)
    assert result.findings, "the moved allocation went unreported"
    first = result.findings[0]
    assert (first.line, first.kind) == (recs[life.born].line, "placement")
    assert f"offset {life.off}" in first.message.split("choose")[1]


def test_the_capture_shows_v6_1s_stale_chunk_hint() -> None:
    """Line 779 of mix: Debian's 6.1 put 1008 bytes at offset 14464 of a chunk
    created within the log, though offset 6664 was free and aligned (plain
    first fit).  The v6.1 code predicts 14464; the same code with the free
    path handing the freed run's own end to the chunk's hint (V6_1_FIXED)
    predicts 6664: the kernel runs the code as transcribed."""
    recs = records(SAMPLES / "mix.trace.gz")[:800]
    assert exact_replay(recs, unit_size=UNIT, version=bc.V6_1).findings == []
    (finding,) = exact_replay(recs, unit_size=UNIT, version=bc.V6_1_FIXED).findings
    assert (finding.line, finding.kind) == (779, "placement")
    assert "choose offset 6664" in finding.message


NEW = 0xFFFFEF47BFA00000  # a second chunk's base, 2 MiB below BASE
BASE = 0xFFFFEF47BFC00000


def lines(*body: str, entries: str = "9/9") -> tuple[Record, ...]:
    """Records of a log with the captures' header and `body`'s lines, each
    "TASK-PID FLAGS TS: event: fields" (on CPU 0, or "CPU N: ..." for
    another) or a line as it is ("CPU:0 [LOST 5 EVENTS]")."""
    head = f"# tracer: nop\n#\n# entries-in-buffer/entries-written: {entries}   #P:2\n#\n"
    text = [head]
    for line in body:
        cpu = 0
        if line.startswith("CPU "):
            cpu, line = int(line[4]), line[7:]
        if line.startswith("CPU:"):
            text.append(line + "\n")
            continue
        task, flags, rest = line.split(" ", 2)
        text.append(f"{task:>20} [{cpu:03d}] {flags} {rest}\n")
    return tuple(LogParser().records("".join(text).splitlines(keepends=True)))


def alloc(ts: str, base: int, off: int, atomic: int = 0, task: str = "modprobe-7") -> str:
    return (
        f"{task} ..... {ts}: percpu_alloc_percpu: call_site=f+0x1/0x2 reserved=0 "
        f"is_atomic={atomic} size=8 align=8 base_addr={base:016x} off={off} "
        f"ptr={base + off:016x} bytes_alloc=16 gfp_flags=GFP_KERNEL"
    )


def create(ts: str, base: int, task: str = "kworker/0:1-17") -> str:
    return f"{task} ..... {ts}: percpu_create_chunk: base_addr={base:016x}"


POPULATE = "kworker/0:1-17 ..... {}: pcpu_populate_chunk <-pcpu_balance_workfn"


def kinds(recs: tuple[Record, ...]) -> list[tuple[int, str]]:
    return [(f.line, f.kind) for f in exact_replay(recs, unit_size=UNIT).findings]


def test_atomic_allocation_on_a_page_known_unpopulated() -> None:
    """With pcpu_populate_chunk() traced, a chunk created after the last
    population call has no page populated: an atomic allocation there is a
    finding; after a population call, or with population untraced, the
    page's population is unknown and the line is not decided."""
    traced = lines(POPULATE.format("1.0"), create("1.1", BASE), alloc("1.2", BASE, 0, atomic=1))
    assert kinds(traced) == [(7, "atomic-unpopulated")]
    since = lines(
        POPULATE.format("1.0"),
        create("1.1", BASE),
        POPULATE.format("1.15"),
        alloc("1.2", BASE, 0, atomic=1),
    )
    untraced = lines(create("1.1", BASE), alloc("1.2", BASE, 0, atomic=1))
    for recs in (since, untraced):
        result = exact_replay(recs, unit_size=UNIT)
        assert result.findings == [] and result.undecided_counts == {"population unknown": 1}
    # a non-atomic allocation populates its pages itself: no finding
    assert kinds(lines(POPULATE.format("1.0"), create("1.1", BASE), alloc("1.2", BASE, 0))) == []


def test_chunk_created_by_an_allocating_task_while_another_fitted() -> None:
    """pcpu_alloc() creates a chunk only when no chunk fits its request; the
    balance work (a kworker) creates them ahead of need."""
    first = [create("1.0", BASE), alloc("1.1", BASE, 0)]
    by_task = lines(*first, create("1.2", NEW, "modprobe-7"), alloc("1.3", NEW, 0))
    ((line, kind),) = kinds(by_task)
    assert (line, kind) == (7, "create-while-fitting")
    assert "fitted it at offset 8" in exact_replay(by_task, unit_size=UNIT).findings[0].message
    by_kworker = lines(*first, create("1.2", NEW), alloc("1.3", NEW, 0))
    assert kinds(by_kworker) == []
    # another task freed in the chunk after this task's scan: not judged
    raced = lines(
        create("1.0", BASE),
        alloc("1.05", BASE, 0, task="bash-9"),
        alloc("1.1", BASE, 8),
        f"bash-9 ..... 1.15: percpu_free_percpu: base_addr={BASE:016x} off=0 ptr={BASE:016x}",
        create("1.2", NEW, "modprobe-7"),
        alloc("1.3", NEW, 0),
    )
    assert kinds(raced) == []


def summary(result: object) -> tuple:
    return (
        result.unit_size,
        result.checked,
        result.undecided_counts,
        [(f.line, f.kind, f.message) for f in result.findings],
    )


def test_unit_size_inferred_in_one_reading_or_replayed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a unit size the replay holds the records from the first
    created chunk until the stride of two live chunks gives it; when the
    holding overflows, or the log ends with another size inferred (an area
    past the stride's unit), it replays the log at the final size: the
    result is the run with that size given."""
    recs = records(SAMPLES / "mix.trace.gz")[:12_000]
    assert summary(exact_replay(recs)) == summary(exact_replay(recs, unit_size=UNIT))
    monkeypatch.setattr(ExactPass, "HELD_RECORDS", 100)
    assert summary(exact_replay(recs)) == summary(exact_replay(recs, unit_size=UNIT))
    monkeypatch.undo()
    past = lines(create("1.0", BASE), create("1.1", NEW), alloc("1.2", BASE, UNIT))
    wide = exact_replay(past)
    assert wide.unit_size == 2 * UNIT and "a guess" in wide.notes[0]
    assert summary(wide) == summary(exact_replay(past, unit_size=2 * UNIT))


def test_lost_events_and_an_overwritten_buffer_leave_chunks_undecided() -> None:
    """Across lost events a followed chunk may have changed unseen; in an
    overwritten buffer another CPU's events in a new chunk may be gone until
    every CPU has shown up: its placements are not decided, never findings
    (the kernel puts the second area at 8, these logs show 64)."""
    lost = lines(
        create("1.0", BASE), alloc("1.1", BASE, 0), "CPU:0 [LOST 5 EVENTS]", alloc("1.2", BASE, 64)
    )
    result = exact_replay(lost, unit_size=UNIT)
    assert result.findings == [] and result.undecided_counts == {"prior state unknown": 1}
    assert any("events were lost from line 7" in note for note in result.notes)
    overwritten = [create("1.0", BASE), alloc("1.1", BASE, 0), alloc("1.2", BASE, 64)]
    result = exact_replay(lines(*overwritten, entries="5/9"), unit_size=UNIT)
    assert result.findings == [] and result.undecided_counts == {"prior state unknown": 2}
    shown = exact_replay(
        lines(f"CPU 1: {alloc('0.9', NEW, 0)}", *overwritten, entries="5/9"), unit_size=UNIT
    )
    assert [(f.line, f.kind) for f in shown.findings] == [(8, "placement")]
