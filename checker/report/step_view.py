"""A counterexample as pictures are drawn from it: per step, every chunk struct
as a row of pages (populated or not) with its allocated areas and who holds
each, the counter, each context with its program counter and the lock it
holds, and for the violating step why it breaks the property, in kernel terms.

The HTML report (checker/report/html.py) and the terminal map
(checker/report/terminal_map.py) both render these views; the cell and page strings
are those of checker/report/counterexample.py.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from percpu_mc.checker.report.counterexample import cell_map, chunk_role, owner_name, page_map
from percpu_mc.checker.report.counterexample import steps as step_records
from percpu_mc.checker.report.kernel_words import ALLOC_AT, BALANCE_AT, FUNCTION, failure
from percpu_mc.checker.report.source_links import source_url
from percpu_mc.model.control import (
    ALLOC_CHUNK_PCS,
    BALANCE_CHUNK_PCS,
    MUTEX_FREE,
    AllocPc,
    BalancePc,
    alloc_owner,
    balance_owner,
)
from percpu_mc.model.machine import Model, Trace
from percpu_mc.model.params import Params
from percpu_mc.model.properties import PROPERTIES
from percpu_mc.model.state import State
from percpu_mc.model.vocabulary import BALANCE_WORK, Context, Role, alloc_context, map_extend_work


@dataclass(frozen=True)
class AreaView:
    """An allocated area of a chunk: cells [off, off + size)."""

    off: int
    size: int
    holder: str  # "alloc#1", "alloc#2 (in pcpu_alloc)", "static", "unowned"
    owner: int | None = None  # the allocating context holding it
    in_call: bool = False  # its pcpu_alloc() call is still in progress


@dataclass(frozen=True)
class ChunkView:
    index: int
    role: str
    live: bool
    linked: bool
    to_free: bool
    cells: str  # cell_map, pages separated by '|'
    pages: str  # page_map: 'P' populated, '-' not
    areas: tuple[AreaView, ...]
    empty_pop_pages: int  # populated pages with no cell in use
    counted: bool  # contributes to pcpu_nr_empty_pop_pages (not the reserved chunk)
    changed: bool  # the step changed this chunk


@dataclass(frozen=True)
class ContextView:
    name: str
    pc: str  # where it stands, in kernel words (kernel_words)
    mutex: bool  # owns pcpu_alloc_mutex after the step
    acting: bool  # ran this step
    detail: str  # request, chunk it works on
    changed: bool = False  # where it stands, its lock or its work differ from before the step


@dataclass(frozen=True)
class StepView:
    number: int  # 0: the initial state
    context: str
    lane: str  # the label of the context that ran it (its lane in the sequence chart)
    action: str
    kernel: str
    function: str  # the kernel function it runs in
    source: str | None  # a link to that function in the spec's kernel version
    fails: str | None  # the failure path it takes (kernel_words.FAILURE)
    pcpu_lock: bool  # the step's code runs under pcpu_lock (taken and released inside it)
    choices: tuple[tuple[str, int], ...]  # the step's own choices (request, a failure, ...)
    changes: tuple[str, ...]
    counter: int
    counter_changed: bool
    counter_truth: int
    quiet: bool  # no context inside pcpu_alloc(): the counter must equal counter_truth
    mutex_owner: str
    chunks: tuple[ChunkView, ...]
    contexts: tuple[ContextView, ...]


@dataclass(frozen=True)
class CounterexampleView:
    prop: str
    steps: tuple[StepView, ...]  # steps[0] is the initial state
    lanes: tuple[str, ...]  # the contexts, in the sequence chart's order
    explanation: tuple[str, ...]  # why the last state breaks the property
    cells_per_page: int
    unit_pages: int


def _areas(p: Params, s: State, c: int) -> tuple[AreaView, ...]:
    """The in-use runs of chunk c's map, each started by a bound bit, with
    the context that holds (or is allocating) it."""
    holders: dict[int, tuple[int, bool]] = {}  # offset -> (context, in its call)
    lp = p.live_per_context
    for k in range(p.nr_contexts * lp):
        if s.live_valid[k] and s.live_chunk[k] == c:
            holders[s.live_off[k]] = (k // lp, False)
    for i in range(p.nr_contexts):
        if AllocPc(s.pc[i]) in ALLOC_CHUNK_PCS and s.chunk[i] == c:
            holders.setdefault(s.off[i], (i, True))
    amap, bmap = s.alloc_map[c], s.bound_map[c]
    out = []
    cells = p.unit_pages * p.cells_per_page
    i = 0
    while i < cells:
        if amap >> i & 1:
            j = i + 1
            while j < cells and amap >> j & 1 and not bmap >> j & 1:
                j += 1
            static = c == 0 and i == 0
            if i in holders:
                owner, in_call = holders[i]
                label = alloc_context(owner).label + (" (in pcpu_alloc)" if in_call else "")
                out.append(AreaView(i, j - i, label, owner, in_call))
            else:
                out.append(AreaView(i, j - i, "static" if static else "unowned"))
            i = j
        else:
            i += 1
    return tuple(out)


def _empty_pop_pages(p: Params, s: State, c: int) -> int:
    n = 0
    for pg in range(p.unit_pages):
        mask = ((1 << p.cells_per_page) - 1) << (pg * p.cells_per_page)
        if s.populated[c] >> pg & 1 and not s.alloc_map[c] & mask:
            n += 1
    return n


def _chunks(model: Model, pre: State | None, s: State) -> tuple[ChunkView, ...]:
    p = model.p
    counted = set(model.kernel.normal_chunks())
    out = []
    for c in range(p.nr_chunks):
        changed = pre is not None and any(
            getattr(pre, f)[c] != getattr(s, f)[c]
            for f in ("live", "linked", "to_free", "alloc_map", "bound_map", "populated")
        )
        out.append(
            ChunkView(
                c,
                chunk_role(p, c),
                bool(s.live[c]),
                bool(s.linked[c]),
                bool(s.to_free[c]),
                cell_map(p, s.alloc_map[c], s.bound_map[c]),
                page_map(p, s.populated[c]),
                _areas(p, s, c) if s.live[c] else (),
                _empty_pop_pages(p, s, c),
                c in counted,
                changed,
            )
        )
    return tuple(out)


def _contexts(model: Model, s: State, acting: Context | None) -> tuple[ContextView, ...]:
    p = model.p
    out = []
    for i in range(p.nr_contexts):
        pc = AllocPc(s.pc[i])
        detail = ""
        if pc != AllocPc.IDLE:
            detail = (
                f"{'atomic' if s.req_atomic[i] else 'GFP_KERNEL'}"
                f"{' reserved' if s.req_reserved[i] else ''} request of {s.req_size[i]} "
                f"cells, align {s.req_align[i]}"
            )
            if pc in ALLOC_CHUNK_PCS:
                detail += f"; chunk {s.chunk[i]} off {s.off[i]}"
        who = alloc_context(i)
        out.append(
            ContextView(
                who.label, ALLOC_AT[pc], s.alloc_mutex == alloc_owner(i), acting == who, detail
            )
        )
    bpc = BalancePc(s.balance_pc)
    detail = "queued" if s.balance_pending else ""
    if bpc in BALANCE_CHUNK_PCS:
        detail = (detail + "; " if detail else "") + f"chunk {s.balance_chunk}"
    out.append(
        ContextView(
            BALANCE_WORK.label,
            BALANCE_AT[bpc] if bpc != BalancePc.IDLE else "queued" if s.balance_pending else "idle",
            s.alloc_mutex == balance_owner(p),
            acting == BALANCE_WORK,
            detail,
        )
    )
    for c in range(p.nr_chunks):
        if s.map_extend_pending[c] or s.ext_running[c]:
            who = map_extend_work(c)
            out.append(
                ContextView(
                    who.label, "running" if s.ext_running[c] else "queued", False, acting == who, ""
                )
            )
    return tuple(out)


def _step(
    model: Model,
    spec: str,
    number: int,
    pre: StepView | None,
    pre_state: State | None,
    s: State,
    action: int | None,
    context: str,
    changes: list[str],
    choices: dict[str, int],
) -> StepView:
    a = model.actions[action] if action is not None else None
    chunks = _chunks(model, pre_state, s)
    truth = sum(ch.empty_pop_pages for ch in chunks if ch.live and ch.counted)
    contexts = _contexts(model, s, a.context if a else None)
    if pre is not None:
        before = {c.name: c for c in pre.contexts}
        contexts = tuple(
            replace(c, changed=(c.pc, c.mutex, c.detail) != (b.pc, b.mutex, b.detail))
            if (b := before.get(c.name)) is not None
            else replace(c, changed=True)
            for c in contexts
        )
    return StepView(
        number,
        context,
        a.context.label if a else "",
        a.name if a else "initial state",
        a.kernel if a else "",
        FUNCTION[a.kind] if a else "",
        source_url(spec, a.kind) if a else None,
        failure(a.kind, choices) if a else None,
        a is not None and "pcpu_lock" in a.kernel,
        tuple(choices.items()),
        tuple(changes),
        s.nr_empty_pop_pages,
        pre_state is not None and pre_state.nr_empty_pop_pages != s.nr_empty_pop_pages,
        truth,
        all(AllocPc(pc) == AllocPc.IDLE for pc in s.pc),
        owner_name(model.p, s.alloc_mutex),
        chunks,
        contexts,
    )


def lanes(model: Model, trace: Trace) -> tuple[str, ...]:
    """The sequence chart's lanes: every allocating context, then the
    balance work, the map extension work items and the initcall that run."""
    order = {Role.ALLOC: 0, Role.BALANCE: 1, Role.MAP_EXTEND: 2, Role.INIT: 3}
    ran = {model.actions[st.action].context for st in trace.steps}
    ran |= {alloc_context(i) for i in range(model.p.nr_contexts)}
    return tuple(
        c.label for c in sorted(ran, key=lambda c: (order[c.role], c.index if c.index else 0))
    )


def explain(model: Model, prop: str, last: StepView, s: State) -> tuple[str, ...]:
    """Why the last state breaks `prop`, from the state itself."""
    p = model.p
    out = [f"The state after step {last.number} breaks {prop}: {PROPERTIES[prop].promise}."]
    if prop in ("counter-exact", "counter-nonnegative"):
        pages = ", ".join(
            f"{ch.role} {ch.empty_pop_pages}" for ch in last.chunks if ch.live and ch.counted
        )
        out.append(
            f"pcpu_nr_empty_pop_pages is {last.counter}, but the chunks hold "
            f"{last.counter_truth} populated pages with no area in them ({pages})."
        )
    elif prop == "no-deadlock" and s.alloc_mutex != MUTEX_FREE:
        owner = next(c for c in last.contexts if c.mutex)
        out.append(
            f"pcpu_alloc_mutex is owned by {owner.name}, {owner.pc}: the code "
            "path that took it has no mutex_unlock() left to run, so the next "
            "mutex_lock(&pcpu_alloc_mutex) of an allocation or of pcpu_balance_workfn "
            "waits forever."
        )
    elif prop == "no-use-after-free":
        dead = [ch.index for ch in last.chunks if not ch.live]
        users = []
        for i in range(p.nr_contexts):
            if AllocPc(s.pc[i]) in ALLOC_CHUNK_PCS and s.chunk[i] in dead:
                users.append(
                    f"{alloc_context(i)} ({ALLOC_AT[AllocPc(s.pc[i])]}) still points at "
                    f"destroyed chunk {s.chunk[i]}"
                )
        if BalancePc(s.balance_pc) in BALANCE_CHUNK_PCS and s.balance_chunk in dead:
            users.append(f"pcpu_balance_workfn still points at destroyed chunk {s.balance_chunk}")
        for c in dead:
            if s.map_extend_pending[c] or s.ext_running[c]:
                users.append(
                    f"chunk {c}'s map_extend_work is queued or running, but the "
                    "struct pcpu_chunk it lives in was freed by pcpu_destroy_chunk()"
                )
        out += [u + "." for u in users]
    return tuple(out)


def counterexample(model: Model, prop: str, trace: Trace, spec: str = "") -> CounterexampleView:
    steps = [_step(model, spec, 0, None, None, trace.init, None, "", [], {})]
    for d, st in zip(step_records(model, trace), trace.steps):
        pre_state = trace.init if d["step"] == 1 else trace.steps[d["step"] - 2].state
        steps.append(
            _step(
                model,
                spec,
                d["step"],
                steps[-1],
                pre_state,
                st.state,
                st.action,
                d["context"],
                d["changes"],
                d["choices"],
            )
        )
    last = trace.steps[-1].state if trace.steps else trace.init
    return CounterexampleView(
        prop,
        tuple(steps),
        lanes(model, trace),
        explain(model, prop, steps[-1], last),
        model.p.cells_per_page,
        model.p.unit_pages,
    )
