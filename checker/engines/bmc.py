"""Bounded model checking on Z3: the transition relation unrolled step by step.

One incremental solver holds init(s0) and T(s0, s1), ..., T(sk-1, sk); at
each depth k every property not yet violated is checked under an assumption
literal for "violated in sk".  The first depth with a model is the length of
a shortest counterexample.  The transition relation is built once, on
template variables, and instantiated per step by substitution (priming is
substitution), and only over the cone of influence of the properties
checked: a property that reads no history variable is searched without the
other properties' monitors, which are written by every step (what that
saves: docs/benchmarks.md).  Limits: a verdict `holds`
covers runs of at most `depth` steps, and the whole state is bit-blasted at
`Params.width` bits.

Past depth 6 or so the plain unrolling's cost grows about threefold per
depth.  Once the next depth is predicted to cost more than proving the
lemmas of model/invariants.py, the ones proved invariant for the spec
(checker/engines/strengthen.py, which explains why this changes no verdict and no
counterexample length) are asserted on every state, and a property that
follows from them in one step costs about the same at every depth.
"""

from __future__ import annotations

import copy
import time
from typing import Any, Callable

import z3

from percpu_mc.checker.engines.symbolic import Fields, Z3Ops, decode, equal, flat, state_vars
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
from percpu_mc.model.invariants import Lemma
from percpu_mc.model.machine import Model, Trace, TraceStep
from percpu_mc.model.ops import Concrete
from percpu_mc.model.properties import Property
from percpu_mc.model.state import State

LemmaProver = Callable[["TransitionRelation"], list[Lemma]]
# What the lemma proof costs, in Z3's resource units ("rlimit count", which
# counts the solver's work and, unlike a clock, is the same on every run, so
# the decision below, and with it the formula and the whole run, is
# reproducible).  The threshold is about what the v4.13 proof, where every
# lemma survives, costs (docs/benchmarks.md has the measurements).  The
# proof is started once the next depth is predicted to cost more than that
# and at least two depths remain: a shorter run never pays for it (the known
# bugs are found without it; seed's proof keeps one lemma, which only slows
# the queries), a deeper one does, the plain unrolling's cost growing two- to
# fourfold per depth.
PROOF_COST = 100e6


def bv_solver() -> z3.Solver:
    """Plain incremental solver: the formulas are quantifier-free bit-vectors,
    and assumption literals keep learned clauses across depths."""
    return z3.SolverFor("QF_BV")


def work(solver: z3.Solver) -> float:
    """The solver's work so far, in Z3's resource units."""
    st = solver.statistics()
    return float(st.get_key_value("rlimit count")) if "rlimit count" in st.keys() else 0.0


