"""Level-2 conformance (docs/check-trace.md, "Level 2"): could the allocator, as a spec
describes it, have produced this log?

The replay runs the model's concrete interpretation.  It keeps a set of
candidates: model states that explain every line so far, each with what the
log has bound so far (which task runs each allocating context's call in
progress, which base_addr each chunk struct has).  For each line:

* first the unlogged steps: every candidate may take steps that print
  nothing (population, balance work phases, map extension, the counter
  update, ...), explored breadth first with duplicate states merged, up to
  `max_states` states per line;
* then one step that prints this line; a step printing several lines
  (a marker and a tracepoint) leaves the rest pending for the next lines.

Function-tracer and kprobe lines are observations (traces/observe.py): a
marker name is taken as traced from its first line on, so a step that would
print it may no longer happen silently; before that line, and for names the
log never shows, such steps are unlogged steps.  The five percpu tracepoints
are taken as enabled throughout.

Findings, in the shape of level 1 (checker/logs/trace_check.py Violation):
* `nonconforming`: the first line no candidate explains, with the candidate
  states summarised and every step that could print such a line, and why it
  did not;
* a property name (`counter-exact`, ...): every candidate run explaining the
  log up to this line violates the property (the line is the last line of
  the violating step, or the first after it when that step printed nothing).
  A violation only some explanations show is not reported.

The replay starts in the model's initial state (boot).  A log may start
after boot: unless `strict` says it is complete, or the log showed the boot
(the percpu_enable_async() line), a line no candidate explains is not
reported but noted, and the replay stops there — an unknown past never
produces a finding.  When a search bound is reached the replay also stops
with a note rather than guess.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from percpu_mc.checker import specs
from percpu_mc.checker.logs.conformance_real import RealReplay
from percpu_mc.checker.logs.findings import PartialView, Violation
from percpu_mc.checker.state_text import cell_map, chunk_role, owner_name, page_map
from percpu_mc.model.actions import Action
from percpu_mc.model.machine import Model
from percpu_mc.model.ops import Concrete
from percpu_mc.model.params import Params
from percpu_mc.model.properties import PROPERTIES
from percpu_mc.model.state import (
    MUTEX_FREE,
    PER_CONTEXT,
    PER_LIVE,
    AllocPc,
    BalancePc,
    State,
    alloc_owner,
    forget_dead,
    owning_context,
    upd,
)
from percpu_mc.model.vocabulary import Context, Kind, Role, alloc_context
from percpu_mc.traces.events import (
    Event,
    FunctionCall,
    LostEvents,
    PercpuAlloc,
    PercpuAllocFail,
    PercpuCreateChunk,
    PercpuDestroyChunk,
    PercpuFree,
    ProbeHit,
    Record,
)
from percpu_mc.traces.observe import (
    ALL_MARKERS,
    ALLOC,
    CREATE,
    DESTROY,
    FAIL,
    FREE,
    FUNC,
    PROBE,
    Obs,
    Observer,
)
from percpu_mc.traces.parser import open_log
from percpu_mc.traces.writer import EVERY_STEP_TRACED, HEADER_LINES, cell_bytes

MAX_STATES = 2_000  # states explored per line (unlogged steps)
MAX_CANDIDATES = 100  # candidates kept between lines
SUCCESSOR_CACHE = 50_000  # states whose successors are remembered


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


def describe(p: Params, s: State) -> str:
    """A model state in one line of kernel terms."""
    parts = [
        f"pcpu_nr_empty_pop_pages={s.nr_empty_pop_pages}",
        f"pcpu_alloc_mutex {owner_name(p, s.alloc_mutex)}",
    ]
    for i, pc in enumerate(s.pc):
        if pc != AllocPc.IDLE:
            parts.append(f"{alloc_context(i)} at {AllocPc(pc).name}")
    if s.balance_pc != BalancePc.IDLE or s.balance_pending:
        parts.append(
            f"balance work {BalancePc(s.balance_pc).name}"
            + (" (pending)" if s.balance_pending else "")
        )
    for c in range(p.nr_chunks):
        if s.live[c]:
            parts.append(
                f"{chunk_role(p, c)} [{cell_map(p, s.alloc_map[c], s.bound_map[c])}] "
                f"populated {page_map(p, s.populated[c])}"
            )
    return ", ".join(parts)


class ModelReplay:
    """Feed it a log's records in order, then call finish()."""

    def __init__(
        self,
        model: Model,
        strict: bool = False,
        markers: set[tuple[str, str]] | None = None,
        max_states: int = MAX_STATES,
        max_candidates: int = MAX_CANDIDATES,
    ):
        self.model = model
        self.p = model.p
        self.x = Concrete()
        self.observer = Observer(model.kernel)
        self.cell = cell_bytes(model.p)
        self.strict = strict
        self.max_states = max_states
        self.max_candidates = max_candidates
        # marker names the log shows: all of them when the caller read the log
        # ahead (LogFacts), else each from its first line on
        self.observed: set[tuple[str, str]] = set(markers or ())
        # a log that shows percpu_enable_async() (an initcall) covers the boot
        self.boot_seen = ("percpu_enable_async", "do_one_initcall") in self.observed
        self.out = Outcome()
        self.stopped = False
        self.reported: set[str] = set()
        self.pruned_at: int | None = None  # first line where explanations were dropped
        self.cache: dict[State, list[Succ]] = {}
        self.violated_cache: dict[State, frozenset] = {}
        init = model.init()
        self.cands: set[Cand] = {
            Cand(
                init,
                (None,) * self.p.nr_contexts,
                (None,) * self.p.nr_chunks,
                (),
                None,
                self.violations(init, frozenset()),
            )
        }

    # -- the model side --------------------------------------------------------

    def violations(self, s: State, before: frozenset) -> frozenset:
        """`before` and the properties `s` violates (computed once per state,
        and only for states a candidate reaches)."""
        bad = self.violated_cache.get(s)
        if bad is None:
            k = self.model.kernel
            bad = frozenset(n for n, prop in PROPERTIES.items() if not prop.holds(self.x, k, s))
            if len(self.violated_cache) >= SUCCESSOR_CACHE:
                self.violated_cache.clear()
            self.violated_cache[s] = bad
        return before | bad if bad else before

    def successors(self, s: State) -> list[Succ]:
        got = self.cache.get(s)
        if got is not None:
            return got
        actions = self.model.actions
        out = [
            Succ(ai, t, tuple(self.observer.lines(actions[ai], s, t)))
            for ai, _, t in self.model.successors(s)
        ]
        if len(self.cache) >= SUCCESSOR_CACHE:
            self.cache.clear()
        self.cache[s] = out
        return out

    def shown(self, lines: tuple) -> tuple:
        """The lines of a step the log would show."""
        return tuple(o for o in lines if o.marker_key is None or o.marker_key in self.observed)

    # -- matching one model line against one log line ------------------------

    def mismatch(self, c: Cand, a: Action, o: Obs, ln: Line, post: State) -> str | None:
        """Why model line `o` of action `a` is not log line `ln` (None: it is)."""
        if o.kind != ln.kind:
            return f"would print {self.show(o, c)}"
        return self.task_mismatch(c, a.context, o, ln) or self.line_mismatch(c, o, ln, post)

    def task_mismatch(self, c: Cand, who: Context, o: Obs, ln: Line) -> str | None:
        """Why the task printing `ln` cannot be `who` (None: it can)."""
        if who.role is Role.ALLOC and o.kind != FREE:
            i = who.index
            owner = c.tasks[i]
            if owner is not None and owner != ln.pid:
                return f"{who}'s call in progress is task pid {owner}'s, not pid {ln.pid}'s"
            if any(t == ln.pid for j, t in enumerate(c.tasks) if j != i):
                return f"task pid {ln.pid} is inside another pcpu_alloc() call"
        elif who.role in (Role.BALANCE, Role.MAP_EXTEND):
            if not (ln.comm.startswith("kworker/") or ln.comm == "<...>"):
                return f"{who.tag} work runs on a kworker, not in task {ln.comm}"
        return None

    def line_mismatch(self, c: Cand, o: Obs, ln: Line, post: State) -> str | None:
        """Why model line `o` is not log line `ln` of the same kind, its
        task aside (None: it is)."""
        cell = self.cell
        if o.kind == ALLOC:
            chunk, off, size, align, atomic, reserved = o.args
            base, loff, lsize, lalign, latomic, lreserved = ln.args
            if (lsize, lalign, latomic, lreserved) != (size * cell, align * cell, atomic, reserved):
                return f"would print {self.show(o, c)}"
            return self.base_mismatch(c, chunk, base) or (
                None if loff == off * cell else f"would print {self.show(o, c)}"
            )
        if o.kind == FAIL:
            size, align, atomic, reserved = o.args
            if ln.args != (size * cell, align * cell, atomic, reserved):
                return f"would print {self.show(o, c)}"
            return None
        if o.kind == FREE:
            chunk, off = o.args
            return self.base_mismatch(c, chunk, ln.args[0]) or (
                None if ln.args[1] == off * cell else f"would print {self.show(o, c)}"
            )
        if o.kind == CREATE:
            base = ln.args[0]
            if any(b == base and post.live[j] for j, b in enumerate(c.bases)):
                return f"base_addr={base:x} is a live chunk's"
            return None
        if o.kind == DESTROY:
            return self.base_mismatch(c, o.args[0], ln.args[0])
        if o.kind == FUNC:
            return None if o.args == ln.args else f"would print {self.show(o, c)}"
        if o.args[0] != ln.args[0]:
            return f"would print {self.show(o, c)}"
        fetched = ln.args[1]
        for key, kind, v in o.args[2] if len(o.args) > 2 else ():
            if key not in fetched:
                continue  # a probe that does not fetch it shows nothing about it
            try:
                got = int(fetched[key], 16 if kind == "chunk" else 0)
            except ValueError:
                continue
            if kind == "chunk":
                if (why := self.base_mismatch(c, v, got)) is not None:
                    return why
            elif got != (v * cell if kind == "cells" else v):
                return f"would print {self.show(o, c)}"
        return None

    def base_mismatch(self, c: Cand, chunk: int, base: int | None) -> str | None:
        bound = c.bases[chunk]
        if bound is not None:
            return None if bound == base else (f"would name chunk {chunk} (base_addr={bound:x})")
        if base in c.bases:
            return f"base_addr={base:x} is chunk {c.bases.index(base)}'s"
        if chunk >= self.p.first_dynamic:
            return f"chunk {chunk} was created without a percpu_create_chunk line"
        return None

    def show(self, o: Obs, c: Cand) -> str:
        cell = self.cell
        if o.kind in (ALLOC, FREE, DESTROY):
            b = c.bases[o.args[0]]
            where = f"chunk {o.args[0]}" + (f" (base_addr={b:x})" if b is not None else "")
            if o.kind == DESTROY:
                return f"percpu_destroy_chunk of {where}"
            if o.kind == FREE:
                return f"percpu_free_percpu off={o.args[1] * cell} in {where}"
            _, off, size, align, atomic, reserved = o.args
            return (
                f"percpu_alloc_percpu off={off * cell} size={size * cell} align="
                f"{align * cell} is_atomic={int(atomic)} reserved={int(reserved)} in {where}"
            )
        if o.kind == FAIL:
            size, align, atomic, reserved = o.args
            return (
                f"percpu_alloc_percpu_fail size={size * cell} align={align * cell} "
                f"is_atomic={int(atomic)} reserved={int(reserved)}"
            )
        if o.kind == CREATE:
            return f"percpu_create_chunk (chunk {o.args[0]})"
        if o.kind == FUNC:
            return f"'{o.args[0]} <-{o.args[1]}'"
        args = " ".join(
            f"{key}={'chunk ' if kind == 'chunk' else ''}{v * cell if kind == 'cells' else v}"
            for key, kind, v in (o.args[2] if len(o.args) > 2 else ())
        )
        return f"probe {o.args[0]}" + (f" {args}" if args else "")

    def bind(self, c: Cand, a: Action, o: Obs, ln: Line, post: State) -> tuple[tuple, tuple]:
        """The bindings after model line `o` matched `ln`."""
        tasks, bases = c.tasks, c.bases
        if a.ctx is not None and o.kind != FREE:
            i = a.ctx
            t = ln.pid if post.pc[i] != AllocPc.IDLE else None
            if tasks[i] != t:
                tasks = tasks[:i] + (t,) + tasks[i + 1 :]
        if o.kind in (ALLOC, FREE, CREATE, DESTROY):
            chunk = o.args[0]
            b = None if o.kind == DESTROY else ln.args[0]
            if bases[chunk] != b:
                bases = bases[:chunk] + (b,) + bases[chunk + 1 :]
        return tasks, bases

    # -- one line --------------------------------------------------------------

    def feed(self, record: Record) -> None:
        if self.stopped:
            return
        if isinstance(record, LostEvents):
            self.stop(record.line, "lost events: the replay cannot bridge a gap")
            return
        if not isinstance(record, Event):
            return
        ln = line_of(record)
        if ln is None:
            return
        if ln.kind in (FUNC, PROBE):
            self.observed.add(marker_key(record))  # type: ignore[arg-type]
            if ln.args[0] == "percpu_enable_async":
                self.boot_seen = True
        new: dict[Cand, None] = {}
        settled = [c for c in self.cands if not c.pending]
        for c in self.cands:
            if c.pending:
                o = c.pending[0]
                if c.pid == ln.pid and self.mismatch_pending(c, o, ln) is None:
                    new[self.advance_pending(c, o, ln)] = None
        visited, complete = self.search(settled, ln, new)
        if not new:
            self.unexplained(ln, visited, complete)
            return
        self.out.max_candidates = max(self.out.max_candidates, len(new))
        if not complete:
            self.prune(ln, f"more than {self.max_states} states reachable by unlogged steps")
        kept = list(new)
        if len(kept) > self.max_candidates:
            # keep the explanations that guess least: the fewest calls in
            # progress no line has shown yet, then the fewest unlogged steps
            kept.sort(key=self.speculation)
            kept = kept[: self.max_candidates]
            self.prune(ln, f"more than {self.max_candidates} candidate states")
        self.cands = set(kept)
        if not self.pruned_at:
            self.check_properties(ln)

    def speculation(self, c: Cand) -> int:
        """How much an explanation guesses: calls in progress no line has
        shown yet (one of them may be the call the next line ends, so it is
        free), and a balance work run in progress."""
        s = c.state
        unseen = sum(1 for i, pc in enumerate(s.pc) if pc != AllocPc.IDLE and c.tasks[i] is None)
        return max(0, unseen - 1) + (s.balance_pc != BalancePc.IDLE)

    def prune(self, ln: Line, why: str) -> None:
        """The candidate set is no longer every explanation: a line none
        explains, or a violation, can no longer be claimed."""
        if not self.pruned_at:
            self.pruned_at = ln.event.line
            self.out.notes.append(
                f"search bounded from line {ln.event.line} ({why}): the replay "
                "goes on with the simplest explanations; a line none of them "
                "explains is noted, not reported, and properties are not judged"
            )

    def mismatch_pending(self, c: Cand, o: Obs, ln: Line) -> str | None:
        # the rest of a step: same task, same line
        if o.kind != ln.kind:
            return f"would print {self.show(o, c)} first"
        return self.line_mismatch(c, o, ln, c.state)

    def advance_pending(self, c: Cand, o: Obs, ln: Line) -> Cand:
        bases = c.bases
        if o.kind in (ALLOC, FREE, CREATE, DESTROY):
            chunk = o.args[0]
            b = None if o.kind == DESTROY else ln.args[0]
            bases = bases[:chunk] + (b,) + bases[chunk + 1 :]
        rest = c.pending[1:]
        return c._replace(bases=bases, pending=rest, pid=c.pid if rest else None)

    def search(self, start: list[Cand], ln: Line, new: dict[Cand, None]) -> tuple[list[Cand], bool]:
        """Unlogged steps from the candidates, then a step printing `ln`: its
        matches go into `new`.  Best first: the states that guess least (see
        speculation), then the fewest unlogged steps.  Returns the states
        visited and whether the search was complete (not cut by max_states
        or by enough matches)."""
        actions = self.model.actions
        seen: dict[Cand, None] = dict.fromkeys(start)
        heap = [(self.speculation(c), 0, n, c) for n, c in enumerate(start)]
        heapq.heapify(heap)
        tie = len(heap)
        while heap:
            if len(seen) >= self.max_states or len(new) >= self.max_candidates:
                return list(seen), False
            _, depth, _, c = heapq.heappop(heap)
            for sc in self.successors(c.state):
                lines = self.shown(sc.lines)
                if not lines:
                    nxt = symmetric(
                        Cand(
                            sc.post,
                            c.tasks,
                            c.bases,
                            (),
                            None,
                            self.violations(sc.post, c.violated),
                        ),
                        self.p,
                    )
                    if nxt not in seen:
                        seen[nxt] = None
                        tie += 1
                        heapq.heappush(heap, (self.speculation(nxt), depth + 1, tie, nxt))
                    continue
                a = actions[sc.action]
                if self.mismatch(c, a, lines[0], ln, sc.post) is not None:
                    continue
                tasks, bases = self.bind(c, a, lines[0], ln, sc.post)
                new[
                    symmetric(
                        Cand(
                            sc.post,
                            tasks,
                            bases,
                            lines[1:],
                            ln.pid if len(lines) > 1 else None,
                            self.violations(sc.post, c.violated),
                        ),
                        self.p,
                    )
                ] = None
        return list(seen), True

    def check_properties(self, ln: Line) -> None:
        if any(c.pending for c in self.cands):
            return
        common = frozenset.intersection(*(c.violated for c in self.cands)) - self.reported
        for name in sorted(common):
            self.reported.add(name)
            self.out.findings.append(
                Violation(
                    ln.event.line,
                    name,
                    f"every run of the model that explains the log up to here violates {name} "
                    f"({PROPERTIES[name].promise}); e.g. {describe(self.p, next(iter(self.cands)).state)}",
                    ln.event.text,
                )
            )

    def stop(self, line: int, why: str) -> None:
        self.stopped = True
        self.out.decided = False
        self.out.notes.append(f"conformance not decided from line {line} on: {why}")

    # -- explaining a line no candidate explains -----------------------------

    def unexplained(self, ln: Line, visited: list[Cand], complete: bool) -> None:
        if not complete or self.pruned_at:
            self.stop(
                ln.event.line,
                "none of the explanations kept explains this line, and "
                "the search was bounded"
                + (
                    f" from line {self.pruned_at}"
                    if self.pruned_at
                    else f" ({self.max_states} states)"
                ),
            )
            return
        if not (self.strict or self.boot_seen):
            self.stop(
                ln.event.line,
                "no run from boot explains this line, and the log may "
                "start after boot (no percpu_enable_async line, no --strict)",
            )
            return
        self.stopped = True
        self.out.findings.append(
            Violation(ln.event.line, "nonconforming", self.explain(ln, visited), ln.event.text)
        )

    def explain(self, ln: Line, visited: list[Cand]) -> str:
        actions = self.model.actions
        reasons: dict[str, dict[str, None]] = {}
        pending = [c for c in self.cands if c.pending]
        for c in pending[:50]:
            why = (
                self.mismatch_pending(c, c.pending[0], ln)
                if c.pid == ln.pid
                else f"task pid {c.pid} would print {self.show(c.pending[0], c)} first"
            )
            reasons.setdefault("the step in progress", {})[why or ""] = None
        relevant = [ai for ai, a in enumerate(actions) if self.may_print(a, ln.kind, ln.args[0])]
        for c in visited[:200]:
            enabled = {}
            for sc in self.successors(c.state):
                lines = self.shown(sc.lines)
                if lines:
                    enabled.setdefault(sc.action, []).append((sc, lines))
            for ai in relevant:
                a = actions[ai]
                label = f"{a.name} ({a.context})"
                if ai not in enabled:
                    reasons.setdefault(label, {})[self.not_enabled(a, c.state)] = None
                    continue
                for sc, lines in enabled[ai]:
                    why = self.mismatch(c, a, lines[0], ln, sc.post)
                    if why is not None:
                        reasons.setdefault(label, {})[why] = None
        n = len(visited) + len(pending)
        head = (
            f"no run of the model explains this line: {n} candidate states after "
            f"unlogged steps (e.g. {describe(self.p, (visited or pending)[0].state)})"
        )
        parts = []
        for label, whys in reasons.items():
            shown = list(whys)[:3]
            more = f" (+{len(whys) - 3} more)" if len(whys) > 3 else ""
            parts.append(f"{label}: {'; '.join(shown)}{more}")
        return head + ". Tried: " + " | ".join(parts) if parts else head

    @staticmethod
    def may_print(a: Action, kind: str, name: str) -> bool:
        """Could action `a` print a line of this kind (a marker: of this
        function or probe name)? (for the explanation)"""
        log = a.kind.log
        if kind == FUNC:
            return log.call is not None and log.call[0] == name
        if kind == PROBE:
            return any(m == (name, "") for m in log.markers)
        return kind in log.tracepoints

    def not_enabled(self, a: Action, s: State) -> str:
        """Why `a` cannot run in `s`, in kernel terms."""
        who = a.context
        mutex = owner_name(self.p, s.alloc_mutex)
        if a.ctx is not None:
            pc = AllocPc(s.pc[a.ctx])
            if a.kind is Kind.FREE:
                return f"{who} holds no allocation"
            extra = f", pcpu_alloc_mutex held by {mutex}" if s.alloc_mutex != MUTEX_FREE else ""
            return f"not enabled: {who} is at {pc.name}{extra}"
        if who.role is Role.BALANCE:
            bpc = BalancePc(s.balance_pc)
            if bpc == BalancePc.MUTEX and s.alloc_mutex != MUTEX_FREE:
                return f"not enabled: the balance work waits for pcpu_alloc_mutex, held by {mutex}"
            if bpc == BalancePc.IDLE:
                return "not enabled: the balance work is not running" + (
                    "" if s.balance_pending else " nor scheduled"
                )
            return f"not enabled: the balance work is at {bpc.name}"
        return "not enabled"

    def finish(self) -> Outcome:
        return self.out


