"""The model's vocabulary, declared once: what kind of kernel step an action
is (`Kind`), who runs it (`Context`), and what it may show in an ftrace log
(`Log`, by kind).  Everything outside model/ that needs to know which step
it looks at (the log observer and replay, the lasso search, the list order,
the reports) reads these fields, never an action's display name.

Which of a step's possible lines it prints depends on the state it runs in
(traces/observe.py decides that); here is only what it may print.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, StrEnum, auto


class Tracepoint(StrEnum):
    """The five percpu:* tracepoints (docs/kernel-source-notes.md, section 5)."""

    ALLOC = "alloc"  # percpu_alloc_percpu, where pcpu_alloc() returns an area
    FAIL = "fail"  # percpu_alloc_percpu_fail, at pcpu_alloc()'s `fail:`
    FREE = "free"  # percpu_free_percpu, in free_percpu()
    CREATE = "create"  # percpu_create_chunk, in pcpu_create_chunk()
    DESTROY = "destroy"  # percpu_destroy_chunk, in pcpu_destroy_chunk()


@dataclass(frozen=True, eq=False)  # two kinds of step may print alike and stay two kinds
class Log:
    """The lines a step may print: tracepoints, and at most one marker of
    each sort, a function-tracer line of a function it calls and a kprobe on
    its inline code; `populate`: a kprobe on pcpu_populate_chunk() naming
    the chunk and pages (what a replay cannot infer alone)."""

    tracepoints: frozenset[Tracepoint] = frozenset()
    call: tuple[str, str] | None = None  # (function, parent)
    probe: str | None = None  # the kprobe's name
    populate: bool = False

    @property
    def markers(self) -> tuple[tuple[str, str], ...]:
        """Every marker line it may print, by key: (function, parent), or
        (probe name, "")."""
        out = [self.call] if self.call else []
        out += [(self.probe, "")] if self.probe else []
        return tuple(out + ([("pcpu_populate_chunk", "")] if self.populate else []))


class Role(Enum):
    """Who runs a step (each has its own program counter)."""

    ALLOC = auto()  # an allocating context: pcpu_alloc() and free_percpu() calls
    BALANCE = auto()  # pcpu_balance_work on the system workqueue
    MAP_EXTEND = auto()  # 1a4d76076cda: one chunk's map_extend_work
    INIT = auto()  # the initcall percpu_enable_async()


@dataclass(frozen=True)
class Context:
    role: Role
    index: int | None = None  # ALLOC: the context; MAP_EXTEND: the chunk

    @property
    def label(self) -> str:
        """How reports name it: alloc#N (from 1), balance work, map extend
        work (chunk C), init."""
        match self.role:
            case Role.ALLOC:
                return f"alloc#{self.index + 1}"  # type: ignore[operator]
            case Role.BALANCE:
                return "balance work"
            case Role.MAP_EXTEND:
                return f"map extend work (chunk {self.index})"
        return "init"

    @property
    def tag(self) -> str:
        """How the log side names it: alloc#N, balance, extend#C, init."""
        match self.role:
            case Role.BALANCE:
                return "balance"
            case Role.MAP_EXTEND:
                return f"extend#{self.index}"
        return self.label

    def __str__(self) -> str:
        return self.label


def alloc_context(i: int) -> Context:
    return Context(Role.ALLOC, i)


BALANCE_WORK = Context(Role.BALANCE)
INIT = Context(Role.INIT)


def map_extend_work(chunk: int) -> Context:
    return Context(Role.MAP_EXTEND, chunk)


def _tp(*kinds: Tracepoint) -> frozenset[Tracepoint]:
    return frozenset(kinds)


