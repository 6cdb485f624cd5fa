"""The grammar accepts every format and field set a real log shows, and the
parser turns each line into the typed record that says what the line says."""

import gzip
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from percpu_mc.traces.common_line import COMMON_LINE
from percpu_mc.traces.events import (
    BufferEntries,
    Columns,
    Format,
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
)
from percpu_mc.traces.input import open_log
from percpu_mc.traces.parser import LogParser

SAMPLES = Path(__file__).parent / "trace_samples"


def parse(text: str) -> tuple[list, Format]:
    parser = LogParser()
    records = list(parser.records(text.splitlines(keepends=True)))
    return records, parser.format


def only(text: str):
    records, _ = parse(text)
    assert len(records) == 1, records
    return records[0]


@pytest.mark.parametrize(
    "name, expected",
    [
        (
            "boot.trace",
            {PercpuAlloc: 338, PercpuFree: 21, PercpuCreateChunk: 1, BufferEntries: 1, Columns: 1},
        ),
        (
            "mix.trace.gz",
            {
                PercpuAlloc: 25906,
                PercpuFree: 25551,
                PercpuCreateChunk: 3,
                PercpuDestroyChunk: 1,
                BufferEntries: 1,
                Columns: 1,
            },
        ),
    ],
)
def test_real_captures_parse_completely(name: str, expected: dict) -> None:
    """The shipped Debian 6.1 captures: no parse error, every percpu event
    recognised (the counts of the samples' README)."""
    parser = LogParser()
    with open_log(str(SAMPLES / name)) as lines:
        counts = Counter(type(record) for record in parser.records(lines))
    assert counts == expected
    assert parser.format is Format.TRACE


def test_trace_file_line_v519_hashed() -> None:
    alloc = only(
        "          <idle>-0       [000] d..1.     0.343039: percpu_alloc_percpu: "
        "call_site=alloc_desc+0x50/0x250 reserved=0 is_atomic=0 size=4 align=4 "
        "base_addr=000000009126c0db off=2208 ptr=000000005077dc68 bytes_alloc=16 "
        "gfp_flags=GFP_KERNEL\n"
    )
    assert alloc == PercpuAlloc(
        line=1,
        comm="<idle>",
        pid=0,
        tgid=None,
        cpu=0,
        flags="d..1.",
        timestamp="0.343039",
        ts_ns=343_039_000,
        text=alloc.text,
        call_site="alloc_desc+0x50/0x250",
        reserved=False,
        is_atomic=False,
        size=4,
        align=4,
        base_addr=0x9126C0DB,
        off=2208,
        ptr=0x5077DC68,
        bytes_alloc=16,
        gfp_flags="GFP_KERNEL",
    )


def test_module_call_site_and_raw_pointers() -> None:
    alloc = only(
        "        modprobe-178     [001] .....     6.155535: percpu_alloc_percpu: "
        "call_site=dummy_dev_init+0x1e/0x77 [dummy] reserved=1 is_atomic=1 size=8 "
        "align=8 base_addr=ffff8cabfdc35000 off=0 ptr=0000000000035000 "
        "bytes_alloc=32 gfp_flags=GFP_NOWAIT|__GFP_NOWARN\n"
    )
    assert (alloc.comm, alloc.pid, alloc.call_site) == (
        "modprobe",
        178,
        "dummy_dev_init+0x1e/0x77 [dummy]",
    )
    assert (alloc.reserved, alloc.is_atomic, alloc.base_addr) == (True, True, 0xFFFF8CABFDC35000)
    assert alloc.gfp_flags == "GFP_NOWAIT|__GFP_NOWARN"


