"""Model run -> ftrace log: a `trace` file the kernel could have printed.

The run's steps become lines (traces/observe.py says which): the header of
the `trace` file, one `percpu:*` tracepoint line per logged event, and one
function-tracer or kprobe line per hidden step.  Tasks, CPUs and
timestamps are what a capture shows: each allocating context is a task of
its own, the balance work runs on `kworker/u4:1`, each chunk's
map-extension work item on a kworker of CPU 0, percpu_enable_async() in
`swapper/0` (PID 1); timestamps increase by a few microseconds per line.

Scale (stated in the log's header comment too): a model page is a 4 KiB
page, so one cell is PAGE_SIZE / cells_per_page bytes; offsets, sizes and
alignments are cells times that.  Chunk base addresses are raw (unhashed)
vmalloc addresses: the first chunk and the reserved chunk have fixed ones,
every created chunk a fresh one; ptr = base_addr + off - PCPU_PTR_DELTA.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol

from percpu_mc.model.actions import Action
from percpu_mc.model.machine import Model, Trace
from percpu_mc.model.params import Params
from percpu_mc.model.state import State
from percpu_mc.model.vocabulary import Context, Role
from percpu_mc.traces.observe import ALLOC, CREATE, DESTROY, FAIL, FREE, FUNC, Obs, Observer

PAGE_SIZE = 4096
FIRST_CHUNK_BASE = 0xFFFF8CABFDC37000
RESERVED_CHUNK_BASE = 0xFFFF8CABFDC35000
CREATED_CHUNK_TOP = 0xFFFFEF47BFC00000  # pcpu_create_chunk() vm areas, 2 MiB apart downwards
CHUNK_STRIDE = 0x200000
PCPU_PTR_DELTA = 0xFFFF8CABFDC00000

# Realistic tasks for the allocating contexts (comm, pid).
ALLOC_TASKS = [
    ("modprobe", 211),
    ("systemd-udevd", 163),
    ("ip", 388),
    ("sh", 301),
    ("insmod", 412),
    ("bpftool", 455),
]
TASKS = {Role.BALANCE: ("kworker/u4:1", 27), Role.INIT: ("swapper/0", 1)}
NR_CPUS = 2

HEADER = """\
# tracer: nop
#
# entries-in-buffer/entries-written: {n}/{n}   #P:{cpus}
#
# percpu-mc: {what}; one cell = {cell} bytes (4 KiB pages){traced}
#
#                                _-----=> irqs-off/BH-disabled
#                               / _----=> need-resched
#                              | / _---=> hardirq/softirq
#                              || / _--=> preempt-depth
#                              ||| / _-=> migrate-disable
#                              |||| /     delay
#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION
#              | |         |   |||||     |         |
"""
HEADER_LINES = HEADER.count("\n")
# The header's claim that every unlogged step printed its marker line
# (function tracer and kprobes on for the whole run): the replay then knows
# that a marker the log lacks was not printed, rather than not traced.
EVERY_STEP_TRACED = "; every unlogged step traced"


def cell_bytes(p: Params) -> int:
    return PAGE_SIZE // p.cells_per_page


def task_of(who: Context) -> tuple[str, int, int]:
    """(comm, pid, cpu) of a context."""
    if who.role is Role.ALLOC:
        i = who.index
        assert i is not None
        comm, pid = ALLOC_TASKS[i] if i < len(ALLOC_TASKS) else ("insmod", 500 + i)
        return comm, pid, i % NR_CPUS
    if who.role is Role.MAP_EXTEND:
        return "kworker/0:2", 139, 0
    comm, pid = TASKS[who.role]
    return comm, pid, 1 if who.role is Role.BALANCE else 0


@dataclass
class Addresses:
    """Chunk struct -> base_addr, a fresh address per creation."""

    p: Params
    created: int = 0
    base: dict[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.base[0] = FIRST_CHUNK_BASE
        if self.p.has_reserved:
            self.base[self.p.reserved_index] = RESERVED_CHUNK_BASE

    def base_of(self, c: int) -> int | None:
        return self.base[c]

    def create(self, c: int) -> int:
        self.base[c] = CREATED_CHUNK_TOP - self.created * CHUNK_STRIDE
        self.created += 1
        return self.base[c]


class Bases(Protocol):
    """Where event_text finds each chunk struct's base_addr."""

    def base_of(self, c: int) -> int | None: ...
    def create(self, c: int) -> int | None: ...


