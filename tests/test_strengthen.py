"""BMC strengthened with proved lemmas (checker/engines/strengthen.py): the lemmas it
keeps hold in every reachable state, a lemma a bug breaks is not kept, and
asserting the kept ones on every step changes no verdict and no shortest
counterexample length."""

from __future__ import annotations

import pytest

from percpu_mc.checker import specs
from percpu_mc.checker.engines import strengthen
from percpu_mc.checker.engines.bmc import BMCEngine, TransitionRelation
from percpu_mc.checker.engines.symbolic import Z3Ops
from percpu_mc.model.invariants import Lemma
from percpu_mc.model.machine import Model
from percpu_mc.model.ops import Concrete
from percpu_mc.model.properties import PROPERTIES

REACH_DEPTH = 6  # breadth-first, every state within this many steps


@pytest.fixture(scope="module")
def proved() -> dict[str, tuple[Model, list[Lemma]]]:
    out = {}
    for name in ("seed", "inject-atomic-fit-unpopulated"):
        model = Model(specs.load(name).params)
        out[name] = model, strengthen.proved_lemmas(TransitionRelation(model, Z3Ops(model.p.width)))
    return out


@pytest.mark.parametrize("name", ["seed", "inject-atomic-fit-unpopulated"])
def test_kept_lemmas_hold_in_reachable_states(proved, name: str) -> None:
    model, lemmas = proved[name]
    assert lemmas, "nothing proved: the strengthening would be a no-op"
    x = Concrete()
    seen = {model.init()}
    frontier = [model.init()]
    for _ in range(REACH_DEPTH):
        nxt = []
        for s in frontier:
            for lm in lemmas:
                assert lm.holds(x, model.kernel, s), (
                    f"{name}: {lm.name} broken by a reachable state"
                )
            for _, _, t in model.successors(s):
                if t not in seen:
                    seen.add(t)
                    nxt.append(t)
        frontier = nxt


def test_lemma_the_bug_breaks_is_not_kept(proved) -> None:
    """seed's create-failure path returns holding pcpu_alloc_mutex (no-deadlock
    at 2 steps), which breaks mutex-owner: the proof must drop it."""
    _, lemmas = proved["seed"]
    assert "mutex-owner" not in {lm.name for lm in lemmas}


@pytest.mark.parametrize(
    "name,expected",
    [
        ("seed", {"no-deadlock": 2, "counter-exact": 10}),
        (
            "inject-atomic-fit-unpopulated",
            {"populated-backing": 3, "counter-nonnegative": 4, "counter-exact": 5},
        ),
    ],
)
def test_strengthened_bmc_same_shortest(proved, name: str, expected: dict[str, int]) -> None:
    """Lemmas asserted from the first step on (a negative proof cost): every
    violation is still found, at its known shortest length, and replays."""
    model, lemmas = proved[name]
    eng = BMCEngine(model, [PROPERTIES[p] for p in expected], lambda _: lemmas, proof_cost=-1.0)
    results, _ = eng.run(max(expected.values()))
    assert eng.proved == lemmas
    for r in results:
        assert (r.verdict, r.depth) == ("violated", expected[r.prop]), r.prop
        assert r.trace is not None and len(r.trace.steps) == r.depth
        assert not PROPERTIES[r.prop].holds(Concrete(), model.kernel, r.trace.steps[-1].state)