def test_v413_field_set_four_irq_columns_and_header() -> None:
    records, fmt = parse(
        "# tracer: nop\n#\n# entries-in-buffer/entries-written: 159836/64690869   #P:4\n#\n"
        "#                              _-----=> irqs-off\n"
        "#                             / _----=> need-resched\n"
        "#                            | / _---=> hardirq/softirq\n"
        "#                            || / _--=> preempt-depth\n"
        "#                            ||| /     delay\n"
        "#           TASK-PID   CPU#  ||||    TIMESTAMP  FUNCTION\n"
        "#              | |       |   ||||       |         |\n"
        "         systemd-1     [000] ....     0.568931: percpu_alloc_percpu: reserved=0 "
        "is_atomic=0 size=48 align=8 base_addr=00000000fa92a086 off=32672 "
        "ptr=000000008da0b73d\n"
        "          <idle>-0     [000] ....     0.543208: percpu_create_chunk: "
        "base_addr=000000005d5ad71c\n"
    )
    assert fmt is Format.TRACE
    entries, columns, alloc, create = records
    assert entries == BufferEntries(3, 159836, 64690869, 4)
    assert columns == Columns(10, 4, False)
    assert (alloc.line, alloc.call_site, alloc.bytes_alloc, alloc.size) == (12, None, None, 48)
    assert (create.line, create.base_addr) == (13, 0x5D5AD71C)


def test_tgid_column_and_irq_info_off() -> None:
    records, _ = parse(
        "#           TASK-PID    TGID     CPU#  ||||    TIMESTAMP  FUNCTION\n"
        "            bash-1977  ( 1977) [000] .... 17284.993652: percpu_free_percpu: "
        "base_addr=ffff8cabfdc37000 off=8 ptr=0000000000037008\n"
        "           <...>-12    (-------) [001] d... 17284.993700: percpu_destroy_chunk: "
        "base_addr=ffffef47bfa00000\n"
        "#           TASK-PID     CPU#     TIMESTAMP  FUNCTION\n"
        "     kworker/0:1-17      [000]    29.279928: percpu_destroy_chunk: "
        "base_addr=ffffef47bfa00000\n"
    )
    columns, free, destroy, no_irq, plain = records
    assert columns == Columns(1, 4, True)
    assert (free.comm, free.pid, free.tgid, free.flags) == ("bash", 1977, 1977, "....")
    assert (destroy.comm, destroy.tgid) == ("<...>", None)
    assert no_irq == Columns(4, 0, False)
    assert (plain.comm, plain.flags, plain.ts_ns) == ("kworker/0:1", None, 29_279_928_000)


def test_trace_pipe_lost_events() -> None:
    records, fmt = parse(
        "     kworker/1:1-35      [001] .....     1.423281: percpu_create_chunk: "
        "base_addr=ffffef47bfc00000\n"
        "CPU:1 [LOST 118 EVENTS]\n"
        "CPU:0 [LOST EVENTS]\n"
        "  Web Content-3012    [000] d..1.     2.000001: percpu_alloc_percpu_fail: "
        "reserved=0 is_atomic=1 size=64 align=8\n"
    )
    assert fmt is Format.TRACE_PIPE
    create, lost, lost_unknown, fail = records
    assert lost == LostEvents(2, 1, 118)
    assert lost_unknown == LostEvents(3, 0, None)
    assert isinstance(create, PercpuCreateChunk)
    assert fail == PercpuAllocFail(
        4,
        "Web Content",
        3012,
        None,
        0,
        "d..1.",
        "2.000001",
        2_000_001_000,
        fail.text,
        False,
        True,
        64,
        8,
    )


def test_trace_cmd_report() -> None:
    records, fmt = parse(
        "version = 7\n"
        "CPU 2 is empty\n"
        "cpus=4\n"
        "          <idle>-0     [000]  9387.130064: function:             pcpu_balance_workfn "
        "<-- process_one_work\n"
        "        modprobe-131   [001]     4.915162: percpu_alloc_percpu:  "
        "call_site=load_module+0xf48/0x21a0 reserved=1 is_atomic=0 size=24 align=16 "
        "base_addr=0xffff8cabfdc35000 off=0 ptr=0x35000 bytes_alloc=96 gfp_flags=GFP_KERNEL\n"
        "CPU:1 [12 EVENTS DROPPED]\n"
        "     kworker/0:1-17    [000]    29.279928: percpu_destroy_chunk: "
        "base_addr=0xffffef47bfa00000\n"
    )
    assert fmt is Format.TRACE_CMD
    function, alloc, lost, destroy = records
    assert (function.function, function.parent) == ("pcpu_balance_workfn", "process_one_work")
    assert (alloc.base_addr, alloc.ptr, alloc.flags) == (0xFFFF8CABFDC35000, 0x35000, None)
    assert lost == LostEvents(6, 1, 12)
    assert destroy.base_addr == 0xFFFFEF47BFA00000