def marker_key(record: Record) -> tuple[str, str] | None:
    if isinstance(record, FunctionCall):
        return (record.function, record.parent)
    if isinstance(record, ProbeHit):
        return (record.name, "")
    return None


class LogFacts:
    """What the replay must know of a log before it starts, gathered while
    level 1 reads it: the marker names the log shows, and the requests'
    (size, align) pairs in bytes (is the log at a spec's model scale?)."""

    def __init__(self) -> None:
        self.markers: set[tuple[str, str]] = set()
        self.requests: set[tuple[int, int]] = set()

    def feed(self, record: Record) -> None:
        if (k := marker_key(record)) is not None:
            self.markers.add(k)
        elif isinstance(record, (PercpuAlloc, PercpuAllocFail)):
            self.requests.add((record.size, record.align))

    def model_scale(self, p: Params) -> bool:
        """Every request of the log is one of the spec's, at one cell =
        PAGE_SIZE / cells_per_page bytes."""
        cell = cell_bytes(p)
        sizes = {s * cell for s in p.sizes}
        aligns = {a * cell for a in p.aligns}
        return bool(self.requests) and all(s in sizes and a in aligns for s, a in self.requests)


@dataclass
class Conformance:
    """What check-trace --spec adds to a file's report: the level-2
    findings, and notes on the scale and on how far the replay got."""

    spec: str
    findings: list[Violation]
    notes: list[str]

    def lines(self) -> list[str]:
        """The notes as check-trace shows them."""
        return [f"conformance ({self.spec}): {n}" for n in self.notes]


