"""Peephole partial-order reduction for the BMC unrolling (C. Wang, Z. Yang,
V. Kahlon, A. Gupta, "Peephole Partial Order Reduction", TACAS 2008).

Two steps of different contexts are independent when neither writes a state
field the other reads or writes (the guard counts as read).  Such a pair
commutes in every state: each is enabled after the other exactly when it
was before, and both orders end in the same state.  Swapping two adjacent
independent steps whose later context ranks first removes one inversion of
the run's context order, so every run can be rearranged into one with no
such pair, of the same length and with the same last state.  Forbidding the
pair at every two consecutive steps therefore keeps every state reachable in
exactly k steps, hence every verdict and the length of every shortest
counterexample, while the solver has fewer interleavings to refute.

The history variables (model/state.py, HISTORY_FIELDS) are written by every
step but read by none, so they are left out of the footprints: the
reduction holds for a property that does not read them (`applies`); the
others are checked without it.

It is opt-in (`check-model --reduction`): the solver's cost here lies in
the size of each step's formula more than in the interleavings, so fewer
runs do not mean an easier query.  It pays for seed's no-use-after-free
(the CVE) and costs where reduced and unreduced queries share a solver
(README, "Speed").
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import z3

from checker.symbolic import flat
from model.properties import Property
from model.state import HISTORY_FIELDS

if TYPE_CHECKING:
    from checker.bmc import TransitionRelation


@dataclass(frozen=True)
class Footprint:
    context: int            # rank of the action's context ("alloc#1", "balance work", ...)
    reads: frozenset[int]   # flat state indices its guard and new values read
    writes: frozenset[int]  # flat state indices it may change

    def independent(self, o: Footprint) -> bool:
        return (self.context != o.context and not self.writes & (o.reads | o.writes)
                and not o.writes & self.reads)


class Peephole:
    def __init__(self, trans: TransitionRelation):
        self.trans = trans
        labels = flat(trans.s0)
        self.index = {str(v): j for j, (_, v) in enumerate(labels)}
        self.history = frozenset(j for j, (name, _) in enumerate(labels)
                                 if name.split("[")[0] in HISTORY_FIELDS)
        # node id -> (node, its fields); holding the node keeps its id from being reused
        self.memo: dict[int, tuple[Any, frozenset[int]]] = {}
        contexts: dict[str, int] = {}
        # footprint class -> the instances (values of the act variable) in it
        self.classes: dict[Footprint, list[int]] = {}
        for n, ((ai, _), eff) in enumerate(zip(trans.instances, trans.effects)):
            if eff is None:
                continue
            guard, news = eff
            ctx = contexts.setdefault(trans.model.actions[ai].context, len(contexts))
            writes = frozenset(news) - self.history
            reads = self.fields(guard, *(news[j] for j in writes))
            if reads & self.history:  # the premise of leaving them out
                raise ValueError(f"{trans.model.actions[ai].name} reads a history variable")
            self.classes.setdefault(Footprint(ctx, reads, writes), []).append(n)
        # a class, and the classes of lower context rank that may not follow it
        self.forbidden = [(f, [g for g in self.classes if g.context < f.context and f.independent(g)])
                          for f in self.classes]

    def fields(self, *exprs: Any) -> frozenset[int]:
        """The state fields (by flat index) occurring in `exprs`."""
        out: set[int] = set()
        for e in exprs:
            if z3.is_expr(e):
                out |= self.fields_of(e)
        return frozenset(out)

    def fields_of(self, root: Any) -> frozenset[int]:
        """Post-order over the expression DAG, memoized by node."""
        stack = [(root, False)]
        while stack:
            e, expanded = stack.pop()
            key = e.get_id()
            if key in self.memo:
                continue
            kids = e.children()
            if expanded or not kids:
                j = self.index.get(str(e)) if not kids and z3.is_const(e) else None
                acc = set() if j is None else {j}
                for c in kids:
                    acc |= self.memo[c.get_id()][1]
                self.memo[key] = (e, frozenset(acc))
            else:
                stack.append((e, True))
                stack.extend((c, False) for c in kids if c.get_id() not in self.memo)
        return self.memo[root.get_id()][1]

    def applies(self, pr: Property) -> bool:
        """The property reads no history variable."""
        trans = self.trans
        ok = trans.x.boolean(pr.holds(trans.x, trans.model.kernel, trans.s0))
        return not self.fields(ok) & self.history

    def between(self, prev: Any, act: Any) -> Any:
        """Steps `prev` then `act` are not an independent pair in the wrong order."""
        def taken(a: Any, f: Footprint) -> Any:
            return z3.Or(*[a == n for n in self.classes[f]])
        return z3.And(*[z3.Implies(taken(prev, f), z3.Not(z3.Or(*[taken(act, g) for g in gs])))
                        for f, gs in self.forbidden if gs])
