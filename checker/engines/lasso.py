"""Starvation as an infinite run: lasso-shaped counterexamples to the
unbounded form of atomic-progress, found by BMC on the same encoding.

A lasso is a prefix s0 .. sl and a loop sl .. sn with sn = sl on the kernel
state (the history variables, which only the bounded properties read, are
left out of the comparison), so the loop can repeat forever.  It is a
starvation of atomic allocations of `size` cells when, in the loop:

* an atomic pcpu_alloc() of that size fails, and none of that size succeeds;
* pcpu_balance_workfn() completes a run;

under the fairness assumption (stated in FAIRNESS): every queued work item
and every allocation in progress gets to run, so none is enabled throughout
the loop without taking a step; and no GFP_KERNEL allocation (chunk
creation, page population, map extension) fails in the loop.  These rules
are checker/engines/fairness.py, used by both searches here: BMC on the
symbolic encoding, and the fair strongly connected components of the
explicit state graph.

At each depth n one query asks for a loop closing at sn from any earlier
sl; the first depth with a model gives a shortest lasso (prefix + loop), and
unsatisfiability at every depth up to the bound means no lasso of at most
that many steps.  The lasso is replayed concretely, as every BMC trace is.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields
from typing import Any, Callable, Hashable

import z3

from percpu_mc.checker.engines.bmc import BMCEngine, TransitionRelation, bv_solver
from percpu_mc.checker.engines.explicit import Refinement
from percpu_mc.checker.engines.fairness import (
    gfp_failed,
    request_failed,
    requests,
    run_ended,
    waiting,
)
from percpu_mc.checker.engines.native import Native
from percpu_mc.checker.engines.symbolic import Z3Ops, equal, state_vars
from percpu_mc.model.machine import Model, Trace, TraceStep
from percpu_mc.model.ops import Concrete
from percpu_mc.model.reduction import canonical, dead
from percpu_mc.model.state import HISTORY_FIELDS, State

Progress = Callable[[int, float], None]


@dataclass(frozen=True)
class Lasso:
    size: int  # the starved atomic request, cells
    trace: Trace  # s0 .. sn
    loop_start: int  # l: the loop is steps l+1 .. n, and state n equals state l


def kernel_equal(x: Z3Ops, a: State, b: State) -> Any:
    """Equal on the kernel state: every field but the history variables,
    and the dead locals of code not running (a's, where the state fields
    deciding deadness are compared too)."""
    eqs = []
    for f in fields(State):
        if f.name in HISTORY_FIELDS:
            continue
        va, vb = getattr(a, f.name), getattr(b, f.name)
        pairs = enumerate(zip(va, vb)) if isinstance(va, tuple) else [(None, (va, vb))]
        eqs += [x.boolean(x.or_(dead(x, a, f.name, j), x.eq(p, q))) for j, (p, q) in pairs]
    return z3.And(*eqs)


class LassoEngine:
    def __init__(self, model: Model, size: int):
        self.model, self.size = model, size
        self.x = Z3Ops(model.p.width)

    def step_facts(
        self, trans: TransitionRelation, pre: State, post: State, act: Any
    ) -> dict[str, Any]:
        """What one step of the unrolling does, as formulas over it."""
        x, model = self.x, self.model
        atomic_try: dict[int, list[int]] = {}
        gfp_fail: list[int] = []
        by_ctx: dict[int, list[int]] = {}
        creates: list[tuple[int, Any]] = []
        for n, (ai, ch) in enumerate(trans.instances):
            a = model.actions[ai]
            if requests(a, ch, self.size):
                atomic_try.setdefault(a.ctx, []).append(n)
            failed = gfp_failed(x, a, ch, post)
            if failed is True:
                gfp_fail.append(n)
            elif failed is not False:
                creates.append((n, failed))
            if a.ctx is not None:
                by_ctx.setdefault(a.ctx, []).append(n)

        def is_one(ns: list[int]) -> Any:
            return z3.Or(*[act == n for n in ns]) if ns else z3.BoolVal(False)

        fail = [
            z3.And(is_one(ns), x.boolean(request_failed(x, post, i)))
            for i, ns in atomic_try.items()
        ]
        succ = [
            z3.And(is_one(ns), z3.Not(x.boolean(request_failed(x, post, i))))
            for i, ns in atomic_try.items()
        ]
        return {
            "fail": z3.Or(*fail) if fail else z3.BoolVal(False),
            "succ": z3.Or(*succ) if succ else z3.BoolVal(False),
            "end": x.boolean(run_ended(x, pre, post)),
            "gfp_fail": z3.Or(
                is_one(gfp_fail), *[z3.And(act == n, x.boolean(f)) for n, f in creates]
            ),
            "ctx_steps": {i: is_one(ns) for i, ns in by_ctx.items()},
        }

    def run(self, max_depth: int, progress: Progress | None = None) -> tuple[Lasso | None, float]:
        start = time.monotonic()
        model, x, p = self.model, self.x, self.model.p
        trans = TransitionRelation(model, x)
        solver = bv_solver()
        states = [state_vars(p, "0")]
        acts: list[Any] = []
        facts: list[dict[str, Any]] = []
        solver.add(equal(x, states[0], model.init()))
        for n in range(1, max_depth + 1):
            states.append(state_vars(p, str(n)))
            acts.append(trans.act(f"act@{n - 1}"))
            solver.add(trans.at(states[n - 1], states[n], acts[-1]))
            facts.append(self.step_facts(trans, states[n - 1], states[n], acts[-1]))
            loops = [self.loop(states, facts, acts, l, n) for l in range(n)]
            q = z3.Bool(f"lasso@{n}")
            solver.add(z3.Implies(q, z3.Or(*loops)))
            r = solver.check(q)
            if progress:
                progress(n, time.monotonic() - start)
            if r == z3.sat:
                m = solver.model()
                trace = BMCEngine(model, []).extract(m, trans, states, acts)
                l = next(l for l in range(n) if z3.is_true(m.eval(loops[l], model_completion=True)))
                return Lasso(self.size, trace, l), time.monotonic() - start
            if r != z3.unsat:
                raise RuntimeError(f"lasso search at depth {n}: {solver.reason_unknown()}")
        return None, time.monotonic() - start

    def loop(
        self, states: list[State], facts: list[dict[str, Any]], acts: list[Any], l: int, n: int
    ) -> Any:
        """Steps l+1 .. n form a fair starvation loop closing at state l."""
        x = self.x
        steps = facts[l:n]
        cond = [
            kernel_equal(x, states[l], states[n]),
            z3.Or(*[f["fail"] for f in steps]),
            z3.Or(*[f["end"] for f in steps]),
        ]
        cond += [z3.Not(f["succ"]) for f in steps] + [z3.Not(f["gfp_fail"]) for f in steps]
        # weak fairness: nothing waits in every state of the loop without
        # taking a step (a context's own step, or the work item's change of state)
        waits = [[x.boolean(w) for w in waiting(x, self.model.p, s)] for s in states[l:n]]
        for w in range(len(waits[0])):
            p = self.model.p
            moved = (
                [f["ctx_steps"].get(w, z3.BoolVal(False)) for f in steps]
                if w < p.nr_contexts
                else []
            )
            cond.append(z3.Or(*[z3.Not(ws[w]) for ws in waits], *moved))
        return z3.And(*cond)


# --- explicit: every reachable state, fair strongly connected components ------


@dataclass
class Graph:
    """The reachable kernel states (history variables dropped) and their steps."""

    states: list[State]
    index: dict[tuple[State, Hashable], int]  # (state, refinement) -> node
    # per state: (target, action index, choices)
    edges: list[list[tuple[int, int, dict[str, int]]]]
    parent: list[tuple[int, int, dict[str, int]] | None]  # BFS tree: shortest prefixes
    extra: list[Hashable]  # per node, what a Refinement tracks (None without one)


def explore(
    model: Model,
    limit: int,
    progress: Progress | None = None,
    refine: Refinement | None = None,
    native: Native | None = None,
) -> Graph | None:
    """Breadth-first search of every reachable kernel state (with `refine`:
    every reachable (state, extra) under the steps it allows); None when
    there are more than `limit`.  With `native` (the compiled model) each
    state's steps are computed natively: the same steps, in the same order."""
    start = time.monotonic()
    init = canonical(model.init())
    e0 = refine.initial(init) if refine else None
    g = Graph([init], {(init, e0): 0}, [], [None], [e0])
    i = 0
    while i < len(g.states):
        out = []
        s, e = g.states[i], g.extra[i]
        steps = (
            refine.steps(s, e)
            if refine
            else model.successors(s)
            if native is None
            else ((op.action, op.choices, t) for op, t in native.successors(s))
        )
        for ai, ch, t in steps:
            t = canonical(t)
            key = (t, refine.advance(s, t, e) if refine else None)
            j = g.index.get(key)
            if j is None:
                if len(g.states) >= limit:
                    return None
                j = len(g.states)
                g.index[key] = j
                g.states.append(t)
                g.extra.append(key[1])
                g.parent.append((i, ai, ch))
            out.append((j, ai, ch))
        g.edges.append(out)
        i += 1
        if progress and i % 20000 == 0:
            progress(len(g.states), time.monotonic() - start)
    return g