class TransitionRelation:
    """T(s, s') over template variables; `at(k)` instantiates it for step k.

    Given the properties to check, only the fields in their cone of
    influence get a next-state equation: the fields the properties and the
    guards read, closed under the fields their updates read.  The others
    (the history variables of the properties not checked) are left free,
    which removes no run: every field the guards, the properties and the
    kept fields depend on still follows the model exactly."""

    def __init__(self, model: Model, x: Z3Ops, props: list[Property] | None = None):
        self.model, self.x = model, x
        p = model.p
        self.s0, self.s1 = state_vars(p, "t0"), state_vars(p, "t1")
        # the action index numbers every instance (action and choices) with
        # a sign bit to spare: a wider range than any state field's
        instances = sum(len(c) for c in model.combos)
        self.act_width = instances.bit_length() + 1
        self.act0 = self.act("act@t0")
        self.fields = Fields(self.s0)
        self.steps()
        everything = frozenset(range(len(flat(self.s0))))
        self.cone = everything if props is None else self.cone_of(props)
        self.formula = self.assemble()

    def steps(self) -> None:
        """One disjunct per action and choice combination: with the choices
        constant, chunk and size lookups fold away instead of becoming
        if-then-else chains over every chunk."""
        x, s = self.x, self.s0
        base = flat(s)
        self.guards: list[Any] = []
        # flat index -> (instance, new value) of every instance that may change it
        self.updates: dict[int, list[tuple[int, Any]]] = {}
        self.instances: list[tuple[int, dict[str, int]]] = []
        # per instance, its guard and its new values by flat index (None: never enabled)
        self.effects: list[tuple[Any, dict[int, Any]] | None] = []
        for ai, a in enumerate(self.model.actions):
            for ch in self.model.choice_combos(a):
                n = len(self.instances)
                self.instances.append((ai, ch))
                g, post = self.model.step(x, s, a, ch)
                if g is False:
                    self.effects.append(None)
                    continue
                self.guards.append(x.and_(self.act0 == n, g))
                news = {
                    j: new
                    for j, ((_, old), (_, new)) in enumerate(zip(base, flat(post)))
                    if new is not old
                }
                self.effects.append((g, news))
                for j, new in news.items():
                    self.updates.setdefault(j, []).append((n, new))

    def assemble(self) -> Any:
        """Some step is taken, and each field of the cone is its new value."""
        x = self.x
        parts = [x.or_(*self.guards)]
        for j, ((_, old), (_, nxt)) in enumerate(zip(flat(self.s0), flat(self.s1))):
            if j not in self.cone:
                continue
            val = old
            for ai, new in self.updates.get(j, []):
                val = x.ite(self.act0 == ai, new, val)
            parts.append(x.eq(nxt, val))
        return z3.And(*[x.boolean(v) for v in parts])

    def whole(self) -> TransitionRelation:
        """The same steps with every field constrained, as the lemma proof
        needs them; the steps are shared, only the formula is assembled anew."""
        everything = frozenset(range(len(flat(self.s0))))
        if self.cone == everything:
            return self
        out = copy.copy(self)
        out.cone = everything
        out.formula = out.assemble()
        return out

    def cone_of(self, props: list[Property]) -> frozenset[int]:
        """The fields (by `flat` index) the properties and the guards read,
        closed under the fields read by their updates."""
        x, s = self.x, self.s0
        need = set(
            self.fields.of(
                *[eff[0] for eff in self.effects if eff],
                *[x.boolean(pr.holds(x, self.model.kernel, s)) for pr in props],
            )
        )
        todo = list(need)
        while todo:
            for _, new in self.updates.get(todo.pop(), []):
                for i in self.fields.of(new) - need:
                    need.add(i)
                    todo.append(i)
        return frozenset(need)

    def in_cone(self, s: State) -> list[Any]:
        """The values of the fields the formula constrains."""
        return [v for j, (_, v) in enumerate(flat(s)) if j in self.cone]

    def act(self, label: str) -> Any:
        """A fresh action index, as `at` takes it."""
        return z3.BitVec(label, self.act_width)

    def at(self, sk: State, sk1: State, act: Any) -> Any:
        pairs = list(zip([v for _, v in flat(self.s0)], [v for _, v in flat(sk)]))
        pairs += list(zip([v for _, v in flat(self.s1)], [v for _, v in flat(sk1)]))
        pairs += [(self.act0, act)]
        return z3.substitute(self.formula, *pairs)