def every_step_traced(path: str) -> bool:
    """Does the log's header (as check-model writes it) claim that every
    unlogged step printed its function or probe line?"""
    with open_log(path) as lines:
        for _, line in zip(range(HEADER_LINES), lines):
            if line.startswith("# percpu-mc:") and EVERY_STEP_TRACED in line:
                return True
    return False


def conform_file(
    path: str,
    spec_name: str,
    strict: bool,
    unit_size: int | None,
    read: Callable[[str], Iterator[Record]],
    facts: LogFacts | None = None,
    partial: PartialView | None = None,
) -> Conformance:
    """Replay the log at `path` (read with `read`) against the spec; `facts`
    from the caller's own reading of the log, else from a first pass.  A
    partial capture (level 1 found some CPUs' events missing) is not judged:
    a run of the model explains every CPU's lines, and the missing CPUs'
    steps are neither unlogged steps nor an unknown past the replay could
    skip."""
    spec = specs.load(spec_name)
    if partial is not None:
        cpus = ",".join(map(str, partial.seen)) or "none"
        return Conformance(
            spec.name,
            [],
            [
                f"conformance not decided: a partial capture (CPUs {cpus} seen); "
                "check the merged trace of every CPU"
            ],
        )
    p = spec.params
    if facts is None:
        facts = LogFacts()
        for rec in read(path):
            facts.feed(rec)
    if facts.model_scale(p):
        markers = ALL_MARKERS if every_step_traced(path) else facts.markers
        replay = ModelReplay(Model(p), strict, markers)
        for rec in read(path):
            replay.feed(rec)
        out = replay.finish()
        geometry = (
            f"model scale: one cell = {cell_bytes(p)} bytes, units of {p.unit_pages} "
            f"pages, {p.nr_chunks} chunk structs, {p.nr_contexts} allocating contexts "
            "(the spec's geometry: every request is one of its sizes)"
        )
        notes = [geometry] + out.notes
        if not out.findings and out.decided:
            notes.append(f"every line explained (at most {out.max_candidates} candidate states)")
        return Conformance(spec.name, out.findings, notes)
    real = RealReplay(p, unit_size)
    for rec in read(path):
        real.feed(rec)
    real.finish()
    unit = f"unit size {unit_size} bytes (--unit-size)" if unit_size else "unit size unknown"
    notes = [
        f"real scale, 4 KiB pages, {unit}; offsets, population and the balance work's "
        "timing are free choices (over-approximated)"
    ] + real.notes
    if not real.findings:
        notes.append("no line contradicts the spec's code paths")
    return Conformance(spec.name, real.findings, notes)
