"""Level-1 checks: each violation kind is found on a log built to show it,
never on the real captures, and hypothesis-generated logs of a correct
allocator check clean in every format, while each kind of damage to them
(dropped, duplicated, reordered, truncated lines) gets the verdict it
deserves."""

import json
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from percpu_mc.checker.cli.check_trace import main
from percpu_mc.checker.logs.findings import KINDS, Report
from percpu_mc.checker.logs.trace_check import check_log
from percpu_mc.traces.input import open_log
from percpu_mc.traces.parser import LogParser

SAMPLES = Path(__file__).parent / "trace_samples"
SETTINGS = settings(
    max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)

FIRST_CHUNK = 0xFFFF8CABFDC37000
RESERVED_CHUNK = 0xFFFF8CABFDC35000
CHUNK_BASES = [0xFFFFEF47BFC00000 - i * 0x200000 for i in range(3)]
PTR_DELTA = 0xFFFF8CABFDC00000  # base_addr + off - ptr, one constant per boot
CHUNK_BYTES = 4096  # scaled down: only the first-fit search below cares


def check(text: str, strict: bool = False, window_ns: int = 100_000) -> Report:
    """Level 1 on a merged capture: the damaged logs below, all on one CPU,
    would otherwise look like a per_cpu file (tests/test_partial_capture.py)."""
    return check_log(
        LogParser().records(text.splitlines(keepends=True)), strict, window_ns, partial=False
    )


def kinds(report: Report) -> list[tuple[str, int]]:
    return [(v.kind, v.line) for v in report.violations]


# -- hand-made lines ----------------------------------------------------------


def ftrace(cpu: int, ts: str, event: str) -> str:
    return f"     kworker/{cpu}:1-17      [{cpu:03d}] d..1. {ts:>12}: {event}\n"


def alloc(
    off: int,
    size: int = 8,
    align: int = 8,
    base: int = FIRST_CHUNK,
    cpu: int = 0,
    ts: str = "1.000000",
    reserved: int = 0,
    bytes_alloc: int | None = None,
    ptr: int | None = None,
) -> str:
    ptr = base + off - PTR_DELTA if ptr is None else ptr
    return ftrace(
        cpu,
        ts,
        f"percpu_alloc_percpu: call_site=f+0x1/0x2 reserved={reserved} "
        f"is_atomic=0 size={size} align={align} base_addr={base:016x} "
        f"off={off} ptr={ptr:016x} bytes_alloc={bytes_alloc or size * 4} "
        "gfp_flags=GFP_KERNEL",
    )


def free(
    off: int, base: int = FIRST_CHUNK, cpu: int = 0, ts: str = "1.000000", ptr: int | None = None
) -> str:
    ptr = base + off - PTR_DELTA if ptr is None else ptr
    return ftrace(cpu, ts, f"percpu_free_percpu: base_addr={base:016x} off={off} ptr={ptr:016x}")


def create(base: int, cpu: int = 0, ts: str = "1.000000") -> str:
    return ftrace(cpu, ts, f"percpu_create_chunk: base_addr={base:016x}")


def destroy(base: int, cpu: int = 0, ts: str = "1.000000") -> str:
    return ftrace(cpu, ts, f"percpu_destroy_chunk: base_addr={base:016x}")


C = CHUNK_BASES[0]

VIOLATING_LOGS = {
    "time-goes-back": [alloc(0, ts="2.000000"), alloc(8, ts="1.999999")],
    "invalid-request": [alloc(0, align=12)],
    "misaligned": [alloc(4, align=8)],
    "overlap": [alloc(0, size=16), alloc(8)],
    "double-free": [alloc(0), free(0), free(0)],
    "free-unknown": [create(C), free(64, base=C)],
    "free-inside-area": [alloc(0, size=32), free(8)],
    "free-in-destroyed-chunk": [create(C), destroy(C), free(0, base=C)],
    "alloc-in-destroyed-chunk": [create(C), destroy(C), alloc(0, base=C)],
    "alloc-unknown-chunk": [alloc(0), alloc(0, base=C)],
    "reserved-chunk-mismatch": [create(C), alloc(0, base=C, reserved=1)],
    "destroy-nonempty-chunk": [create(C), alloc(0, base=C), destroy(C)],
    "destroy-destroyed-chunk": [create(C), destroy(C), destroy(C)],
    "destroy-unknown-chunk": [destroy(C)],
    "create-live-chunk": [create(C), create(C)],
    "ptr-mismatch": [alloc(0), alloc(8, ptr=0x1234)],
    "bytes-alloc-mismatch": [alloc(0, size=8), alloc(8, size=8, bytes_alloc=40)],
}
STRICT_ONLY = {"alloc-unknown-chunk", "destroy-unknown-chunk"}


