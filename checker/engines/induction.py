"""Unbounded proofs: k-induction on the BMC encoding, strengthened Houdini-style.

The candidates are the properties asked for and the auxiliary lemmas of
model/invariants.py.  For k = 0, 1, ...:

* base case: the incremental BMC unrolling from the initial state reaches
  depth k; a candidate false in a reachable state leaves the pool (a
  property with its shortest counterexample, replayed concretely);
* inductive step: on a free path s0 .. sk of the transition relation, assume
  every candidate of the pool in s0 .. s(k-1) and ask for one false in sk;
  a candidate a model makes false is dropped from this k's set, and the
  query is repeated until no candidate of the set fails (Houdini).

The surviving set holds in every state within k steps of the initial one
(base) and is k-inductive as a whole (step), so each of its members holds
in every reachable state: a property in it is proved together with the
lemmas beside it, and no lemma is ever assumed without that proof.  A
dropped candidate gets another chance at the next k.  A property neither
proved nor refuted by `max_k` is unknown, with the step that broke it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import z3

from percpu_mc.checker.engines.bmc import BMCEngine, TransitionRelation, bv_solver
from percpu_mc.checker.engines.build import CompilerMissing
from percpu_mc.checker.engines.compiled import CompiledEngine, SearchError
from percpu_mc.checker.engines.portfolio import memory_budget
from percpu_mc.checker.engines.symbolic import Z3Ops, decode, equal, state_vars
from percpu_mc.checker.result import (
    UNWATCHED,
    Holds,
    Proved,
    Result,
    RunStats,
    Unknown,
    Violated,
    Watch,
    interrupted,
)
from percpu_mc.model.invariants import LEMMAS, Lemma
from percpu_mc.model.machine import Model
from percpu_mc.model.properties import Property
from percpu_mc.model.state import State


@dataclass
class Candidate:
    name: str
    holds: Callable[[Any, Any, State], Any]
    is_property: bool


class Quiet:
    """A watch that passes on the status line and the stop, not the levels
    (an inner search's levels count states, the proof's count seconds)."""

    def __init__(self, watch: Watch):
        self.watch = watch

    def show(self, text: str, states: int | None = None) -> None:
        self.watch.show(f"base case: {text}", states)

    def level(self, depth: int, *, states: int | None = None, seconds: float | None = None) -> None:
        return None

    def note(self, text: str) -> None:
        self.watch.note(text)

    def stopped(self) -> bool:
        return self.watch.stopped()


@dataclass
class Proof:
    """What the induction established, beside the per-property results."""

    base_seconds: float = 0.0  # the explicit base case (when it ran)
    induction_seconds: float = 0.0  # the Houdini queries of the inductive steps

    refuted_lemmas: dict[str, int] = field(default_factory=dict)  # lemma -> depth it fails at
    cti: dict[str, str] = field(
        default_factory=dict
    )  # unproved property -> the step that breaks it


class InductionEngine:
    def __init__(
        self, model: Model, props: list[Property], lemmas: list[Lemma] | None = None, max_k: int = 2
    ):
        self.model = model
        self.max_k = max_k
        self.props = props
        self.lemmas = LEMMAS if lemmas is None else lemmas
        self.x = Z3Ops(model.p.width)
        self.proof = Proof()
        # a Houdini query still open after this long goes to a one-shot solver
        self.hand_over_ms = 20_000
        # counterexamples to induction: (dropped, pre, post, action), for diagnosis
        self.ctis: list[tuple[list[str], State, State, int]] = []

    def run(self, depth: int = 0, watch: Watch = UNWATCHED) -> tuple[list[Result], RunStats]:
        """Induction up to `max_k`; a property it leaves open is then looked
        for by the base case (BMC) up to `depth` steps."""
        start = time.monotonic()
        max_k, stop = self.max_k, watch.stopped
        settled = -1  # the last depth the base case finished
        model, x, p = self.model, self.x, self.model.p
        explicit = self.explicit_base(max(max_k, depth), watch)
        self.proof.base_seconds = time.monotonic() - start
        trans = TransitionRelation(model, x)
        cands = [Candidate(pr.name, pr.holds, True) for pr in self.props]
        cands += [Candidate(f"lemma:{lm.name}", lm.holds, False) for lm in self.lemmas]
        done: dict[str, Result] = {}
        if explicit is not None:
            # a property violated within the base depth leaves the pool: no
            # k-inductive set of true invariants could have kept it
            done = {r.prop: r for r in explicit.values() if isinstance(r, Violated)}
        pool = {c.name: c for c in cands if c.name not in done}
        # the base case: one incremental BMC unrolling
        base = bv_solver()
        bstates = [state_vars(p, "b0")]
        bacts: list[Any] = []
        base.add(equal(x, bstates[0], model.init()))
        bmc = BMCEngine(model, self.props)
        for k in range(max(max_k, depth if explicit is None else 0) + 1):
            if k > max_k:  # past induction: only a counterexample can settle the rest
                pool = {n: c for n, c in pool.items() if c.is_property and n not in done}
            if k > 0:
                self.unroll(trans, base, bstates, bacts)
            for c in list(pool.values()):
                if stop():
                    break
                ok = x.boolean(c.holds(x, model.kernel, bstates[k]))
                if explicit is not None and c.is_property:
                    base.add(ok)  # the explicit search found it true within the base depth
                    continue
                r = base.check(z3.Not(ok)) if not z3.is_true(z3.simplify(ok)) else z3.unsat
                if r == z3.sat:
                    del pool[c.name]
                    if c.is_property:
                        trace = bmc.extract(base.model(), trans, bstates, bacts)
                        done[c.name] = Violated(c.name, trace, time.monotonic() - start)
                    else:
                        self.proof.refuted_lemmas[c.name.removeprefix("lemma:")] = k
                elif r == z3.unsat:
                    base.add(ok)  # proved at depth k: a lemma for the deeper queries
                elif not stop():  # else Z3 was interrupted: the run stops
                    del pool[c.name]
                    if c.is_property:
                        done[c.name] = Unknown(
                            c.name, base.reason_unknown(), k, time.monotonic() - start
                        )
            if stop():
                break
            settled = k
            if 0 < k <= max_k:
                asked = time.monotonic()
                kept = self.houdini(trans, k, list(pool.values()))
                self.proof.induction_seconds += time.monotonic() - asked
                for c in kept:
                    if c.is_property and c.name not in done and not stop():
                        used = tuple(
                            o.name.removeprefix("lemma:") for o in kept if not o.is_property
                        )
                        done[c.name] = Proved(c.name, k, used, time.monotonic() - start)
                        self.proof.cti.pop(c.name, None)
            watch.level(k, seconds=time.monotonic() - start)
            if all(pr.name in done for pr in self.props) or not pool:
                break
        if explicit is not None:
            settled = max(max_k, depth)
            for n, r in done.items():
                if isinstance(r, Proved) and isinstance(h := explicit[n], Holds):
                    done[n] = replace(r, base_depth=settled, vacuous=h.vacuous)
        elif not stop():
            self.premises(done, trans, base, bstates, bacts, max(settled, depth))
        secs = time.monotonic() - start
        out = []
        for pr in self.props:
            if stop() and pr.name not in done:
                out.append(interrupted(pr.name, settled, secs))
                continue
            every = explicit.get(pr.name) if explicit is not None else None
            if pr.name not in done and isinstance(every, Holds) and every.exhaustive:
                out.append(replace(every, seconds=secs))  # no proof, but every state checked
                continue
            out.append(
                done.get(pr.name)
                or Unknown(
                    pr.name,
                    f"not k-inductive for k <= {max_k} with the lemmas "
                    f"({self.proof.cti.get(pr.name, 'no step found')}); "
                    f"no violation within {max(max_k, depth)} steps",
                    max_k,
                    secs,
                )
            )
        return out, RunStats(seconds=secs)

    def explicit_base(self, depth: int, watch: Watch) -> dict[str, Result] | None:
        """The base case of the properties by the compiled explicit search
        to `depth` steps (every run that long, so a property not violated
        there holds in every state within `depth` steps of the initial one,
        and one violated there has its shortest counterexample), each
        premise's vacuity with it; None where the search cannot run (no
        compiler, a field outside its packed range) or was stopped: the
        base case is then BMC's."""
        search = CompiledEngine(self.model, self.props)
        search.max_states = min(search.max_states, memory_budget() // 64)
        try:
            results, _ = search.run(depth, Quiet(watch))
        except (SearchError, CompilerMissing):
            return None
        if any(isinstance(r, Unknown) for r in results):
            return None
        return {r.prop: r for r in results}

    def premises(
        self,
        done: dict[str, Result],
        trans: TransitionRelation,
        base: z3.Solver,
        bstates: list[Any],
        bacts: list[Any],
        depth: int,
    ) -> None:
        """Whether each proved property's premise arises within `depth` steps
        of the initial state (the base case's unrolling, extended if the run
        asked for more): one query each, as BMC asks."""
        x, model = self.x, self.model
        asked = [
            pr
            for pr in self.props
            if isinstance(done.get(pr.name), Proved) and pr.premise is not None
        ]
        if not asked:
            return
        while len(bstates) <= depth:
            self.unroll(trans, base, bstates, bacts)
        for pr in asked:
            arises = z3.Or(
                *[x.boolean(pr.premise(x, model.kernel, st)) for st in bstates[: depth + 1]]
            )
            r = base.check(arises)  # unknown: interrupted or given up, so not said
            done[pr.name] = replace(
                done[pr.name], base_depth=depth, vacuous=None if r == z3.unknown else r == z3.unsat
            )

    def unroll(
        self, trans: TransitionRelation, base: z3.Solver, bstates: list[Any], bacts: list[Any]
    ) -> None:
        """One more step of the base case's unrolling from the initial state."""
        k = len(bstates)
        bstates.append(state_vars(self.model.p, f"b{k}"))
        bacts.append(trans.act(f"bact@{k - 1}"))
        base.add(trans.at(bstates[k - 1], bstates[k], bacts[-1]))

    def houdini(self, trans: TransitionRelation, k: int, cands: list[Candidate]) -> list[Candidate]:
        """The largest subset of `cands` that is k-inductive: assumed in
        s0 .. s(k-1), each must hold in sk."""
        model, x, p = self.model, self.x, self.model.p
        s = bv_solver()
        s.set("timeout", self.hand_over_ms)
        states = [state_vars(p, f"i{j}") for j in range(k + 1)]
        acts = [trans.act(f"iact@{j}") for j in range(k)]
        path = [trans.at(states[j], states[j + 1], acts[j]) for j in range(k)]
        s.add(*path)
        lits, last, assumed = {}, {}, {}
        for c in cands:
            lits[c.name] = z3.Bool(f"assume:{c.name}")
            assumed[c.name] = z3.And(
                *[x.boolean(c.holds(x, model.kernel, st)) for st in states[:k]]
            )
            s.add(z3.Implies(lits[c.name], assumed[c.name]))
            last[c.name] = x.boolean(c.holds(x, model.kernel, states[k]))

        def one_shot(part: Any) -> tuple[Any, z3.ModelRef | None]:
            """The query on a fresh solver that may eliminate variables (the
            incremental one must keep them all for later queries): slower to
            set up, much faster on the hard ones of a larger geometry."""
            o = z3.Then(
                "simplify",
                "propagate-values",
                "solve-eqs",
                "elim-uncnstr",
                "simplify",
                "bit-blast",
                "sat",
            ).solver()
            o.add(*path, *[assumed[n] for n in live], z3.Not(part))
            r = o.check()
            return r, (o.model() if r == z3.sat else None)

        live = {c.name: c for c in cands}
        # One query per candidate, conjunct by conjunct (a disjunction of all
        # is several times slower, and the area map of a larger geometry is
        # only tractable in pieces).  A drop weakens the assumptions: only a
        # candidate whose unsat core used a dropped one is asked again.
        # A part the incremental solver does not settle within hand_over_ms
        # is hard: its candidate goes to the back of the queue (the easier
        # queries may drop candidates first), and then to the one-shot
        # solver, which gives no core, so every assumption counts as used.
        todo = list(live)
        used: dict[str, set[str]] = {}
        hard: set[tuple[str, int]] = set()
        while todo:
            n = todo.pop(0)
            if n not in live:
                continue
            used[n] = set()
            r, handed, deferred = z3.unsat, None, False
            for j, part in enumerate(last[n].children() if z3.is_and(last[n]) else [last[n]]):
                if (n, j) in hard:
                    r, handed = one_shot(part)
                    if r != z3.unsat:
                        break
                    used[n] |= set(live)
                    continue
                goal = z3.Bool(f"goal:{n}:{j}")
                s.add(z3.Implies(goal, z3.Not(part)))
                r = s.check(goal, *[lits[o] for o in live])
                if r == z3.unknown:
                    hard.add((n, j))
                    todo.append(n)
                    deferred = True
                    break
                if r != z3.unsat:
                    break
                core = {str(c) for c in s.unsat_core()}
                used[n] |= {o for o in live if str(lits[o]) in core}
            if r == z3.unsat or deferred:
                continue
            if r != z3.sat:
                for o in live:
                    self.proof.cti.setdefault(o, f"solver: {s.reason_unknown()}")
                return []
            m = handed if handed is not None else s.model()
            ai = trans.instances[m.eval(acts[-1], model_completion=True).as_long()][0]
            step = f"{model.actions[ai].context}: {model.actions[ai].name} breaks it at k = {k}"
            broken = {o for o in live if z3.is_false(m.eval(last[o], model_completion=True))} | {n}
            for o in broken:
                del live[o]
                self.proof.cti[o] = step
            self.ctis.append((sorted(broken), decode(m, states[k - 1]), decode(m, states[k]), ai))
            todo += [o for o in live if o not in todo and used.get(o, set()) & broken]
        return list(live.values())