def event_text(o: Obs, p: Params, addr: Bases) -> str:
    """The part of a line after the timestamp: what the writer prints, and
    what the level-2 replay says a step would print (a chunk whose base_addr
    the log has not named yet shows as `base_addr=? (chunk N)`)."""
    cell = cell_bytes(p)

    def base(c: int, known: int | None) -> str:
        return f"base_addr={known:016x}" if known is not None else f"base_addr=? (chunk {c})"

    if o.kind == FUNC:
        return f"{o.args[0]} <-{o.args[1]}"
    if o.kind in (ALLOC, FREE):
        c, off = o.args[0], o.args[1] * cell
        known = addr.base_of(c)
        where = f"{base(c, known)} off={off}"
        if known is not None:
            where += f" ptr={known + off - PCPU_PTR_DELTA:016x}"
        if o.kind == FREE:
            return f"percpu_free_percpu: {where}"
        _, _, size, align, atomic, reserved = o.args
        return (
            f"percpu_alloc_percpu: reserved={int(reserved)} is_atomic={int(atomic)} "
            f"size={size * cell} align={align * cell} {where}"
        )
    if o.kind == FAIL:
        size, align, atomic, reserved = o.args
        return (
            f"percpu_alloc_percpu_fail: reserved={int(reserved)} is_atomic={int(atomic)} "
            f"size={size * cell} align={align * cell}"
        )
    if o.kind == CREATE:
        return f"percpu_create_chunk: {base(o.args[0], addr.create(o.args[0]))}"
    if o.kind == DESTROY:
        return f"percpu_destroy_chunk: {base(o.args[0], addr.base_of(o.args[0]))}"

    def fetched(kind: str, v: int) -> str:  # a kprobe's fetch args, printed as hex
        if kind == "chunk":
            known = addr.base_of(v)
            return f"{known:#x}" if known is not None else f"? (chunk {v})"
        return f"{v * cell if kind == 'cells' else v:#x}"

    args = "".join(
        f" {key}={fetched(kind, v)}" for key, kind, v in (o.args[2] if len(o.args) > 2 else ())
    )
    return f"{o.args[0]}: ({o.args[1]}){args}"


def irq_flags(o: Obs) -> str:
    """percpu_free_percpu fires under spin_lock_irqsave(&pcpu_lock)."""
    return "d..1." if o.kind == FREE else "....."


class LogLines:
    """Formats the lines of one run; `step_line[k]` is the last line number
    (1-based, header included) step k+1 printed, or the line before it if
    it printed none (a hidden step whose marker is not traced)."""

    def __init__(self, model: Model, markers: bool = True):
        self.model = model
        self.observer = Observer(model.kernel)
        self.addr = Addresses(model.p)
        self.markers = markers
        self.line = HEADER_LINES
        self.usecs = 1_000_000
        self.step_line: list[int] = []

    def step(self, a: Action, pre: State, post: State) -> Iterator[str]:
        comm, pid, cpu = task_of(a.context)
        for o in self.observer.lines(a, pre, post):
            if o.marker_key is not None and not self.markers:
                continue
            self.line += 1
            self.usecs += 3 + self.line * 7 % 23
            secs, us = divmod(self.usecs, 1_000_000)
            yield (
                f"{comm:>16}-{pid:<7} [{cpu:03d}] {irq_flags(o)} {secs:5d}.{us:06d}: "
                f"{event_text(o, self.model.p, self.addr)}\n"
            )
        self.step_line.append(self.line)

    def run(self, trace: Trace) -> Iterator[str]:
        pre = trace.init
        for st in trace.steps:
            yield from self.step(self.model.actions[st.action], pre, st.state)
            pre = st.state


def write_atomically(
    path: Path, what: str, p: Params, body: Iterable[str], traced: bool = False
) -> int:
    """Write header + body to `path` through a temporary file in the same
    directory and a rename; returns the number of event lines."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_body = tempfile.mkstemp(dir=path.parent, prefix=".body-", suffix=".tmp")
    try:
        n = 0
        with os.fdopen(fd, "w") as out:
            for line in body:
                out.write(line)
                n += 1
        fd2, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
        try:
            with os.fdopen(fd2, "w") as out, open(tmp_body) as src:
                out.write(
                    HEADER.format(
                        n=n,
                        cpus=NR_CPUS,
                        what=what,
                        cell=cell_bytes(p),
                        traced=EVERY_STEP_TRACED if traced else "",
                    )
                )
                copy(src, out)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    finally:
        os.unlink(tmp_body)
    return n


def copy(src: IO[str], dst: IO[str]) -> None:
    while chunk := src.read(1 << 20):
        dst.write(chunk)


def write_trace(
    path: Path, model: Model, trace: Trace, what: str, markers: bool = True
) -> list[int]:
    """Write `trace` as a log at `path`; returns each step's line (see LogLines)."""
    lines = LogLines(model, markers)
    write_atomically(path, what, model.p, lines.run(trace), traced=markers)
    return lines.step_line
