"""The compiled explicit engine: breadth-first search over packed states in
native code (checker/engines/native.py), with symmetry reduction.

Breadth-first order makes every counterexample a shortest one, and the
search is exhaustive when the frontier empties before the bound, as in the
pure-Python engine (checker/engines/explicit.py, the reference).  With
`reduce`, one canonical representative of each class of states equal up to
a permutation of the allocating contexts and of the dynamic chunk structs is
stored: sound because every action and property treats them alike
(tests/test_compiled.py checks that the successors of a permuted state are
the permuted successors).  Also with `reduce`, a search keeps only the
history variables in the cone of influence of the properties it checks
(zeroed before a state is stored: drop_history), and with `split` the
properties that depend on different history are searched apart
(CompiledEngine.groups), so the memory is that of the largest search
rather than of the product.  A counterexample found on representatives is
rebuilt on the concrete interpretation: from the initial state, each step is
the concrete step whose successor has the stored representative, so what is
printed is a run of the model itself.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any, Sequence

from percpu_mc.checker.engines.native import Native
from percpu_mc.checker.result import (
    UNWATCHED,
    Holds,
    Result,
    RunStats,
    Unknown,
    Violated,
    Watch,
    interrupted,
)
from percpu_mc.model.machine import Model, Trace, TraceStep
from percpu_mc.model.ops import Concrete
from percpu_mc.model.properties import Property
from percpu_mc.model.reduction import forget_dead
from percpu_mc.model.state import State

ERRORS = {2: "out of memory", 3: "the state limit was reached"}


class SearchError(RuntimeError):
    """The search could not go on (a field left its packed range, memory)."""


class Spurious(Exception):
    """A run of the saturated counter's abstraction that the concrete
    model does not replay."""


SPURIOUS = (
    "spurious: the search of the saturated counter's abstraction found a run "
    "the concrete model does not replay (docs/model.md, the saturated counter)"
)


@dataclass
class CompiledStats(RunStats):
    transitions: int = 0
    bytes: int = 0  # memory the largest search held at its end
    largest: int = 0  # states stored by the largest search
    searches: int = 0  # one per group of properties (CompiledEngine.groups)
    words: int = 0  # 64-bit words per packed state
    reduced: bool = True
    stopped: bool = False
    saturated: int = 0  # successors stored with the counter saturated


@dataclass(frozen=True)
class Group:
    """One search: the history slots it keeps (bit h for HIST[h]) and the
    indices of the native properties it checks."""

    keep: int
    checks: tuple[int, ...]


class CompiledEngine:
    def __init__(
        self,
        model: Model,
        props: list[Property],
        reduce: bool = True,
        max_states: int = 2**32 - 2,
        split: bool = False,
    ):
        self.model = model
        self.props = props
        self.reduce = reduce
        self.max_states = max_states
        self.split = split  # with reduce: a search per history cone (groups), else one

    def groups(self, native: Native, premised: list[Property]) -> list[Group]:
        """The searches to run: one, keeping the history every property
        reads (with its premise: native.cones), or with `split` one per
        distinct cone, smallest first, those that read no history joining
        the smallest.  The product stores a state per combination of the
        properties' histories; apart, the largest search bounds the memory
        and the sum of them the time."""
        n = len(self.props)
        checks = [
            (k,) + ((n + premised.index(p),) if p.premise is not None else ())
            for k, p in enumerate(self.props)
        ]
        every = tuple(i for c in checks for i in c)
        if not self.reduce:
            return [Group(native.keep_every, every)]
        if not self.split:
            return [Group(native.keep_all, every)]
        by_cone: dict[int, list[int]] = {}
        for c in checks:
            cone = 0
            for i in c:
                cone |= native.cones[i]
            by_cone.setdefault(cone, []).extend(c)
        free = by_cone.pop(0, [])
        order = sorted(by_cone, key=lambda cone: (cone.bit_count(), cone))
        if not order:
            return [Group(0, tuple(sorted(free)))]
        by_cone[order[0]] += free
        return [Group(cone, tuple(sorted(by_cone[cone]))) for cone in order]

    def run(self, depth: int, watch: Watch = UNWATCHED) -> tuple[list[Result], CompiledStats]:
        start = time.monotonic()
        # each premise searched as a pseudo-property violated where it holds
        premised = [p for p in self.props if p.premise is not None]
        native = Native.load(
            self.model, self.props + [p.premise_reached() for p in premised], depth
        )
        groups = self.groups(native, premised)
        stats = CompiledStats(words=native.layout.words, reduced=self.reduce, searches=len(groups))
        found: dict[str, Result] = {}
        for g, group in enumerate(groups):
            label = f"search {g + 1}/{len(groups)}, " if len(groups) > 1 else ""
            r, level_done, traces = self.search(
                native, group, depth, watch, start, stats.states, label
            )
            if r.error == 1:
                raise SearchError(native.layout.slots[r.error_field].outside(r.error_value))
            if r.error:
                raise SearchError(ERRORS[r.error] + f" after {r.states} states")
            seconds = time.monotonic() - start
            for k, p in enumerate(self.props):
                if k not in group.checks:
                    continue
                if k in traces and traces[k] is None:
                    found[p.name] = Unknown(p.name, SPURIOUS, r.depth, seconds, engine="explicit")
                elif k in traces:
                    trace = traces[k]
                    found[p.name] = Violated(
                        p.name, trace, level_done.get(len(trace.steps), seconds), engine="explicit"
                    )
                elif r.stopped:
                    found[p.name] = replace(
                        interrupted(p.name, r.depth, seconds), engine="explicit"
                    )
                else:
                    vacuous = (
                        None
                        if p.premise is None
                        else r.viol_index[len(self.props) + premised.index(p)] < 0
                    )
                    found[p.name] = Holds(
                        p.name,
                        depth if r.exhaustive else r.depth,
                        bool(r.exhaustive),
                        seconds,
                        engine="explicit",
                        vacuous=vacuous,
                    )
            stats.states += r.states
            stats.transitions += r.transitions
            stats.bytes = max(stats.bytes, r.bytes)
            stats.largest = max(stats.largest, r.states)
            stats.saturated += r.saturated
            if r.stopped:
                stats.stopped = True
                break
        seconds = time.monotonic() - start
        stats.seconds = seconds
        if stats.saturated:
            stats.note = (
                f"the counter saturated at {native.saturation.floor} in {stats.saturated} "  # type: ignore[union-attr]
                "successors: verdicts of the abstraction (docs/model.md, the saturated "
                "counter), violations replayed concretely"
            )
        return [
            found.get(p.name) or replace(interrupted(p.name, 0, seconds), engine="explicit")
            for p in self.props
        ], stats

    def search(
        self,
        native: Native,
        group: Group,
        depth: int,
        watch: Watch,
        start: float,
        before: int,
        label: str,
    ) -> tuple[Any, dict[int, float], dict[int, Trace | None]]:
        """One group's search: its result_t, when each level was done (a
        violation d steps deep is settled then), and the run to each
        property's first violation."""
        ffi, lib = native.ffi, native.lib
        handle = lib.search_new()
        if handle == ffi.NULL:
            raise SearchError("out of memory")
        try:
            r = ffi.new("result_t *")
            level_done: dict[int, float] = {}

            @ffi.callback("int(int, int64_t, int64_t)")
            def report(d: int, states: int, held: int) -> int:
                # called at the end of each level and every 65,536 expansions within one
                if d == r.depth:
                    level_done[d] = time.monotonic() - start
                    watch.level(d, states=before + states)
                watch.show(
                    f"{label}depth {min(d + (d == r.depth), depth)}/{depth}", before + states
                )
                return 1 if watch.stopped() else 0

            init = ffi.new("int64_t[]", native.layout.flatten(self.model.init()))
            check = sum(1 << i for i in group.checks)
            lib.search_run(
                handle, init, depth, int(self.reduce), self.max_states, group.keep, check, report, r
            )
            traces = {
                k: self.replayed(native, handle, group.keep, r.viol_index[k], self.props[k])
                for k in range(len(self.props))
                if k in group.checks and r.viol_index[k] >= 0 and not r.error
            }
            return r, level_done, traces
        finally:
            lib.search_free(handle)

    def replayed(
        self, native: Native, handle: object, keep: int, idx: int, prop: Property
    ) -> Trace | None:
        """The run to stored state `idx`, which violates `prop`, on the
        concrete interpretation; None when the run rests on the saturated
        counter and the concrete model does not replay it (spurious)."""
        try:
            trace = self.rebuild(native, handle, keep, idx)
        except Spurious:
            return None
        last = trace.steps[-1].state if trace.steps else trace.init
        if prop.holds(Concrete(), self.model.kernel, last):
            return None  # only the abstraction's value violates it
        return trace

    def rebuild(self, native: Native, handle: object, keep: int, idx: int) -> Trace:
        """The run to stored state `idx`, on the concrete interpretation."""
        ffi, lib = native.ffi, native.lib
        chain = [idx]
        while chain[-1] != 0:
            chain.append(lib.search_parent(handle, chain[-1]))
        words = []
        for i in reversed(chain):  # stored states from the initial state to idx
            w = ffi.new("uint64_t[]", native.layout.words)
            lib.batch_state(handle, i, 1, w)
            words.append(tuple(w))
        return rebuild_run(self.model, native, self.reduce, keep, words)


