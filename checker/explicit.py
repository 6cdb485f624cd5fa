"""Explicit-state engine: breadth-first search over the concrete interpretation.

Breadth-first order makes every counterexample a shortest one.  The search
is exhaustive when the frontier empties before the depth bound; otherwise
it covers every run of at most `depth` steps.  Limits: states are kept in
memory (a dict of parents), so it stops being useful where the symbolic
engine has to take over.
"""
from __future__ import annotations

import itertools
import time
from typing import Callable, Iterator

from checker.result import Result, RunStats, Trace, TraceStep
from model.actions import Action
from model.machine import Model
from model.ops import Concrete
from model.properties import Property
from model.state import State

Progress = Callable[[int, int], None]  # (depth, states)


def choice_combos(model: Model, a: Action) -> list[dict[str, int]]:
    """Every combination of the action's own choices."""
    return [dict(zip(a.choices, combo))
            for combo in itertools.product(*(model.domains[c] for c in a.choices))]


def successors(model: Model, s: State) -> Iterator[tuple[int, dict[str, int], State]]:
    """(action index, its choices, successor) for every enabled step."""
    x = Concrete()
    for ai, a in enumerate(model.actions):
        for ch in choice_combos(model, a):
            enabled, t = model.step(x, s, a, ch)
            if enabled:
                yield ai, ch, t


class ExplicitEngine:
    def __init__(self, model: Model, props: list[Property]):
        self.model = model
        self.props = props

    def violated(self, s: State) -> list[str]:
        x = Concrete()
        return [p.name for p in self.props if not p.holds(x, self.model.kernel, s)]

    def trace_to(self, parents: dict, s: State) -> Trace:
        steps: list[TraceStep] = []
        while parents[s] is not None:
            prev, ai, ch = parents[s]
            steps.append(TraceStep(ai, ch, s))
            s = prev
        return Trace(s, tuple(reversed(steps)))

    def run(self, depth: int, progress: Progress | None = None) -> tuple[list[Result], RunStats]:
        start = time.monotonic()
        stats = RunStats()
        init = self.model.init()
        parents: dict[State, tuple[State, int, dict[str, int]] | None] = {init: None}
        found: dict[str, Result] = {}

        def record(s: State, d: int) -> None:
            for name in self.violated(s):
                if name not in found:
                    found[name] = Result(name, "violated", d, self.trace_to(parents, s),
                                         seconds=time.monotonic() - start)

        record(init, 0)
        frontier = [init]
        d = 0
        while frontier and d < depth and len(found) < len(self.props):
            d += 1
            nxt: list[State] = []
            for s in frontier:
                for ai, ch, t in successors(self.model, s):
                    if t not in parents:
                        parents[t] = (s, ai, ch)
                        nxt.append(t)
                        record(t, d)
            frontier = nxt
            if progress:
                progress(d, len(parents))
        exhaustive = not frontier
        stats.states = len(parents)
        stats.seconds = time.monotonic() - start
        results = []
        for p in self.props:
            if p.name in found:
                results.append(found[p.name])
            else:
                results.append(Result(p.name, "holds", d if not exhaustive else depth,
                                      exhaustive=exhaustive, seconds=stats.seconds))
        return results, stats