def test_perf_script() -> None:
    records, fmt = parse(
        "        modprobe   131 [001]     4.915162: percpu:percpu_alloc_percpu: "
        "call_site=load_module+0xf48 reserved=1 is_atomic=0 size=24 align=16 "
        "base_addr=0xffff8cabfdc35000 off=0 ptr=0x35000 bytes_alloc=96 gfp_flags=GFP_KERNEL\n"
        "     kworker/0:1  17/17 [000]    29.279928: percpu:percpu_free_percpu: "
        "base_addr=0xffffef47bfa00000 off=64 ptr=0x629bc2000040\n"
        "            perf  4242 [001]    30.000000: sched:sched_switch: prev_comm=perf "
        "prev_pid=4242 ==> next_comm=swapper/1 next_pid=0\n"
    )
    assert fmt is Format.PERF
    alloc, free, other = records
    assert (alloc.comm, alloc.pid, alloc.cpu, alloc.size) == ("modprobe", 131, 1, 24)
    assert (free.comm, free.pid, free.tgid, free.off) == ("kworker/0:1", 17, 17, 64)
    assert other.name == "sched:sched_switch"


def test_function_probe_and_other_events() -> None:
    records, _ = parse(
        "     kworker/0:1-23      [000] ....   123.456789: pcpu_balance_workfn "
        "<-process_one_work\n"
        "            bash-1977    [001] d... 17284.993652: p_pcpu_alloc_0: "
        "(pcpu_alloc+0x0/0x9c0) size=0x8 align=0x8\n"
        "            bash-1977    [001] d... 17284.993700: r_pcpu_alloc_0: "
        "(__alloc_percpu+0x15/0x20 <- pcpu_alloc) arg1=0x35000\n"
        "     rcu_preempt-18      [001] d..3. 54968.170887: hrtimer_cancel: "
        "hrtimer=00000000456b5702\n"
        "          <idle>-0       [000] d.h2.    12.000000: tracing_mark_write:\n"
    )
    function, probe, retprobe, other, empty = records
    assert isinstance(function, FunctionCall) and function.parent == "process_one_work"
    assert probe == ProbeHit(
        2,
        "bash",
        1977,
        None,
        1,
        "d...",
        "17284.993652",
        17284_993_652_000,
        probe.text,
        "p_pcpu_alloc_0",
        "pcpu_alloc+0x0/0x9c0",
        (("size", "0x8"), ("align", "0x8")),
    )
    assert retprobe.site == "__alloc_percpu+0x15/0x20 <- pcpu_alloc"
    assert isinstance(other, OtherEvent) and other.name == "hrtimer_cancel"
    assert isinstance(empty, OtherEvent)


def test_ptrval_and_counter_clock() -> None:
    free = only(
        "          <idle>-0       [000] d..1.  123456789: percpu_free_percpu: "
        "base_addr=(____ptrval____) off=8 ptr=(____ptrval____)\n"
    )
    assert (free.base_addr, free.ptr, free.ts_ns) == (None, None, 123456789)


@pytest.mark.parametrize(
    "line, expected",
    [
        (
            "  a-1 [000] .... 1.0: percpu_free_percpu: base_addr=ab off=8\n",
            "percpu_free_percpu 'base_addr= off= ptr='",
        ),
        (
            "  a-1 [000] .... 1.0: percpu_alloc_percpu: reserved=0 is_atomic=0 size=4 align=4 "
            "base_addr=ab off=8 ptr=cd bytes_alloc=16\n",
            "v4.13 fields",
        ),
        ("  a-1 [000] .... 1.0: percpu:percpu_create_chunk:\n", "percpu_create_chunk 'base_addr='"),
        ("hello world\n", "an event line"),
        (
            "  a-1 [000] .... 1.0: percpu_alloc_percpu: call_site=f reserved=0 is_atomic=0 si\n",
            "v5.19+ fields",
        ),
    ],
)
def test_bad_lines_are_named(line: str, expected: str) -> None:
    """A line that fits no format, a malformed percpu line in particular, is
    an error naming the line and what was expected, never skipped."""
    records, _ = parse("# tracer: nop\n" + line)
    (error,) = records
    assert isinstance(error, ParseError) and error.line == 2
    assert expected in error.message
    assert error.text == line.rstrip("\n")


