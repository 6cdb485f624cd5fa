"""Invariants for the BMC unrolling: the lemmas of model/invariants.py that
are proved for the spec at hand, to be asserted on every unrolled state.

Why this cannot change a verdict or a counterexample's length: a lemma kept
here holds in the initial state (checked concretely) and the kept set is
1-inductive as a whole (Houdini, checker/engines/induction.py: assuming every kept
lemma in s, each holds in s' for every step s -> s').  So each kept lemma
holds in every reachable state, and every state of a BMC path is reachable:
asserting them removes no path, and the shortest counterexample of every
property stays what it was.  What they add is knowledge the solver would
otherwise rediscover at every depth: with them, a property that follows
from the lemmas in one step is refuted locally instead of over the whole
unrolling, and the cost per depth stops growing geometrically.

A lemma a buggy spec breaks (or that is not inductive without one it
breaks) is dropped by the proof and never asserted; only the properties are
searched, never assumed.
"""

from __future__ import annotations

from percpu_mc.checker.engines.bmc import TransitionRelation
from percpu_mc.checker.engines.induction import Candidate, InductionEngine
from percpu_mc.model.invariants import LEMMAS, Lemma
from percpu_mc.model.ops import Concrete


def proved_lemmas(trans: TransitionRelation) -> list[Lemma]:
    """The largest set of LEMMAS true initially and 1-inductive together."""
    model = trans.model
    init = model.init()
    cands = [
        Candidate(lm.name, lm.holds, False)
        for lm in LEMMAS
        if lm.holds(Concrete(), model.kernel, init)
    ]
    kept = {c.name for c in InductionEngine(model, [], LEMMAS).houdini(trans, 1, cands)}
    return [lm for lm in LEMMAS if lm.name in kept]
