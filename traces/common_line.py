"""The fast path of the ftrace reader: the two lines that make nearly all
of a capture, read in one match and made into records without Lark."""

import re

from percpu_mc.traces.decoders import PREFIX_CACHE, line_prefix
from percpu_mc.traces.events import PercpuAlloc, PercpuFree, Record

# The two lines that make nearly all of a capture, as the ftrace file prints
# them (irq-info on, no TGID column, 16-digit hashed or raw pointers, a
# six-decimal timestamp), read in one match.  A sublanguage of the grammar's
# FTRACE_HEAD + ALLOC_V519 and + FREE: the task is cut where the grammar's
# TASK_PID cuts it (the first "-PID" before spaces and "[" or "(", and no
# going back), and numbers have at most 20 digits.  Anything else goes to the
# scanner; tests/test_trace_parser.py checks both read lines as Lark does.
_D = r"([0-9]{1,20})"
_P = r"([0-9a-f]{16})"
COMMON_LINE = re.compile(
    r"((?>[ \t]*[^\n]+?-[0-9]+(?= +[(\[])) +\[[0-9]+\] [.dDXbNnpZzHhs0-9a-f]{4,5}(?= ) *)"
    r" ([0-9]{1,12})\.([0-9]{6}): "
    r"(?:percpu_alloc_percpu: call_site=([^\s]+(?: \[[\w-]+\])?) reserved=([01]) "
    rf"is_atomic=([01]) size={_D} align={_D} base_addr={_P} off=(-?[0-9]{{1,20}}) "
    rf"ptr={_P} bytes_alloc={_D} gfp_flags=([\w|]*)"
    rf"|percpu_free_percpu: base_addr={_P} off=(-?[0-9]{{1,20}}) ptr={_P})\n"
)


def common_record(m: re.Match, number: int, line: str, prefixes: dict) -> Record:
    """The record of a COMMON_LINE match, as ToRecords.event() makes it;
    `prefixes` is its cache of line prefixes."""
    prefix = m[1]
    known = prefixes.get(prefix)
    if known is None or known[0] != "FTRACE_HEAD":
        if len(prefixes) >= PREFIX_CACHE:
            prefixes.clear()
        known = prefixes[prefix] = line_prefix("FTRACE_HEAD", prefix)
    _, comm, pid, tgid, cpu, flags = known
    (
        _,
        seconds,
        micro,
        site,
        reserved,
        atomic,
        size,
        align,
        base,
        off,
        ptr,
        bytes_alloc,
        gfp,
        free_base,
        free_off,
        free_ptr,
    ) = m.groups()
    timestamp = seconds + "." + micro
    ns = int(seconds + micro) * 1000
    text = line[:-1]
    common = (number, comm, pid, tgid, cpu, flags, timestamp, ns, text)
    if site is not None:
        return PercpuAlloc(
            *common,
            site,
            reserved == "1",
            atomic == "1",
            int(size),
            int(align),
            int(base, 16),
            int(off),
            int(ptr, 16),
            int(bytes_alloc),
            gfp,
        )
    return PercpuFree(*common, int(free_base, 16), int(free_off), int(free_ptr, 16))
