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

Findings, in the shape of level 1 (checker/logs/findings.py, Violation):
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
from dataclasses import dataclass

from percpu_mc.checker.logs.findings import Violation
from percpu_mc.checker.logs.replay_explain import explain
from percpu_mc.checker.logs.replay_lines import (
    Cand,
    Line,
    Outcome,
    Succ,
    line_of,
    marker_key,
    symmetric,
)
from percpu_mc.checker.state_text import describe
from percpu_mc.model.actions import Action
from percpu_mc.model.control import AllocPc, BalancePc
from percpu_mc.model.machine import Model
from percpu_mc.model.ops import Concrete
from percpu_mc.model.properties import PROPERTIES
from percpu_mc.model.state import State
from percpu_mc.model.vocabulary import Context, Role
from percpu_mc.traces.events import Event, LostEvents, Record
from percpu_mc.traces.observe import ALLOC, CREATE, DESTROY, FAIL, FREE, FUNC, PROBE, Obs, Observer
from percpu_mc.traces.writer import cell_bytes, event_text

MAX_STATES = 2_000  # states explored per line (unlogged steps)
MAX_CANDIDATES = 100  # candidates kept between lines
SUCCESSOR_CACHE = 50_000  # states whose successors are remembered


@dataclass(frozen=True)
class NamedBases:
    """A candidate's chunk structs' base_addr, as far as the log has named
    them (traces/writer.py's Bases)."""

    bases: tuple

    def base_of(self, c: int) -> int | None:
        return self.bases[c]

    def create(self, c: int) -> int | None:
        return self.bases[c]


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
        """Model line `o` as the log would print it, in `c`'s bindings."""
        return event_text(o, self.p, NamedBases(c.bases))

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
            Violation(ln.event.line, "nonconforming", explain(self, ln, visited), ln.event.text)
        )

    def finish(self) -> Outcome:
        return self.out