class Kind(Enum):
    """What kind of kernel step an action is: the kernel function and the
    step in it; `log` is what such a step may print."""

    # pcpu_alloc(), in an allocating context
    ALLOC = Log(_tp(Tracepoint.FAIL), probe="pcpu_alloc")  # the entry and its scan
    ALLOC_EXTEND = Log(_tp(Tracepoint.FAIL), call=("pcpu_extend_area_map", "pcpu_alloc"))
    ALLOC_RESTART = Log(probe="pcpu_alloc_restart")
    ALLOC_CREATE = Log(
        _tp(Tracepoint.FAIL, Tracepoint.CREATE),
        call=("pcpu_create_chunk", "pcpu_alloc"),
        probe="pcpu_alloc_chunk_mutex",
    )
    ALLOC_POP_MUTEX = Log(_tp(Tracepoint.FAIL), probe="pcpu_alloc_pop_mutex", populate=True)
    ALLOC_POPULATE = Log(_tp(Tracepoint.FAIL), probe="pcpu_alloc_pop_mutex", populate=True)
    ALLOC_COUNTER = Log(_tp(Tracepoint.ALLOC), probe="pcpu_alloc_counter")
    ALLOC_COUNTER_LOAD = Log(_tp(Tracepoint.ALLOC), probe="pcpu_alloc_counter_load")
    ALLOC_COUNTER_STORE = Log(_tp(Tracepoint.ALLOC), probe="pcpu_alloc_counter_store")
    # free_percpu(), in an allocating context
    FREE = Log(_tp(Tracepoint.FREE))
    # pcpu_balance_workfn()
    BALANCE_START = Log(call=("pcpu_balance_workfn", "process_one_work"))
    BALANCE_COLLECT = Log(probe="pcpu_balance_collect")
    BALANCE_DESTROY = Log(
        _tp(Tracepoint.DESTROY), call=("pcpu_depopulate_chunk", "pcpu_balance_workfn")
    )
    BALANCE_MAP_EXTEND_PICK = Log(probe="pcpu_balance_map_extend")  # 4f996e234dad
    BALANCE_MAP_EXTEND = Log(call=("pcpu_extend_area_map", "pcpu_balance_workfn"))
    BALANCE_FREE_EMPTY = Log(probe="pcpu_balance_free_empty")  # f183324133ea
    BALANCE_FREE_EMPTY_DESTROY = Log(
        _tp(Tracepoint.DESTROY), call=("pcpu_depopulate_chunk", "pcpu_balance_workfn")
    )
    BALANCE_RECLAIM = Log(probe="pcpu_balance_reclaim")
    BALANCE_RECLAIM_DEPOPULATE = Log(call=("pcpu_depopulate_chunk", "pcpu_reclaim_populated"))
    BALANCE_RECLAIM_FLUSH = Log(call=("pcpu_post_unmap_tlb_flush", "pcpu_reclaim_populated"))
    BALANCE_RETRY_POP = Log(probe="pcpu_balance_retry_pop")
    BALANCE_PICK = Log(probe="pcpu_balance_pick")
    BALANCE_POPULATE = Log(populate=True)
    BALANCE_CREATE = Log(_tp(Tracepoint.CREATE), call=("pcpu_create_chunk", "pcpu_balance_workfn"))
    # pcpu_map_extend_workfn() (1a4d76076cda), in a chunk's work item
    MAP_EXTEND_START = Log(call=("pcpu_map_extend_workfn", "process_one_work"))
    MAP_EXTEND = Log(call=("pcpu_extend_area_map", "pcpu_map_extend_workfn"))
    # percpu_enable_async(), the initcall
    ENABLE_ASYNC = Log(call=("percpu_enable_async", "do_one_initcall"))
    # outside mm/percpu.c, only in the lock-order variants (Switches.outside_lock,
    # model/actions/outside.py): they print nothing
    OUTSIDE_LOCK = Log()  # a context takes the outside lock, to call pcpu_alloc() under it
    OUTSIDE_UNLOCK = Log()  # ... and drops it after the call
    WAKEUP = Log()  # schedule_work(): pool->lock, then the wakeup's pi_lock and rq->lock
    FS_RECLAIM = Log()  # a GFP_KERNEL allocation enters direct reclaim (the fs shrinkers)
    FS_RECLAIM_DONE = Log()  # ... which takes and drops the filesystem's lock

    @property
    def log(self) -> Log:
        return self.value
