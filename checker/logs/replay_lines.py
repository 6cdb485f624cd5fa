"""What the level-2 replay (checker/logs/conformance.py) works with: a log
line in the replay's terms, one candidate explanation of the log so far and
its symmetric form, a step's successor, the replay's outcome."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from percpu_mc.checker.logs.findings import Violation
from percpu_mc.model.control import alloc_owner, owning_context
from percpu_mc.model.params import Params
from percpu_mc.model.reduction import forget_dead
from percpu_mc.model.state import PER_CONTEXT, PER_LIVE, State, upd
from percpu_mc.traces.events import (
    Event,
    FunctionCall,
    PercpuAlloc,
    PercpuAllocFail,
    PercpuCreateChunk,
    PercpuDestroyChunk,
    PercpuFree,
    ProbeHit,
    Record,
)
from percpu_mc.traces.observe import ALLOC, CREATE, DESTROY, FAIL, FREE, FUNC, PROBE


class Line(NamedTuple):
    """A log line as the replay matches it: the kind (traces.observe), the
    fields in log terms (bytes, addresses), the task, and the record."""

    kind: str
    args: tuple
    pid: int
    comm: str
    event: Event


def line_of(record: Event) -> Line | None:
    match record:
        case PercpuAlloc():
            args: tuple = (
                record.base_addr,
                record.off,
                record.size,
                record.align,
                record.is_atomic,
                record.reserved,
            )
            kind = ALLOC
        case PercpuAllocFail():
            args, kind = (record.size, record.align, record.is_atomic, record.reserved), FAIL
        case PercpuFree():
            args, kind = (record.base_addr, record.off), FREE
        case PercpuCreateChunk():
            args, kind = (record.base_addr,), CREATE
        case PercpuDestroyChunk():
            args, kind = (record.base_addr,), DESTROY
        case FunctionCall():
            args, kind = (record.function, record.parent), FUNC
        case ProbeHit():
            args, kind = (record.name, dict(record.args)), PROBE
        case _:
            return None
    return Line(kind, args, record.pid, record.comm, record)


class Cand(NamedTuple):
    """One explanation of the log so far."""

    state: State
    tasks: tuple  # per allocating context: pid of the call in progress, or None
    bases: tuple  # per chunk struct: its base_addr, or None
    pending: tuple  # lines of the current step still to come
    pid: int | None  # the task printing the pending lines
    violated: frozenset  # properties this run has violated


def symmetric(c: Cand, p: Params) -> Cand:
    """The allocating contexts are interchangeable (the properties and every
    other context treat them alike): the candidate with its contexts sorted,
    their live allocations, the mutex owner and the task bindings moved
    along, stands for all its permutations.  Dead locals are cleared first
    (history variables are kept: the properties read them)."""
    s = forget_dead(c.state)
    if s is not c.state:
        c = c._replace(state=s)
    n, lp = p.nr_contexts, p.live_per_context
    keys = [
        (
            tuple(getattr(s, f)[i] for f in PER_CONTEXT),
            tuple(getattr(s, f)[i * lp : (i + 1) * lp] for f in PER_LIVE),
            c.tasks[i] or 0,
        )
        for i in range(n)
    ]
    order = sorted(range(n), key=keys.__getitem__)
    if order == list(range(n)):
        return c
    changes = {f: tuple(getattr(s, f)[i] for i in order) for f in PER_CONTEXT}
    for f in PER_LIVE:
        v = getattr(s, f)
        changes[f] = tuple(x for i in order for x in v[i * lp : (i + 1) * lp])
    if (owner := owning_context(p, s.alloc_mutex)) is not None:
        changes["alloc_mutex"] = alloc_owner(order.index(owner))
    return c._replace(state=upd(s, **changes), tasks=tuple(c.tasks[i] for i in order))


class Succ(NamedTuple):
    action: int
    post: State
    lines: tuple  # every line the step prints (markers included)


@dataclass
class Outcome:
    findings: list[Violation] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    decided: bool = True  # False: the replay stopped before the log's end, see notes
    max_candidates: int = 0


def marker_key(record: Record) -> tuple[str, str] | None:
    if isinstance(record, FunctionCall):
        return (record.function, record.parent)
    if isinstance(record, ProbeHit):
        return (record.name, "")
    return None