def test_every_kind_has_a_log() -> None:
    assert VIOLATING_LOGS.keys() == KINDS.keys()


@pytest.mark.parametrize("kind", sorted(VIOLATING_LOGS))
def test_each_kind_is_found(kind: str) -> None:
    """The last line of each log is impossible, for the reason named."""
    lines = VIOLATING_LOGS[kind]
    report = check("".join(lines), strict=kind in STRICT_ONLY)
    assert kinds(report) == [(kind, len(lines))]
    assert report.violations[0].text == lines[-1].rstrip("\n")
    if kind in STRICT_ONLY:
        assert check("".join(lines)).violations == []


def test_unknown_history_is_not_an_error_unless_strict() -> None:
    """A log may start long after boot."""
    log = free(0) + alloc(0, base=C) + destroy(CHUNK_BASES[1]) + free(8, base=C)
    assert check(log).violations == []
    assert {kind for kind, _ in kinds(check(log, strict=True))} == {
        "free-unknown",
        "destroy-unknown-chunk",
    }


def test_lost_events_forget_state() -> None:
    """What happened in a gap is unknown: a free there explains a later
    allocation of the same area, an allocation there a later free."""
    log = alloc(0) + free(8, base=C) + "CPU:0 [LOST 3 EVENTS]\n" + alloc(0) + free(8, base=C)
    assert check(log).violations == []
    assert check(log.replace("CPU:0 [LOST 3 EVENTS]\n", "")).violations != []


def test_overwritten_buffer_checks_from_the_last_cpu_to_appear() -> None:
    header = "# entries-in-buffer/entries-written: 4/9   #P:2\n"
    # CPU 1's frees before its first line are gone; they may have freed 0.
    log = (
        header
        + alloc(0, cpu=0, ts="1.0")
        + alloc(0, cpu=0, ts="1.1")
        + alloc(64, cpu=1, ts="1.2")
        + alloc(64, cpu=0, ts="1.3")
    )
    assert kinds(check(log)) == [("overlap", 5)]
    assert "allocation state checked from line 4" in check(log).features


def test_cross_cpu_skew_inside_the_window_is_tolerated() -> None:
    """CPU 1's clock lags: its allocation of the area CPU 0 frees prints first."""
    log = (
        alloc(0, cpu=0, ts="1.000000")
        + alloc(0, cpu=1, ts="1.000010")
        + free(0, cpu=0, ts="1.000020")
    )
    assert check(log).violations == []
    assert kinds(check(log, window_ns=5_000)) == [("overlap", 2)]
    same_cpu = log.replace("[001]", "[000]").replace("kworker/1", "kworker/0")
    assert kinds(check(same_cpu)) == [("overlap", 2)]