class BMCEngine:
    """`lemmas`, when given, proves invariants on the transition relation
    (checker/engines/strengthen.py); they are asserted on every unrolled state once
    the proof, estimated at `proof_cost` resource units, looks worth it."""

    def __init__(
        self,
        model: Model,
        props: list[Property],
        lemmas: LemmaProver | None = None,
        proof_cost: float = PROOF_COST,
    ):
        self.model = model
        self.props = props
        self.x = Z3Ops(model.p.width)
        self.lemmas, self.proof_cost = lemmas, proof_cost
        self.proved: list[Lemma] | None = None  # the lemmas asserted, once proved

    def run(self, depth: int, watch: Watch = UNWATCHED) -> tuple[list[Result], RunStats]:
        start = time.monotonic()
        stop, show = watch.stopped, watch.show
        done = -1  # the last depth every property was asked at
        stats = RunStats()
        model, x, p = self.model, self.x, self.model.p
        # the cone takes in what the premises read, for the vacuity query
        trans = TransitionRelation(
            model,
            x,
            self.props + [pr.premise_reached() for pr in self.props if pr.premise is not None],
        )
        solver = bv_solver()
        states = [state_vars(p, "0")]
        acts: list[Any] = []
        solver.add(equal(x, states[0], model.init()))
        found: dict[str, Result] = {}
        held = {pr.name: z3.Bool(f"held:{pr.name}") for pr in self.props}
        # each property's own time: its queries and its counterexample's replay
        own = dict.fromkeys(held, 0.0)
        costs: list[float] = []  # resource units per depth
        for k in range(depth + 1):
            before = work(solver)
            if k > 0:
                states.append(state_vars(p, str(k)))
                acts.append(trans.act(f"act@{k - 1}"))
                solver.add(trans.at(states[k - 1], states[k], acts[-1]))
            if self.proved:
                solver.add(*self.facts(states[k]))
            # A property is asked at depth k assuming it held at every earlier
            # depth (proved there): the first violation is the shortest, and
            # the earlier instances are lemmas that make the deeper query easy.
            # (One query for every property at once is slower.)
            for pr in self.props:
                if pr.name in found or stop():
                    continue
                show(f"depth {k}/{depth}: {pr.name}")
                asked = time.monotonic()
                ok = x.boolean(pr.holds(x, model.kernel, states[k]))
                bad = z3.Bool(f"bad:{pr.name}@{k}")
                solver.add(z3.Implies(bad, z3.Not(ok)))
                r = solver.check(bad, held[pr.name])
                if r == z3.unsat:
                    solver.add(z3.Implies(held[pr.name], ok))
                trace = (
                    self.extract(solver.model(), trans, states[: k + 1], acts)
                    if r == z3.sat
                    else None
                )
                own[pr.name] += time.monotonic() - asked
                if trace is not None:
                    found[pr.name] = Violated(pr.name, trace, own[pr.name])
                elif r == z3.unknown and not stop():  # else Z3 was interrupted: the run stops
                    found[pr.name] = Unknown(pr.name, solver.reason_unknown(), k, own[pr.name])
            if stop():
                break
            done = k
            watch.level(k, seconds=time.monotonic() - start)
            if len(found) == len(self.props):
                break
            costs.append(work(solver) - before)
            if self.lemmas and self.proved is None and self.worth_proving(costs, depth - k):
                # proved on every field: a lemma about one outside the cone
                # (left free there) is still inductive
                self.proved = self.lemmas(trans.whole())
                for st in states:
                    solver.add(*self.facts(st))
        if stop():
            stats.seconds = time.monotonic() - start
            results = [
                found.get(pr.name) or interrupted(pr.name, done, own[pr.name]) for pr in self.props
            ]
        else:
            results = [
                found.get(pr.name) or self.held(pr, trans, solver, states, depth, own[pr.name])
                for pr in self.props
            ]
            stats.seconds = time.monotonic() - start
        if self.proved is not None:
            stats.lemmas = tuple(lm.name for lm in self.proved)
        return results, stats

    def held(
        self,
        pr: Property,
        trans: TransitionRelation,
        solver: z3.Solver,
        states: list[State],
        depth: int,
        seconds: float,
    ) -> Holds:
        """The verdict of a property never violated; its time takes in the
        vacuity query."""
        asked = time.monotonic()
        vacuous = self.vacuous(pr, trans, solver, states)
        return Holds(pr.name, depth, seconds=seconds + time.monotonic() - asked, vacuous=vacuous)

    def vacuous(
        self, pr: Property, trans: TransitionRelation, solver: z3.Solver, states: list[State]
    ) -> bool | None:
        """One more query: can the premise arise at any unrolled step?"""
        if pr.premise is None:
            return None
        x = self.x
        r = solver.check(z3.Or(*[x.boolean(pr.premise(x, self.model.kernel, st)) for st in states]))
        return None if r == z3.unknown else r == z3.unsat

    def worth_proving(self, costs: list[float], remaining: int) -> bool:
        """The next depth's cost, predicted at the growth of the last two,
        exceeds the proof's, and at least two depths remain to use it."""
        nxt = costs[-1] * costs[-1] / max(costs[-2], 1.0) if len(costs) > 1 else costs[-1]
        return remaining >= 2 and nxt > self.proof_cost

    def facts(self, s: State) -> list[Any]:
        return [self.x.boolean(lm.holds(self.x, self.model.kernel, s)) for lm in self.proved or []]

    def extract(
        self, m: z3.ModelRef, trans: TransitionRelation, states: list[State], acts: list[Any]
    ) -> Trace:
        """Decode the model and replay it on the concrete interpretation; the
        two must agree step by step on every field the formula constrains, or
        the encoding is wrong.  The trace holds the concrete states."""
        model, conc = self.model, Concrete()
        s = model.init()
        steps = []
        for k, act in enumerate(acts):
            ai, ch = trans.instances[m.eval(act, model_completion=True).as_long()]
            a = model.actions[ai]
            enabled, t = model.step(conc, s, a, ch)
            if not enabled or trans.in_cone(t) != trans.in_cone(decode(m, states[k + 1])):
                raise AssertionError(
                    f"BMC step {k + 1} ({a.context}: {a.name}) does not replay "
                    "concretely: the symbolic encoding disagrees with the model"
                )
            steps.append(TraceStep(ai, ch, t))
            s = t
        return Trace(model.init(), tuple(steps))
