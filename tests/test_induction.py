"""k-induction (checker/induction.py): a property proved with the lemma that
makes it inductive, not proved without it, and a violated one refuted by the
base case with its shortest counterexample."""
from __future__ import annotations

import json

from checker import specs
from checker.cli_model import main
from checker.induction import InductionEngine
from model.invariants import LEMMAS
from model.machine import Model
from model.ops import Concrete
from model.properties import PROPERTIES

LEMMA = {lm.name: lm for lm in LEMMAS}


def prove(spec: str, prop: str, lemmas: list[str], max_k: int = 1, depth: int = 0):
    eng = InductionEngine(Model(specs.load(spec).params), [PROPERTIES[prop]],
                          [LEMMA[n] for n in lemmas])
    [result], _ = eng.run(max_k, depth)
    return result, eng


def test_refill_needs_the_lemmas() -> None:
    """refill of v4.13 is not 1-inductive alone (a step from an unreachable
    state breaks it); proved together with the lemmas, it is proved at k = 1
    and the lemmas its proof rests on are named."""
    alone, eng = prove("v4.13", "refill", [])
    assert alone.verdict == "unknown" and "not k-inductive" in alone.reason
    assert eng.ctis, "a counterexample to induction is kept"
    proved, _ = prove("v4.13", "refill", list(LEMMA))
    assert (proved.verdict, proved.depth) == ("proved", 1)
    assert {"refill-progress", "counter-identity"} <= set(proved.invariants)


def test_refuted_with_its_shortest_counterexample() -> None:
    """counter-exact of the seed: the induction cannot prove it, the base
    case finds the 6-step lost update, replayed concretely; the lemma
    mutex-owner, false in the seed (2 steps), is refuted, never assumed."""
    result, eng = prove("seed", "counter-exact", ["mutex-owner"], max_k=2, depth=6)
    assert (result.verdict, result.depth) == ("violated", 6)
    assert eng.proof.refuted_lemmas == {"mutex-owner": 2}
    assert result.trace is not None and len(result.trace.steps) == 6
    m = Model(specs.load("seed").params)
    last = result.trace.steps[-1].state
    assert not PROPERTIES["counter-exact"].holds(Concrete(), m.kernel, last)
    assert all(PROPERTIES["counter-exact"].holds(Concrete(), m.kernel, st.state)
               for st in result.trace.steps[:-1])


def test_cli_prove_json(capsys) -> None:
    """--prove --json on a buggy spec: exit 1, the violation with its
    counterexample; engine 'induction'."""
    rc = main(["--spec", "seed", "--prove", "--max-k", "1", "--depth", "3",
               "--property", "no-deadlock", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert rc == 1 and doc["engine"] == "induction"
    [item] = doc["results"]
    assert (item["verdict"], item["depth"]) == ("violated", 2)
    assert len(item["counterexample"]) == 2


def test_cli_prove_bad_max_k(capsys) -> None:
    assert main(["--spec", "v4.13", "--prove", "--max-k", "0"]) == 2
    assert "--max-k" in capsys.readouterr().err