def test_zero_size_alloc_at_a_live_area_is_one_finding(tmp_path: Path) -> None:
    """A size-0 allocation at a live area's start used to shadow that area in
    the chunk's index, and the next touch of the offset raised KeyError. It
    hands out nothing: the live area is still the one its free releases."""
    log = alloc(0, size=16) + alloc(0, size=0) + free(0) + free(0) + alloc(8)
    assert kinds(check(log)) == [("invalid-request", 2), ("double-free", 4)]
    inside = alloc(0, size=16) + alloc(8, size=0) + free(0) + create(C) + destroy(C)
    assert kinds(check(inside, strict=True)) == [("invalid-request", 2)]
    path = tmp_path / "zero.trace"
    path.write_text(log)
    done = subprocess.run(
        [sys.executable, "-m", "percpu_mc.checker.cli.check_trace", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "Traceback" not in done.stdout + done.stderr and done.stderr == ""
    assert done.returncode == 1 and "line 2: invalid-request" in done.stdout


@pytest.mark.parametrize("name", ["boot.trace", "mix.trace.gz"])
@pytest.mark.parametrize("strict", [False, True])
def test_real_captures_are_consistent(name: str, strict: bool) -> None:
    with open_log(str(SAMPLES / name)) as lines:
        report = check_log(LogParser().records(lines), strict)
    assert report.violations == [] and report.parse_errors == []


# -- generated logs -----------------------------------------------------------


@dataclass(frozen=True)
class Op:
    """One allocator event of a generated run."""

    kind: str  # alloc, free, create, destroy
    cpu: int
    ts_us: int
    base: int
    off: int = 0
    size: int = 0
    align: int = 0


@st.composite
def runs(draw: st.DrawFn, step_us: tuple[int, int] = (200, 5000)) -> list[Op]:
    """A run of a correct allocator: first-fit areas in the first chunk and
    in chunks the balance work creates and destroys, on two CPUs."""
    live: dict[int, dict[int, int]] = {FIRST_CHUNK: {}}  # base -> off -> size
    created: set[int] = set()
    ops: list[Op] = []
    ts = 1_000_000
    for _ in range(draw(st.integers(1, 60))):
        ts += draw(st.integers(*step_us))
        cpu = draw(st.integers(0, 1))
        action = draw(st.sampled_from(["alloc", "alloc", "alloc", "free", "free", "chunk"]))
        if action == "alloc":
            base = draw(st.sampled_from(sorted(live)))
            size = 4 * draw(st.integers(1, 16))
            align = draw(st.sampled_from([4, 8, 16, 64]))
            off = first_fit(live[base], size, align)
            if off is not None:
                live[base][off] = size
                ops.append(Op("alloc", cpu, ts, base, off, size, align))
        elif action == "free" and any(live.values()):
            base = draw(st.sampled_from(sorted(b for b in live if live[b])))
            off = draw(st.sampled_from(sorted(live[base])))
            del live[base][off]
            ops.append(Op("free", cpu, ts, base, off))
        elif action == "chunk":
            empty = sorted(b for b in created if not live[b])
            if empty and draw(st.booleans()):
                base = draw(st.sampled_from(empty))
                created.discard(base)
                del live[base]
                ops.append(Op("destroy", cpu, ts, base))
            elif free_bases := [b for b in CHUNK_BASES if b not in live]:
                base = draw(st.sampled_from(free_bases))
                created.add(base)
                live[base] = {}
                ops.append(Op("create", cpu, ts, base))
    return ops


def first_fit(areas: dict[int, int], size: int, align: int) -> int | None:
    off = 0
    for start in sorted(areas):
        if off + size <= start:
            break
        off = max(off, -(-(start + areas[start]) // align) * align)
    return off if off + size <= CHUNK_BYTES else None


def hashed(address: int) -> str:
    return f"00000000{(address * 0x9E3779B1) % (1 << 32):08x}"


@dataclass(frozen=True)
class Style:
    """How a producer prints the same run."""

    format: str  # trace, trace_pipe, trace-cmd, perf
    v519: bool
    hashed: bool

    def header(self) -> str:
        return {
            "trace": "# tracer: nop\n#\n# entries-in-buffer/entries-written: 9/9   #P:2\n#\n"
            "#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION\n"
            "#              | |         |   |||||     |         |\n",
            "trace-cmd": "version = 7\ncpus=2\n",
        }.get(self.format, "")

    def pointer(self, address: int) -> str:
        if self.hashed:
            return hashed(address)
        return f"0x{address:x}" if self.format in ("trace-cmd", "perf") else f"{address:016x}"

    def line(self, op: Op) -> str:
        ts = f"{op.ts_us // 1_000_000}.{op.ts_us % 1_000_000:06d}"
        name = {
            "alloc": "percpu_alloc_percpu",
            "free": "percpu_free_percpu",
            "create": "percpu_create_chunk",
            "destroy": "percpu_destroy_chunk",
        }[op.kind]
        base = self.pointer(op.base)
        ptr = self.pointer(op.base + op.off - PTR_DELTA)
        if op.kind == "alloc":
            fields = (
                f"reserved=0 is_atomic=0 size={op.size} align={op.align} "
                f"base_addr={base} off={op.off} ptr={ptr}"
            )
            if self.v519:
                fields = (
                    f"call_site=pcpu_test+0x1/0x2 {fields} bytes_alloc={op.size * 4} "
                    "gfp_flags=GFP_KERNEL"
                )
        elif op.kind == "free":
            fields = f"base_addr={base} off={op.off} ptr={ptr}"
        else:
            fields = f"base_addr={base}"
        comm = f"kworker/{op.cpu}:1"
        match self.format:
            case "perf":
                return f"{comm:>16} {17 + op.cpu:>6} [{op.cpu:03d}] {ts:>12}: percpu:{name}: {fields}\n"
            case "trace-cmd":
                return f"{comm:>16}-{17 + op.cpu:<5} [{op.cpu:03d}] {ts:>12}: {name + ':':<22}{fields}\n"
        return f"{comm:>16}-{17 + op.cpu:<7} [{op.cpu:03d}] d..1. {ts:>12}: {name}: {fields}\n"

    def render(self, ops: list[Op]) -> list[str]:
        return [self.header(), *(self.line(op) for op in ops)]


styles = st.builds(
    Style,
    st.sampled_from(["trace", "trace_pipe", "trace-cmd", "perf"]),
    st.booleans(),
    st.booleans(),
)


def header_lines(style: Style) -> int:
    return style.header().count("\n")


@SETTINGS
@given(runs(), styles)
def test_correct_runs_check_clean(ops: list[Op], style: Style) -> None:
    """Any run of a correct allocator, in any format, is consistent, even for
    a log that claims to be complete; and the parser reads back each op."""
    text = "".join(style.render(ops))
    parser = LogParser()
    records = list(parser.records(text.splitlines(keepends=True)))
    events = [r for r in records if hasattr(r, "cpu")]
    assert [(e.cpu, e.ts_ns // 1000, getattr(e, "off", 0)) for e in events] == [
        (op.cpu, op.ts_us, op.off) for op in ops
    ]
    if ops or style.header():  # an empty perf or trace_pipe log tells no format
        assert parser.format.value == style.format
    report = check_log(iter(records), strict=True)
    assert report.violations == [] and report.parse_errors == []


@SETTINGS
@given(runs(), styles, st.data())
def test_duplicated_line(ops: list[Op], style: Style, data: st.DataObject) -> None:
    """A free printed twice is a double free; an allocation printed twice
    overlaps itself; a create printed twice creates a live chunk."""
    targets = [i for i, op in enumerate(ops) if op.kind in ("alloc", "free", "create")]
    if not targets:
        return
    i = data.draw(st.sampled_from(targets))
    lines = style.render(ops)
    lines.insert(i + 2, lines[i + 1])
    expected = {"alloc": "overlap", "free": "double-free", "create": "create-live-chunk"}
    line = header_lines(style) + i + 2
    assert kinds(check("".join(lines))) == [(expected[ops[i].kind], line)]


@SETTINGS
@given(runs(), styles, st.data())
def test_dropped_free(ops: list[Op], style: Style, data: st.DataObject) -> None:
    """Without its free an area stays live: the first later allocation that
    intersects it overlaps, or the destruction of its chunk finds it."""
    frees = [i for i, op in enumerate(ops) if op.kind == "free"]
    if not frees:
        return
    i = data.draw(st.sampled_from(frees))
    gone = ops[i]
    size = next(
        op.size
        for op in reversed(ops[:i])
        if op.kind == "alloc" and (op.base, op.off) == (gone.base, gone.off)
    )
    rest = ops[:i] + ops[i + 1 :]
    expected = []
    for j, op in enumerate(rest[i:], i):
        if op.base == gone.base and (
            op.kind == "destroy"
            or op.kind == "alloc"
            and op.off < gone.off + size
            and gone.off < op.off + op.size
        ):
            kind = "destroy-nonempty-chunk" if op.kind == "destroy" else "overlap"
            expected = [(kind, header_lines(style) + j + 1)]
            break
    assert kinds(check("".join(style.render(rest)))) == expected


@SETTINGS
@given(runs(), styles, st.data())
def test_dropped_alloc(ops: list[Op], style: Style, data: st.DataObject) -> None:
    """Without its allocation, the area's free is the one impossible line:
    in a chunk created in the log, or after an earlier free of that offset."""
    allocs = [i for i, op in enumerate(ops) if op.kind == "alloc"]
    if not allocs:
        return
    i = data.draw(st.sampled_from(allocs))
    gone = ops[i]
    rest = ops[:i] + ops[i + 1 :]
    found = kinds(check("".join(style.render(rest))))
    free_at = next(
        (
            j
            for j, op in enumerate(rest[i:], i)
            if op.kind == "free" and (op.base, op.off) == (gone.base, gone.off)
        ),
        None,
    )
    if free_at is None:
        assert found == []
        return
    line = header_lines(style) + free_at + 1
    allowed = {("double-free", line)}
    if gone.base != FIRST_CHUNK:
        allowed.add(("free-unknown", line))
    assert set(found) <= allowed and len(found) <= 1
    if gone.base != FIRST_CHUNK:
        assert len(found) == 1


@SETTINGS
@given(runs(step_us=(1, 30)), styles, st.data())
def test_reordered_lines(ops: list[Op], style: Style, data: st.DataObject) -> None:
    """Two adjacent lines swapped: on one CPU the clock goes back there; on
    two CPUs, stamped close together, it is a clock skew the checker
    tolerates."""
    if len(ops) < 2:
        return
    i = data.draw(st.integers(0, len(ops) - 2))
    if ops[i].ts_us == ops[i + 1].ts_us:
        return
    swapped = ops[:i] + [ops[i + 1], ops[i]] + ops[i + 2 :]
    found = kinds(check("".join(style.render(swapped))))
    if ops[i].cpu == ops[i + 1].cpu:
        assert ("time-goes-back", header_lines(style) + i + 2) in found
    else:
        assert found == []


@SETTINGS
@given(runs(), styles, st.data())
def test_truncated_last_line(ops: list[Op], style: Style, data: st.DataObject) -> None:
    """A capture cut off inside its last line: that line is a warning, not
    read (its last number may be cut short), and the rest is checked."""
    if not ops:
        return
    lines = style.render(ops)
    last = lines[-1]
    indent = len(last) - len(last.lstrip())  # a line of spaces is a blank line
    cut = data.draw(st.integers(indent + 1, len(last) - 1))
    report = check("".join(lines[:-1]) + last[:cut])
    assert report.parse_errors == [] and report.violations == []
    number = len("".join(lines).splitlines())
    assert len(report.warnings) == 1 and report.warnings[0].startswith(f"line {number} is cut")


# -- degenerate requests ------------------------------------------------------

# Values no correct run prints, each of which the parser still accepts.
SIZES = [0, 0, 1, 4, CHUNK_BYTES * 2, 1 << 64, 10**30]
ALIGNS = [0, 1, 3, 8, 12, 1 << 70]
OFFSETS = [-8, -1, 1, 3, CHUNK_BYTES, 1 << 64]


def invalid(op: Op) -> bool:
    return op.size == 0 or op.align <= 0 or bool(op.align & (op.align - 1))


@st.composite
def degenerate_alloc(draw: st.DrawFn, ops: list[Op], at: int) -> Op:
    """An allocation to insert before ops[at]: often at the start or inside
    of an area of the run, with a degenerate size, alignment or offset."""
    near = ops[at - 1] if at else (ops[0] if ops else Op("alloc", 0, 1_000_000, FIRST_CHUNK))
    bases = sorted({FIRST_CHUNK, *(op.base for op in ops)})
    base = draw(st.sampled_from(bases))
    offs = sorted({op.off + d for op in ops if op.base == base for d in (0, 4)} | {0})
    off = draw(st.sampled_from(offs) | st.sampled_from(OFFSETS))
    return Op(
        "alloc",
        near.cpu,
        near.ts_us,
        base,
        off,
        draw(st.sampled_from(SIZES)),
        draw(st.sampled_from(ALIGNS)),
    )


@SETTINGS
@given(runs(), styles, st.data())
def test_zero_size_alloc_is_one_finding(ops: list[Op], style: Style, data: st.DataObject) -> None:
    """pcpu_alloc() refuses a zero size before taking anything: anywhere in a
    correct run, even at a live area's start, such a line is one finding,
    also in a log that claims to be complete."""
    at = data.draw(st.integers(0, len(ops)))
    bad = replace(data.draw(degenerate_alloc(ops, at)), size=0)
    lines = style.render(ops[:at] + [bad] + ops[at:])
    report = check("".join(lines), strict=True)
    assert report.parse_errors == []
    assert kinds(report) == [("invalid-request", header_lines(style) + at + 1)]


@SETTINGS
@given(runs(), styles, st.data())
def test_degenerate_requests_never_crash(
    tmp_path_factory: pytest.TempPathFactory, ops: list[Op], style: Style, data: st.DataObject
) -> None:
    """Zero or huge sizes, zero or odd alignments, negative offsets, inserted
    into a correct run: each invalid request is found where it is, and the
    command answers with an exit status, never a traceback."""
    inserted: list[int] = []  # indexes into the new run
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(ops)))
        ops = ops[:at] + [data.draw(degenerate_alloc(ops, at))] + ops[at:]
        inserted = [i + (i >= at) for i in inserted] + [at]
    text = "".join(style.render(ops))
    for strict in (False, True):
        report = check(text, strict=strict)
        assert report.parse_errors == []
        found = set(kinds(report))
        for i in inserted:
            op, line = ops[i], header_lines(style) + i + 1
            if invalid(op):
                assert ("invalid-request", line) in found
            elif op.off < 0 or op.off % op.align:
                assert ("misaligned", line) in found
    log = tmp_path_factory.mktemp("degenerate") / "log"
    log.write_text(text)
    expected = 1 if check(text).violations else 0  # every CPU's lines, as check() takes them
    assert main(["--json", "--no-partial", str(log)]) == expected


# -- a second free of an area allocated before the log -------------------------


def test_double_free_of_an_area_allocated_before_the_log() -> None:
    """The first free of an area the log never saw allocated is unknown; after
    it the area is known free, so a second free is a double free."""
    header = "# entries-in-buffer/entries-written: 2/2   #P:1\n"
    log = header + free(0, ts="1.0") + free(0, ts="1.1")
    assert kinds(check(log)) == [("double-free", 3)]
    assert "line 2" in check(log).violations[0].message
    # Without a header, and in an unknown chunk or a known one alike.
    assert kinds(check(free(0, base=C) + alloc(64, base=C) + free(0, base=C))) == [
        ("double-free", 3)
    ]
    # Allocated again in between: two frees of two areas.
    assert check(free(0) + alloc(0) + free(0)).violations == []


def test_double_free_across_a_gap_is_only_noted() -> None:
    """Events lost between the two frees may have allocated the area again:
    the second free is noted, saying why, and is not a violation."""
    lost = free(0, ts="1.0") + "CPU:0 [LOST 3 EVENTS]\n" + free(0, ts="1.1")
    report = check(lost)
    assert report.violations == []
    assert [(n.kind, n.line) for n in report.notes] == [("double-free", 3)]
    assert "lost at line 2" in report.notes[0].message
    # An allocation after the gap makes the second free an ordinary one.
    again = free(0) + "CPU:0 [LOST 3 EVENTS]\n" + alloc(0) + free(0)
    assert check(again).violations == check(again).notes == []
    # An overwritten buffer: CPU 1's lost events may have allocated it.
    header = "# entries-in-buffer/entries-written: 3/9   #P:2\n"
    overwritten = (
        header + free(0, cpu=0, ts="1.0") + alloc(64, cpu=1, ts="1.1") + free(0, cpu=0, ts="1.2")
    )
    report = check(overwritten)
    assert report.violations == [] and [n.line for n in report.notes] == [4]
    assert "overwrote" in report.notes[0].message


def test_double_free_noted_on_the_command_line(tmp_path: Path, capsys) -> None:
    path = tmp_path / "gap.trace"
    path.write_text(free(0, ts="1.0") + "CPU:0 [LOST 3 EVENTS]\n" + free(0, ts="1.1"))
    assert main(["--no-partial", str(path)]) == 0
    assert "line 3: note: double-free?" in capsys.readouterr().out
    path.write_text(free(0, ts="1.0") + free(0, ts="1.1"))
    assert main(["--no-partial", str(path)]) == 1
    assert "line 2: double-free" in capsys.readouterr().out


def test_repeated_findings_are_capped_and_counted(tmp_path: Path, capsys) -> None:
    """A finding on every line (a broken kernel, a coarse clock): the report
    keeps KEPT_PER_KIND of each kind, prints SHOWN_VIOLATIONS, and counts
    what it left out, rather than growing with the log."""
    from percpu_mc.checker.cli.check_trace import SHOWN_VIOLATIONS
    from percpu_mc.checker.logs.findings import KEPT_PER_KIND

    repeats = 3 * KEPT_PER_KIND
    path = tmp_path / "repeated.trace"
    path.write_text(alloc(0) + free(0) * (repeats + 1))
    report = check(path.read_text())
    assert len(report.violations) == KEPT_PER_KIND
    assert report.left_out == {"double-free": repeats - KEPT_PER_KIND}
    assert main(["--no-partial", str(path)]) == 1
    out = capsys.readouterr().out
    assert out.count(": double-free: ") == SHOWN_VIOLATIONS
    assert (
        f"... and {repeats - SHOWN_VIOLATIONS} more violations ({repeats - SHOWN_VIOLATIONS} double-free)"
        in out
    )
    assert main(["--no-partial", "--json", str(path)]) == 1
    (result,) = json.loads(capsys.readouterr().out)["files"]
    assert len(result["violations"]) == KEPT_PER_KIND
    assert result["violations_left_out"] == {"double-free": repeats - KEPT_PER_KIND}