def test_bad_line_inside_a_block_keeps_the_others() -> None:
    good = "  a-1 [000] .... 1.0: percpu_create_chunk: base_addr=ab\n"
    records, _ = parse(good * 300 + "oops\n" + good * 10)
    assert [r.line for r in records if isinstance(r, ParseError)] == [301]
    assert len(records) == 311 and records[-1].line == 311


def test_gzip_and_stdin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = "  a-1 [000] .... 1.0: percpu_create_chunk: base_addr=ab\n"
    packed = tmp_path / "log"
    packed.write_bytes(gzip.compress(text.encode()))
    with open_log(str(packed)) as lines:
        assert list(lines) == [text]
    monkeypatch.setattr("sys.stdin", open(packed, "r"))
    with open_log("-") as lines:
        assert list(lines) == [text]


# -- the scanner reads every line as Lark's parser does -------------------------


def lark_and_scanner(lines: list[str]) -> tuple[tuple[list, Format], tuple[list, Format]]:
    results = []
    for scanner in (False, True):
        parser = LogParser(scanner=scanner)
        results.append((list(parser.records(lines)), parser.format))
    return results[0], results[1]


SAMPLE_LINES = [
    "# tracer: nop\n",
    "#\n",
    "# entries-in-buffer/entries-written: 159836/64690869   #P:4\n",
    "#           TASK-PID    TGID     CPU#  ||||    TIMESTAMP  FUNCTION\n",
    "#           TASK-PID     CPU#     TIMESTAMP  FUNCTION\n",
    "version = 7\n",
    "cpus=4\n",
    "CPU 2 is empty\n",
    "CPU:1 [LOST 118 EVENTS]\n",
    "CPU:0 [LOST EVENTS]\n",
    "CPU:1 [12 EVENTS DROPPED]\n",
    "\n",
    "   \t\n",
    "          <idle>-0       [000] d..1.     0.343039: percpu_alloc_percpu: "
    "call_site=alloc_desc+0x50/0x250 reserved=0 is_atomic=0 size=4 align=4 "
    "base_addr=000000009126c0db off=2208 ptr=000000005077dc68 bytes_alloc=16 "
    "gfp_flags=GFP_KERNEL\n",
    "        modprobe-178     [001] .....     6.155535: percpu_alloc_percpu: "
    "call_site=dummy_dev_init+0x1e/0x77 [dummy] reserved=1 is_atomic=1 size=8 align=8 "
    "base_addr=ffff8cabfdc35000 off=0 ptr=0000000000035000 bytes_alloc=32 gfp_flags=\n",
    "         systemd-1     [000] ....     0.568931: percpu_alloc_percpu: reserved=0 "
    "is_atomic=0 size=48 align=8 base_addr=00000000fa92a086 off=32672 ptr=000000008da0b73d\n",
    "            bash-1977  ( 1977) [000] .... 17284.993652: percpu_free_percpu: "
    "base_addr=ffff8cabfdc37000 off=8 ptr=0000000000037008\n",
    "           <...>-12    (-------) [001] d... 17284.993700: percpu_destroy_chunk: "
    "base_addr=ffffef47bfa00000\n",
    "     kworker/0:1-17      [000]    29.279928: percpu_create_chunk: base_addr=(____ptrval____)\n",
    "  Web Content-3012    [000] d..1.     2.000001: percpu_alloc_percpu_fail: "
    "reserved=0 is_atomic=1 size=64 align=8\n",
    "          <idle>-0     [000]  9387.130064: function:             pcpu_balance_workfn "
    "<-- process_one_work\n",
    "        modprobe   131 [001]     4.915162: percpu:percpu_alloc_percpu: "
    "call_site=load_module+0xf48 reserved=1 is_atomic=0 size=24 align=16 "
    "base_addr=0xffff8cabfdc35000 off=0 ptr=0x35000 bytes_alloc=96 gfp_flags=GFP_KERNEL\n",
    "     kworker/0:1  17/17 [000]    29.279928: percpu:percpu_free_percpu: "
    "base_addr=0xffffef47bfa00000 off=64 ptr=0x629bc2000040\n",
    "            perf  4242 [001]    30.000000: sched:sched_switch: prev_comm=perf "
    "prev_pid=4242 ==> next_comm=swapper/1 next_pid=0\n",
    "     kworker/0:1-23      [000] ....   123.456789: pcpu_balance_workfn <-process_one_work\n",
    "            bash-1977    [001] d... 17284.993652: p_pcpu_alloc_0: "
    "(pcpu_alloc+0x0/0x9c0) size=0x8 align=0x8\n",
    "            bash-1977    [001] d... 17284.993700: r_pcpu_alloc_0: "
    "(__alloc_percpu+0x15/0x20 <- pcpu_alloc) arg1=0x35000\n",
    "          <idle>-0       [000] d.h2.    12.000000: tracing_mark_write:\n",
    "          <idle>-0       [000] d..1.  123456789: percpu_free_percpu: "
    "base_addr=(____ptrval____) off=8 ptr=(____ptrval____)\n",
    "          <idle>-0       [000] d..1.  1.0123456789: percpu_free_percpu: "
    "base_addr=ab off=8 ptr=cd\n",
    "  a-1 [000] .... 1.0: percpu_free_percpu: base_addr=ab off=8\n",
    "  a-1 [000] .... 1.0: percpu:percpu_create_chunk:\n",
    "hello world\n",
]