def rebuild_run(
    model: Model, native: Native, reduce: bool, keep: int, chain: Sequence[tuple[int, ...]]
) -> Trace:
    """The run through the stored (packed) states `chain`, the initial
    state's first, on the concrete interpretation.

    The stored states have their dead locals forgotten, so the steps are
    found on forgotten concrete states (the concrete step whose successor's
    stored form is the next in the chain), then run again from the initial
    state as they are: dead locals are never read before they are written,
    so each step is enabled and does the same there, and the property is
    checked again on the last state.  With the saturated counter the
    concrete successor is matched in its saturated form; a stored step with
    no concrete counterpart is then the abstraction's own (`Spurious`)."""
    ffi, lib = native.ffi, native.lib
    w = ffi.new("uint64_t[]", native.layout.words)
    s: State = model.init()
    found: list[tuple[int, dict[str, int]]] = []
    for k, target in enumerate(chain[1:], 1):
        f = forget_dead(s) if reduce else s
        match = None
        for ai, ch, t in model.successors(f):
            flat = native.layout.flatten(t)
            if native.saturation is not None:
                flat = native.saturation.clamp(flat)
            lib.batch_pack(ffi.new("int64_t[]", flat), int(reduce), keep, w)
            if tuple(w) == tuple(target):
                match = (ai, ch, t)
                break
        if match is None:
            if native.saturation is not None and any(
                native.layout.unpack(c)[native.saturation.slot] == native.saturation.floor
                for c in chain[: k + 1]
            ):
                raise Spurious(f"stored step {k} has no concrete counterpart")
            raise AssertionError(
                f"compiled step {k} of a stored run has no concrete "
                "counterpart: the interpretations disagree"
            )
        found.append((match[0], match[1]))
        s = match[2]
    x = Concrete()
    s = model.init()
    steps: list[TraceStep] = []
    for ai, ch in found:
        enabled, t = model.step(x, s, model.actions[ai], ch)
        assert enabled, f"step {len(steps) + 1} of a rebuilt run is not enabled"
        steps.append(TraceStep(ai, ch, t))
        s = t
    return Trace(model.init(), tuple(steps))
