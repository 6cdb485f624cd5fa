"""Typed records of one ftrace log, one per line of the log.

Each record carries its 1-based source line number. Event records carry the
whole common prefix (comm, pid, cpu, irq-info flags, timestamp) and every
field the tracepoint printed, so a later replay against the model needs
nothing from the text. Pointers are integers; `None` stands for a pointer
printed as "(____ptrval____)" (hashing not ready yet, early boot).

Records are slotted dataclasses, compared and hashed by value, but not
frozen: a frozen dataclass sets each field through object.__setattr__,
which makes building one eight times dearer, and a million-line log builds
a million. Nothing changes a record once the parser made it.
"""

from dataclasses import dataclass
from enum import Enum


class Format(Enum):
    """Which program wrote the log."""

    TRACE = "trace"  # /sys/kernel/tracing/trace, with its "# tracer:" header
    TRACE_PIPE = "trace_pipe"  # the same lines, no header
    TRACE_CMD = "trace-cmd"  # `trace-cmd report`
    PERF = "perf"  # `perf script`


@dataclass(slots=True, unsafe_hash=True)
class Event:
    """The common prefix of an event line."""

    line: int
    comm: str  # "<...>" when the kernel had not cached the comm
    pid: int
    tgid: int | None  # only with options/record-tgid, None if "(-------)"
    cpu: int
    flags: str | None  # the irq-info columns, e.g. "d..1.", None when off
    timestamp: str  # exact text, e.g. "35.775434"
    ts_ns: int  # the same in nanoseconds; in ticks for counter clocks
    text: str  # the line itself, for reports


@dataclass(slots=True, unsafe_hash=True)
class PercpuAlloc(Event):
    """percpu_alloc_percpu: pcpu_alloc() returned `ptr`, after all locks
    were dropped and any population was done."""

    call_site: str | None  # v5.19+ only
    reserved: bool
    is_atomic: bool
    size: int  # the request, rounded up by pcpu_alloc to its minimum unit
    align: int
    base_addr: int | None  # the chunk
    off: int  # offset of the area from base_addr
    ptr: int | None  # the percpu pointer handed to the caller
    bytes_alloc: int | None  # v5.19+ only: all units plus memcg overhead
    gfp_flags: str | None  # v5.19+ only


@dataclass(slots=True, unsafe_hash=True)
class PercpuAllocFail(Event):
    """percpu_alloc_percpu_fail: pcpu_alloc() failed, for any reason."""

    reserved: bool
    is_atomic: bool
    size: int
    align: int


@dataclass(slots=True, unsafe_hash=True)
class PercpuFree(Event):
    """percpu_free_percpu: free_percpu() released the area, under pcpu_lock."""

    base_addr: int | None
    off: int
    ptr: int | None


@dataclass(slots=True, unsafe_hash=True)
class PercpuCreateChunk(Event):
    """percpu_create_chunk: a new chunk's vm areas exist, before it is linked."""

    base_addr: int | None


@dataclass(slots=True, unsafe_hash=True)
class PercpuDestroyChunk(Event):
    """percpu_destroy_chunk: a fully free, depopulated chunk is being freed."""

    base_addr: int | None


@dataclass(slots=True, unsafe_hash=True)
class FunctionCall(Event):
    """A function-tracer line: `function` was called from `parent`."""

    function: str
    parent: str


@dataclass(slots=True, unsafe_hash=True)
class ProbeHit(Event):
    """A kprobe, kretprobe or uprobe event: "name: (site) arg=value ..."."""

    name: str
    site: str
    args: tuple[tuple[str, str], ...]


@dataclass(slots=True, unsafe_hash=True)
class OtherEvent(Event):
    """Any other event; counted, not checked."""

    name: str


@dataclass(slots=True, unsafe_hash=True)
class LostEvents:
    """The ring buffer of `cpu` dropped events just before this line."""

    line: int
    cpu: int
    count: int | None  # None when the producer did not know how many


@dataclass(slots=True, unsafe_hash=True)
class BufferEntries:
    """The header's "entries-in-buffer/entries-written: A/B   #P:N"."""

    line: int
    in_buffer: int
    written: int  # more than in_buffer: the oldest events were overwritten
    cpus: int


@dataclass(slots=True, unsafe_hash=True)
class Columns:
    """The header's column legend: which prefix columns the lines carry."""

    line: int
    irq_info: int  # 4 or 5 flag columns, 0 with options/irq-info off
    tgid: bool


@dataclass(slots=True, unsafe_hash=True)
class ParseError:
    """A line that fits no format."""

    line: int
    message: str
    text: str


@dataclass(slots=True, unsafe_hash=True)
class CutLine:
    """The file ends inside this line: it has no newline (a copy of
    trace_pipe stopped mid-line, a truncated gzip)."""

    line: int
    text: str


Record = Event | LostEvents | BufferEntries | Columns | ParseError | CutLine