@pytest.mark.parametrize("name", ["boot.trace", "mix.trace.gz"])
def test_scanner_reads_the_captures_as_lark_does(name: str) -> None:
    with open_log(str(SAMPLES / name)) as lines:
        text = list(lines)[:3000]
    assert lark_and_scanner(text)[1] == lark_and_scanner(text)[0]


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    st.lists(st.sampled_from(SAMPLE_LINES), min_size=1, max_size=4),
    st.lists(
        st.tuples(
            st.integers(0, 400),
            st.sampled_from(
                [" ", "", "-", "[", "]", ":", "=", "(", "x", "0", "\t", "percpu:", ".", "|", "é"]
            ),
        ),
        max_size=3,
    ),
    st.booleans(),
)
def test_scanner_reads_any_line_as_lark_does(
    lines: list[str], edits: list[tuple[int, str]], cut_last: bool
) -> None:
    """Whatever the line, well-formed or damaged, the scanner gives the
    record Lark's parser gives, bad lines included, and the same format."""
    lines = list(lines)
    for at, text in edits:  # replace one character of one line, or insert one
        i = at % len(lines)
        j = at % len(lines[i])
        lines[i] = lines[i][:j] + text + lines[i][j + (at % 2) :]
        if not lines[i].endswith("\n"):
            lines[i] += "\n"
    if cut_last:
        lines[-1] = lines[-1].rstrip("\n")
    lark, scanner = lark_and_scanner(lines)
    assert scanner == lark


def test_common_lines_are_read_in_one_match() -> None:
    """The captures' allocation and free lines take the parser's one-match
    path (COMMON_LINE), so the comparisons with Lark above cover it too; a
    line outside it (a TGID column, perf's prefix) goes to the scanner."""
    with open_log(str(SAMPLES / "mix.trace.gz")) as lines:
        text = list(lines)[:3000]
    whole = [line for line in text if (m := COMMON_LINE.match(line)) and m.end() == len(line)]
    assert len(whole) > 2900
    assert COMMON_LINE.match(SAMPLE_LINES[13]) and COMMON_LINE.match(SAMPLE_LINES[14])
    assert not COMMON_LINE.match(SAMPLE_LINES[16]) and not COMMON_LINE.match(SAMPLE_LINES[22])