def _labels(
    model: Model, g: Graph, size: int, i: int, j: int, ai: int, ch: dict[str, int]
) -> tuple[bool, bool, bool, bool]:
    """(atomic request of `size` fails, one succeeds, a balance run ends,
    a GFP_KERNEL allocation fails) on the step i -> j."""
    x, a, pre, post = Concrete(), model.actions[ai], g.states[i], g.states[j]
    tried = requests(a, ch, size)
    failed = tried and request_failed(x, post, a.ctx)
    return failed, tried and not failed, run_ended(x, pre, post), gfp_failed(x, a, ch, post)


def _sccs(n: int, succ: list[list[int]]) -> list[list[int]]:
    """Tarjan's strongly connected components, iteratively."""
    index, low, on, stack, out = [-1] * n, [0] * n, [False] * n, [], []
    counter = 0
    for root in range(n):
        if index[root] >= 0:
            continue
        work = [(root, 0)]
        while work:
            v, k = work.pop()
            if k == 0:
                index[v] = low[v] = counter
                counter += 1
                stack.append(v)
                on[v] = True
            if k < len(succ[v]):
                work.append((v, k + 1))
                w = succ[v][k]
                if index[w] < 0:
                    work.append((w, 0))
                elif on[w]:
                    low[v] = min(low[v], index[w])
                continue
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on[w] = False
                    comp.append(w)
                    if w == v:
                        break
                out.append(comp)
            if work:
                u = work[-1][0]
                low[u] = min(low[u], low[v])
    return out


