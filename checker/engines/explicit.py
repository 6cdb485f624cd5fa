"""Explicit-state engine: breadth-first search over the concrete interpretation.

Breadth-first order makes every counterexample a shortest one.  The search
is exhaustive when the frontier empties before the depth bound; otherwise
it covers every run of at most `depth` steps.  Limits: states are kept in
memory (a dict of parents), so it stops being useful where the symbolic
engine has to take over.  With a refinement (checker/engines/list_order.py's kernel
list order) the nodes are (state, order) and only the chunk choices the
kernel makes are explored: a shortest run the kernel itself can take.
"""

from __future__ import annotations

import time
from typing import Any, Hashable, Iterable, Iterator, Protocol

from percpu_mc.checker.result import (
    UNWATCHED,
    Holds,
    Result,
    RunStats,
    Violated,
    Watch,
    interrupted,
)
from percpu_mc.model.machine import Model, Trace, TraceStep
from percpu_mc.model.ops import Concrete
from percpu_mc.model.properties import Property
from percpu_mc.model.state import State


class Refinement(Protocol):
    """What the model state leaves out and the search should track (the
    kernel's list order, checker/engines/list_order.py): the nodes are (state,
    extra), and only the steps `steps` allows are explored."""

    def initial(self, s: State) -> Hashable: ...

    def steps(self, s: State, extra: Any) -> Iterable[tuple[int, dict[str, int], State]]: ...

    def advance(self, s: State, t: State, extra: Any) -> Hashable: ...


class ExplicitEngine:
    def __init__(self, model: Model, props: list[Property], refine: Refinement | None = None):
        self.model = model
        self.props = props
        self.refine = refine

    def violated(self, s: State) -> list[str]:
        x = Concrete()
        return [p.name for p in self.props if not p.holds(x, self.model.kernel, s)]

    def trace_to(self, parents: dict, node: tuple[State, Any]) -> Trace:
        steps: list[TraceStep] = []
        while parents[node] is not None:
            prev, ai, ch = parents[node]
            steps.append(TraceStep(ai, ch, node[0]))
            node = prev
        return Trace(node[0], tuple(reversed(steps)))

    def next_nodes(
        self, node: tuple[State, Any]
    ) -> Iterator[tuple[int, dict[str, int], tuple[State, Any]]]:
        """(action index, choices, successor node) of every step explored."""
        s, extra = node
        if self.refine is None:
            for ai, ch, t in self.model.successors(s):
                yield ai, ch, (t, None)
            return
        for ai, ch, t in self.refine.steps(s, extra):
            yield ai, ch, (t, self.refine.advance(s, t, extra))

    def run(self, depth: int, watch: Watch = UNWATCHED) -> tuple[list[Result], RunStats]:
        start = time.monotonic()
        stop = watch.stopped
        stats = RunStats()
        s0 = self.model.init()
        init = (s0, self.refine.initial(s0) if self.refine else None)
        parents: dict[tuple[State, Any], tuple[tuple[State, Any], int, dict[str, int]] | None] = {
            init: None
        }
        found: dict[str, Result] = {}
        premised = [p for p in self.props if p.premise is not None]
        met: set[str] = set()  # properties whose premise a visited state met
        x = Concrete()

        def record(node: tuple[State, Any], d: int) -> None:
            for name in self.violated(node[0]):
                if name not in found:
                    found[name] = Violated(
                        name, self.trace_to(parents, node), time.monotonic() - start
                    )
            for p in premised:
                if p.name not in met and p.premise(x, self.model.kernel, node[0]):  # type: ignore[misc]
                    met.add(p.name)

        record(init, 0)
        frontier = [init]
        d = 0
        while frontier and d < depth and len(found) < len(self.props) and not stop():
            d += 1
            nxt: list[tuple[State, Any]] = []
            for n, node in enumerate(frontier):
                if stop():
                    d -= 1  # this level is incomplete
                    break
                if n % 4096 == 0:
                    watch.show(f"depth {d}/{depth}", len(parents))
                for ai, ch, t in self.next_nodes(node):
                    if t not in parents:
                        parents[t] = (node, ai, ch)
                        nxt.append(t)
                        record(t, d)
            frontier = nxt
            watch.level(d, states=len(parents))
        exhaustive = not frontier
        stats.states = len(parents)
        stats.seconds = time.monotonic() - start
        results = []
        for p in self.props:
            if p.name in found:
                results.append(found[p.name])
            elif stop():
                results.append(interrupted(p.name, d, stats.seconds))
            else:
                results.append(
                    Holds(
                        p.name,
                        d if not exhaustive else depth,
                        exhaustive,
                        stats.seconds,
                        vacuous=None if p.premise is None else p.name not in met,
                    )
                )
        return results, stats
