"""The fields of an event line, as the grammar's tokens give them: the
prefix (task, pid, cpu, flags), the timestamp, and each event's body
(EVENT_DECODERS, by the grammar's terminal)."""

from collections.abc import Callable

from percpu_mc.traces.events import (
    FunctionCall,
    OtherEvent,
    PercpuAlloc,
    PercpuAllocFail,
    PercpuCreateChunk,
    PercpuDestroyChunk,
    PercpuFree,
    ProbeHit,
    Record,
)

# Distinct line prefixes (task, pid, cpu, flags) remembered: a log repeats a
# few dozen; the bound keeps memory flat on a log that does not.
PREFIX_CACHE = 4096


def _pointer(text: str) -> int | None:
    return None if text.startswith("(") else int(text, 16)


def _values(fields: str, count: int) -> list[str]:
    """The last `count` values of "name: key=value key=value ...", in
    order. No key or value holds a space or an "=", and only the last value
    (gfp_flags) may be empty: the grammar says so."""
    words = fields.replace("=", " ").split()
    if fields.endswith("=\n"):
        words.append("")
    return words[1 - 2 * count :: 2]


# 10 ** (9 - digits): nanoseconds per unit of a fraction with that many digits.
FRACTION_SCALE = [10 ** (9 - digits) for digits in range(10)]


def nanoseconds(timestamp: str) -> int:
    """A TIMESTAMP in nanoseconds, or in ticks for counter clocks."""
    dot = timestamp.find(".")
    if dot < 0:
        return int(timestamp)
    digits = len(timestamp) - dot - 1
    units = int(timestamp[:dot] + timestamp[dot + 1 :])
    if digits < len(FRACTION_SCALE):
        return units * FRACTION_SCALE[digits]
    return units // 10 ** (digits - 9)


def line_prefix(head_type: str, prefix: str) -> tuple:
    """The Event fields comm, pid, tgid, cpu and flags of a line, from its
    prefix token up to the space before the timestamp."""
    # The CPU is the last bracket: comm may hold anything, the flags hold no "[".
    task, _, right = prefix.rpartition("[")
    cpu, _, flags = right.partition("]")
    tgid: int | None = None
    task = task.rstrip()
    if head_type == "PERF_HEAD":
        comm, _, pid = task.rpartition(" ")
        tgid_text, _, pid = pid.rpartition("/")
        if tgid_text:
            tgid = int(tgid_text)
        return head_type, comm.strip(), int(pid), tgid, int(cpu), None
    if task[-1] == ")":
        task, _, tgid_text = task[:-1].rpartition("(")
        tgid_text = tgid_text.strip()
        tgid = int(tgid_text) if tgid_text.isdigit() else None
        task = task.rstrip()
    comm, _, pid = task.rpartition("-")
    return head_type, comm.strip(), int(pid), tgid, int(cpu), flags.strip() or None


def _alloc_v519(common: tuple, body: str) -> PercpuAlloc:
    # call_site may end in " [module]": cut it off at the next field.
    call_site, _, rest = body.partition("call_site=")[2].partition(" reserved=")
    words = rest.replace("=", " ").split()  # as in _values
    if rest.endswith("=\n"):
        words.append("")
    reserved, is_atomic, size, align, base, off, ptr, bytes_alloc, gfp = words[::2]
    return PercpuAlloc(
        *common,
        call_site,
        reserved == "1",
        is_atomic == "1",
        int(size),
        int(align),
        None if base[0] == "(" else int(base, 16),
        int(off),
        None if ptr[0] == "(" else int(ptr, 16),
        int(bytes_alloc),
        gfp,
    )


def _alloc_v413(common: tuple, body: str) -> PercpuAlloc:
    reserved, is_atomic, size, align, base, off, ptr = _values(body, 7)
    return PercpuAlloc(
        *common,
        None,
        reserved == "1",
        is_atomic == "1",
        int(size),
        int(align),
        _pointer(base),
        int(off),
        _pointer(ptr),
        None,
        None,
    )


def _alloc_fail(common: tuple, body: str) -> PercpuAllocFail:
    reserved, is_atomic, size, align = _values(body, 4)
    return PercpuAllocFail(*common, reserved == "1", is_atomic == "1", int(size), int(align))


def _free(common: tuple, body: str) -> PercpuFree:
    base, off, ptr = body.replace("=", " ").split()[-5::2]  # _values(body, 3), inline
    return PercpuFree(
        *common,
        None if base[0] == "(" else int(base, 16),
        int(off),
        None if ptr[0] == "(" else int(ptr, 16),
    )


def _create_chunk(common: tuple, body: str) -> PercpuCreateChunk:
    return PercpuCreateChunk(*common, _pointer(body.rpartition("=")[2].rstrip()))


def _destroy_chunk(common: tuple, body: str) -> PercpuDestroyChunk:
    return PercpuDestroyChunk(*common, _pointer(body.rpartition("=")[2].rstrip()))


def _function(common: tuple, body: str) -> FunctionCall:
    words = body.split()
    if words[0] == "function:":  # trace-cmd: "function: func <-- parent"
        return FunctionCall(*common, words[1], words[3])
    return FunctionCall(*common, words[0], words[1][2:])


def _probe(common: tuple, body: str) -> ProbeHit:
    name, _, rest = body.strip().partition(": (")
    site, _, args = rest.rpartition(")")
    return ProbeHit(
        *common, name, site, tuple(tuple(kv.partition("=")[::2]) for kv in args.split())
    )


def _other(common: tuple, body: str) -> OtherEvent:
    return OtherEvent(*common, body.split(None, 1)[0][:-1])


Decoder = Callable[[tuple, str], Record]

EVENT_DECODERS: dict[str, Decoder] = {
    "ALLOC_V519": _alloc_v519,
    "ALLOC_V413": _alloc_v413,
    "ALLOC_FAIL": _alloc_fail,
    "FREE": _free,
    "CREATE_CHUNK": _create_chunk,
    "DESTROY_CHUNK": _destroy_chunk,
    "FUNCTION": _function,
    "PROBE": _probe,
    "OTHER_EVENT": _other,
}