def fair_lasso(model: Model, g: Graph, size: int) -> Lasso | None:
    """A starvation lasso for atomic requests of `size` cells if one exists
    in the reachable state graph, None if none does (of any length): a
    strongly connected component of the steps allowed in the loop that
    holds a failing request, a completed balance run, and, for each thing a
    fair scheduler must run, a state where it does not wait or a step of it.
    The lasso built from it is one witness, not necessarily the shortest."""
    n = len(g.states)
    allowed: list[list[tuple[int, int, dict[str, int], tuple]]] = []
    for i, out in enumerate(g.edges):
        keep = []
        for j, ai, ch in out:
            lab = _labels(model, g, size, i, j, ai, ch)
            if not lab[1] and not lab[3]:
                keep.append((j, ai, ch, lab))
        allowed.append(keep)
    comp_of = [-1] * n
    comps = _sccs(n, [[e[0] for e in out] for out in allowed])
    for ci, comp in enumerate(comps):
        for v in comp:
            comp_of[v] = ci
    nc, x = model.p.nr_contexts, Concrete()
    for ci, comp in enumerate(comps):
        inner = [(i, e) for i in comp for e in allowed[i] if comp_of[e[0]] == ci]
        fail = next(((i, e) for i, e in inner if e[3][0]), None)
        end = next(((i, e) for i, e in inner if e[3][2]), None)
        if fail is None or end is None:
            continue
        needs: list[Any] = [fail, end]
        ok = True
        for w in range(len(waiting(x, model.p, g.states[comp[0]]))):
            calm = next((v for v in comp if not waiting(x, model.p, g.states[v])[w]), None)
            moved = (
                next(((i, e) for i, e in inner if w < nc and model.actions[e[1]].ctx == w), None)
                if calm is None
                else None
            )
            if calm is None and moved is None:
                ok = False
                break
            needs.append(calm if calm is not None else moved)
        if ok:
            return _build(model, g, size, comp_of, ci, allowed, needs)
    return None


def _build(
    model: Model, g: Graph, size: int, comp_of: list[int], ci: int, allowed: list, needs: list[Any]
) -> Lasso:
    """Prefix: the shortest path to the component's nearest state; loop:
    from there through every needed state or step and back, by shortest paths
    inside the component."""

    def depth(v: int) -> int:
        d = 0
        while g.parent[v] is not None:
            v, d = g.parent[v][0], d + 1
        return d

    def path(src: int, dst: int) -> list[tuple[int, int, dict[str, int]]]:
        if src == dst:
            return []
        prev: dict[int, tuple[int, int, dict[str, int]]] = {src: (src, -1, {})}
        frontier = [src]
        while dst not in prev:
            nxt = []
            for v in frontier:
                for j, ai, ch, _ in allowed[v]:
                    if comp_of[j] == ci and j not in prev:
                        prev[j] = (v, ai, ch)
                        nxt.append(j)
            frontier = nxt
        out = []
        v = dst
        while v != src:
            u, ai, ch = prev[v]
            out.append((v, ai, ch))
            v = u
        return out[::-1]

    members = [v for v in range(len(g.states)) if comp_of[v] == ci]
    u = min(members, key=depth)
    prefix = []
    v = u
    while g.parent[v] is not None:
        pv, ai, ch = g.parent[v]
        prefix.append((v, ai, ch))
        v = pv
    prefix.reverse()
    loop, at = [], u
    for need in needs:
        if isinstance(need, int):
            loop += path(at, need)
            at = need
        else:
            i, (j, ai, ch, _) = need
            loop += path(at, i) + [(j, ai, ch)]
            at = j
    loop += path(at, u)
    steps = tuple(TraceStep(ai, ch, g.states[v]) for v, ai, ch in prefix + loop)
    return Lasso(size, Trace(g.states[0], steps), len(prefix))
