"""The compiled explicit engine: breadth-first search over packed states in
native code (checker/engines/native.py), with symmetry reduction.

Breadth-first order makes every counterexample a shortest one, and the
search is exhaustive when the frontier empties before the bound, as in the
pure-Python engine (checker/engines/explicit.py, the reference).  With
`reduce`, one canonical representative of each class of states equal up to
a permutation of the allocating contexts and of the dynamic chunk structs is
stored: sound because every action and property treats them alike
(tests/test_compiled.py checks that the successors of a permuted state are
the permuted successors).  History variables outside the cone of
influence of the checked properties are forgotten (zeroed before a state is
stored, native.py), so asking for fewer properties searches fewer states.
A counterexample found on representatives is
rebuilt on the concrete interpretation: from the initial state, each step is
the concrete step whose successor has the stored representative, so what is
printed is a run of the model itself.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Callable, Sequence

from percpu_mc.checker.engines.native import Native
from percpu_mc.checker.result import (Holds, Result, RunStats, Unwatched, Violated, Watch,
                                      interrupted)
from percpu_mc.model.machine import Model, Trace, TraceStep
from percpu_mc.model.ops import Concrete
from percpu_mc.model.properties import Property
from percpu_mc.model.state import State, forget_dead

Progress = Callable[[int, int], None]  # (depth, states)

ERRORS = {2: "out of memory", 3: "the state limit was reached"}


class SearchError(RuntimeError):
    """The search could not go on (a field left its packed range, memory)."""


@dataclass
class CompiledStats(RunStats):
    transitions: int = 0
    bytes: int = 0        # memory the search held at its end
    words: int = 0        # 64-bit words per packed state
    reduced: bool = True
    stopped: bool = False


class CompiledEngine:
    def __init__(self, model: Model, props: list[Property], reduce: bool = True,
                 max_states: int = 2**32 - 2):
        self.model = model
        self.props = props
        self.reduce = reduce
        self.max_states = max_states

    def run(self, depth: int, progress: Progress | None = None,
            stop: Callable[[], bool] | None = None,
            watch: Watch | None = None) -> tuple[list[Result], CompiledStats]:
        start = time.monotonic()
        asked = (watch or Unwatched()).stopped
        # each premise searched as a pseudo-property violated where it holds
        premised = [p for p in self.props if p.premise is not None]
        native = Native.load(self.model, self.props + [p.premise_reached() for p in premised],
                             depth)
        ffi, lib = native.ffi, native.lib
        handle = lib.search_new()
        if handle == ffi.NULL:
            raise SearchError("out of memory")
        try:
            r = ffi.new("result_t *")
            # when each level was done: a violation d steps deep is settled then
            level_done: dict[int, float] = {}

            @ffi.callback("int(int, int64_t, int64_t)")
            def report(d: int, states: int, held: int) -> int:
                # called at the end of each level and every 65,536 expansions within one
                if d == r.depth:
                    level_done[d] = time.monotonic() - start
                    if progress:
                        progress(d, states)
                if watch is not None:
                    watch.show(f"depth {min(d + (d == r.depth), depth)}/{depth}", states)
                return 1 if asked() or (stop is not None and stop()) else 0

            init = ffi.new("int64_t[]", native.layout.flatten(self.model.init()))
            lib.search_run(handle, init, depth, int(self.reduce), self.max_states, report, r)
            if r.error == 1:
                sl = native.layout.slots[r.error_field]
                where = sl.name if sl.index is None else f"{sl.name}[{sl.index}]"
                span = (f"values {list(sl.domain.values)}" if sl.domain.values
                        else f"range [{sl.domain.lo}, {sl.domain.hi}]")
                raise SearchError(f"{where} = {r.error_value} is outside its {span} "
                                  "(model/domains.py)")
            if r.error:
                raise SearchError(ERRORS[r.error] + f" after {r.states} states")
            results = []
            seconds = time.monotonic() - start
            for k, p in enumerate(self.props):
                idx = r.viol_index[k]
                if idx >= 0:
                    trace = self.rebuild(native, handle, idx)
                    results.append(Violated(p.name, trace,
                                            level_done.get(len(trace.steps), seconds),
                                            engine="explicit"))
                elif r.stopped and asked():
                    results.append(replace(interrupted(p.name, r.depth, seconds),
                                           engine="explicit"))
                else:
                    vacuous = (None if p.premise is None else
                               r.viol_index[len(self.props) + premised.index(p)] < 0)
                    results.append(Holds(p.name, depth if r.exhaustive else r.depth,
                                         bool(r.exhaustive), seconds, engine="explicit",
                                         vacuous=vacuous))
            stats = CompiledStats(states=r.states, seconds=time.monotonic() - start,
                                  transitions=r.transitions, bytes=r.bytes,
                                  words=native.layout.words, reduced=self.reduce,
                                  stopped=bool(r.stopped))
            return results, stats
        finally:
            lib.search_free(handle)

    def rebuild(self, native: Native, handle: object, idx: int) -> Trace:
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
        return rebuild_run(self.model, native, self.reduce, words)


def rebuild_run(model: Model, native: Native, reduce: bool,
                chain: Sequence[tuple[int, ...]]) -> Trace:
    """The run through the stored (packed) states `chain`, the initial
    state's first, on the concrete interpretation.

    The stored states have their dead locals forgotten, so the steps are
    found on forgotten concrete states (the concrete step whose successor's
    stored form is the next in the chain), then run again from the initial
    state as they are: dead locals are never read before they are written,
    so each step is enabled and does the same there, and the property is
    checked again on the last state."""
    ffi, lib = native.ffi, native.lib
    w = ffi.new("uint64_t[]", native.layout.words)
    s: State = model.init()
    found: list[tuple[int, dict[str, int]]] = []
    for k, target in enumerate(chain[1:], 1):
        f = forget_dead(s) if reduce else s
        match = None
        for ai, ch, t in model.successors(f):
            lib.batch_pack(ffi.new("int64_t[]", native.layout.flatten(t)), int(reduce), w)
            if tuple(w) == tuple(target):
                match = (ai, ch, t)
                break
        if match is None:
            raise AssertionError(f"compiled step {k} of a stored run has no concrete "
                                 "counterpart: the interpretations disagree")
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
