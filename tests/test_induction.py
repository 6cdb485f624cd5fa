"""k-induction (checker/engines/induction.py): a property proved with the lemma that
makes it inductive, not proved without it, and a violated one refuted by the
base case with its shortest counterexample."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from percpu_mc.checker import specs
from percpu_mc.checker.cli.check_model import main
from percpu_mc.checker.engines.induction import InductionEngine
from percpu_mc.checker.result import Proved, Result, Violated
from percpu_mc.model.control import AllocPc, BalancePc
from percpu_mc.model.invariants import LEMMAS
from percpu_mc.model.machine import Model
from percpu_mc.model.ops import Concrete
from percpu_mc.model.properties import PROPERTIES

LEMMA = {lm.name: lm for lm in LEMMAS}


def prove(spec: str, prop: str, lemmas: list[str], max_k: int = 1, depth: int = 0):
    eng = InductionEngine(
        Model(specs.load(spec).params), [PROPERTIES[prop]], [LEMMA[n] for n in lemmas], max_k=max_k
    )
    [result], _ = eng.run(depth)
    return result, eng


def test_refill_needs_the_lemmas() -> None:
    """refill of v4.13-popfail-fix (v4.13 without its drift) is not
    1-inductive alone (a step from an unreachable state breaks it); proved
    together with the lemmas, it is proved at k = 1 and the lemmas its proof
    rests on are named."""
    alone, eng = prove("v4.13-popfail-fix", "refill", [])
    assert alone.verdict == "unknown" and "not k-inductive" in alone.reason
    assert eng.ctis, "a counterexample to induction is kept"
    proved, _ = prove("v4.13-popfail-fix", "refill", list(LEMMA))
    assert (proved.verdict, proved.k) == ("proved", 1)
    assert {"refill-progress", "counter-identity"} <= set(proved.lemmas)


def test_refuted_with_its_shortest_counterexample() -> None:
    """counter-exact of the seed: the induction cannot prove it, the base
    case finds the 10-step lost update, replayed concretely; the lemma
    mutex-owner, false in the seed (2 steps), is refuted, never assumed
    (no-use-after-free, left open, keeps the induction going to k = 2)."""
    eng = InductionEngine(
        Model(specs.load("seed").params),
        [PROPERTIES["counter-exact"], PROPERTIES["no-use-after-free"]],
        [LEMMA["mutex-owner"]],
        max_k=2,
    )
    [result, other], _ = eng.run(10)
    assert (result.verdict, result.depth) == ("violated", 10)
    assert eng.proof.refuted_lemmas == {"mutex-owner": 2}
    assert not isinstance(other, Proved) or "mutex-owner" not in other.lemmas
    assert result.trace is not None and len(result.trace.steps) == 10
    m = Model(specs.load("seed").params)
    last = result.trace.steps[-1].state
    assert not PROPERTIES["counter-exact"].holds(Concrete(), m.kernel, last)
    assert all(
        PROPERTIES["counter-exact"].holds(Concrete(), m.kernel, st.state)
        for st in result.trace.steps[:-1]
    )


def test_cli_prove_json(capsys) -> None:
    """--prove --json on a buggy spec: exit 1, the violation with its
    counterexample; engine 'induction'."""
    rc = main(
        [
            "--spec",
            "seed",
            "--prove",
            "--max-k",
            "1",
            "--depth",
            "3",
            "--property",
            "no-deadlock",
            "--json",
        ]
    )
    doc = json.loads(capsys.readouterr().out)
    assert rc == 1 and doc["engine"] == "induction"
    [item] = doc["results"]
    assert (item["verdict"], item["depth"]) == ("violated", 2)
    assert len(item["counterexample"]) == 2


def test_cli_prove_bad_max_k(capsys) -> None:
    assert main(["--spec", "v4.13", "--prove", "--max-k", "0"]) == 2
    assert "--max-k" in capsys.readouterr().err


@pytest.mark.parametrize(
    "name,counter", [("v4.13-straddle", 0), ("v4.13-popfail-fix", 1), ("v4.13-counter-fix", 1)]
)
def test_v4_13_counter_drift_on_population_failure(name: str, counter: int) -> None:
    """A finding the induction pointed at (lemma occ-pages is not inductive
    once an area can straddle a page boundary): v4.13's population failure
    path, pcpu_free_area(chunk, off, &occ_pages); goto fail_unlock, ignores
    occ_pages.  If a neighbour in the area's populated first page was freed
    meanwhile (its free_percpu counted nothing: the page held the area), the
    page ends up empty, populated and uncounted: counter-exact breaks.  The
    fixes count it (v4.13-popfail-fix: the failure as completion + free;
    v4.13-counter-fix: the counter moves with the area map)."""
    # the drift's geometry (v4.13-straddle: alloc#2 holds two areas), with each spec's code
    geometry = specs.load("v4.13-straddle").params
    m = Model(replace(geometry, switches=specs.load(name).params.switches))
    plan = [
        ("percpu_enable_async", None, {}),
        # alloc#2 takes the first chunk's last cell (its static map needs no extension)
        ("pcpu_alloc (non-atomic)", 1, {"size": 1}),
        ("pcpu_alloc: counter", 1, {}),
        # alloc#1 creates chunk 1 and takes its cell 0 (page 0 populated)
        ("pcpu_alloc (non-atomic)", 0, {"size": 1}),
        ("pcpu_create_chunk", 0, {"fail": 0}),
        ("pcpu_extend_area_map", 0, {"fail": 0}),
        ("pcpu_alloc: restart", 0, {}),
        ("pcpu_populate_chunk", 0, {"fail": 0}),
        ("pcpu_alloc: counter", 0, {}),
        # alloc#2: cells 1-2, across pages 0 and 1 (occ_pages 1: page 1 only)
        ("pcpu_alloc (non-atomic)", 1, {"size": 2}),
        # alloc#1 frees cell 0: page 0 still holds alloc#2's cell, counter += 0
        ("free_percpu", 0, {}),
        # page 1's population fails: the area is freed, page 0 is empty: uncounted, unless fixed
        ("pcpu_populate_chunk", 1, {"fail": 1}),
    ]
    assert len(plan) == 12
    s, x = m.init(), Concrete()
    for name, ctx, want in plan:
        assert PROPERTIES["counter-exact"].holds(x, m.kernel, s)
        s = next(
            t
            for ai, ch, t in m.successors(s)
            if m.actions[ai].name == name
            and m.actions[ai].ctx == ctx
            and all(ch.get(k) == v for k, v in want.items())
        )
    assert (s.nr_empty_pop_pages, s.populated[1], s.alloc_map[1]) == (counter, 0b01, 0)
    assert PROPERTIES["counter-exact"].holds(x, m.kernel, s) == (counter == 1)


def test_popfail_fix_proves_the_counter() -> None:
    """The smallest fix for the population-failure drift keeps
    pcpu_nr_empty_pop_pages exact in every reachable state of the geometry
    where the drift happens; without it the proof fails (the base case or
    the step breaks counter-exact)."""
    fixed, _ = prove("v4.13-popfail-fix", "counter-exact", list(LEMMA))
    assert fixed.verdict == "proved"
    drifting, _ = prove("v4.13-straddle", "counter-exact", list(LEMMA))
    assert drifting.verdict != "proved"


WINDOW = [  # (context, action, choices) of the in-flight window (README)
    (None, "percpu_enable_async", {}),
    # alloc#2 takes the first chunk's one free cell
    (1, "pcpu_alloc (atomic)", {"size": 1}),
    (1, "pcpu_alloc: counter", {}),
    # alloc#1 creates chunk 1, takes all of it and populates it: the mutex is
    # released, `pcpu_nr_empty_pop_pages -= occ_pages` is still to come
    (0, "pcpu_alloc (non-atomic)", {"size": 4}),
    (0, "pcpu_create_chunk", {"fail": 0, "chunk": 1}),
    (0, "pcpu_extend_area_map", {"fail": 0}),
    (0, "pcpu_alloc: restart", {"chunk": 1}),
    (0, "pcpu_populate_chunk", {"fail": 0}),
    # the atomic request fails: nothing populated is free
    (1, "pcpu_alloc (atomic)", {"size": 1}),
    # the balance run: pcpu_atomic_alloc_failed, so nr_to_pop = HIGH; no chunk
    # to populate, so pcpu_create_chunk() and goto retry_pop, which recomputes
    # nr_to_pop from the counter, still holding alloc#1's two pages
    (None, "pcpu_balance_workfn", {}),
    (None, "pcpu_balance_workfn: collect", {}),
    (None, "pcpu_balance_workfn: map extend pick", {"chunk": 0}),  # nothing queued
    (None, "pcpu_balance_workfn: retry_pop", {}),
    (None, "pcpu_balance_workfn: pick chunk", {}),
    (None, "pcpu_create_chunk", {"fail": 0}),
    (None, "pcpu_balance_workfn: retry_pop", {}),
]


def step(m: Model, s, ctx, name: str, want: dict):
    [t] = [
        t
        for ai, ch, t in m.successors(s)
        if m.actions[ai].name == name
        and m.actions[ai].ctx == ctx
        and all(ch.get(k) == v for k, v in want.items())
    ]
    return t


def test_v4_13_in_flight_window_breaks_atomic_progress() -> None:
    """A finding (v4.13-window): a non-atomic allocation that has populated
    its area and dropped pcpu_alloc_mutex still counts the area's pages as
    empty until its `pcpu_nr_empty_pop_pages -= occ_pages`.  An atomic request
    failing meanwhile gets a balance run whose retry_pop, after creating a
    chunk, computes nr_to_pop = HIGH - counter = 0: the run ends with nothing
    populated and the request still does not fit (16 steps)."""
    m, x = Model(specs.load("v4.13-window").params), Concrete()
    s = m.init()
    assert len(WINDOW) == 16
    for ctx, name, want in WINDOW:
        assert PROPERTIES["atomic-progress"].holds(x, m.kernel, s)
        s = step(m, s, ctx, name, want)
    assert (s.ap_phase, s.nr_empty_pop_pages, s.pc[0]) == (3, 2, int(AllocPc.COUNTER))
    assert not PROPERTIES["atomic-progress"].holds(x, m.kernel, s)


def test_counter_fix_closes_the_window() -> None:
    """With the counter moved into pcpu_alloc_area()'s lock section
    (v4.13-counter-fix's switch), the same schedule's retry_pop sees no
    empty page and populates HIGH pages of the new chunk; when the run ends
    the request fits."""
    params = specs.load("v4.13-window").params
    fixed = replace(params, switches=replace(params.switches, occ_pages_subtracted="with-area"))
    m, x = Model(fixed), Concrete()
    s = m.init()
    for ctx, name, want in WINDOW:
        s = step(m, s, ctx, name, want)
    assert (s.nr_to_pop, s.nr_empty_pop_pages) == (2, 0)
    while s.balance_pc != int(BalancePc.IDLE):  # the rest of the run, nothing failing
        s = next(
            t for ai, ch, t in m.successors(s) if m.actions[ai].ctx is None and not ch.get("fail")
        )
        assert PROPERTIES["atomic-progress"].holds(x, m.kernel, s)
    assert s.ap_phase == 3 and s.nr_empty_pop_pages == 2


def test_counter_fix_proves_every_property() -> None:
    """v4.13-counter-fix, on a geometry where both the drift and the window
    are reachable in v4.13: the counter properties and atomic-progress are
    proved for every depth at k = 1."""
    props = ["counter-nonnegative", "counter-exact", "atomic-progress"]
    eng = InductionEngine(
        Model(specs.load("v4.13-counter-fix").params), [PROPERTIES[n] for n in props], max_k=1
    )
    results, _ = eng.run()
    assert [(r.verdict, r.k) for r in results] == [("proved", 1)] * 3
    assert "counter-identity" in results[0].lemmas


def test_explicit_and_bmc_base_cases_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    """The base case by the compiled explicit search gives the verdicts,
    counterexample lengths, proofs and vacuity the BMC base case gives, on
    inject-atomic-fit-unpopulated to 3 steps: populated-backing, violated
    at 3 steps, is reported with its counterexample (replayed concretely)
    and kept out of the pool (no lemmas: the proofs are not what differs,
    and they cost the most)."""
    model = Model(specs.load("inject-atomic-fit-unpopulated").params)
    props = [PROPERTIES[n] for n in ("populated-backing", "no-use-after-free")]
    fast = InductionEngine(model, props, [], max_k=1)
    explicit, _ = fast.run(3)
    assert fast.proof.base_seconds > 0
    with monkeypatch.context() as m:
        m.setattr(InductionEngine, "explicit_base", lambda *_: None)
        bmc, _ = InductionEngine(model, props, [], max_k=1).run(3)

    def verdict(r: Result) -> tuple:
        if isinstance(r, Proved):
            return (r.prop, r.verdict, r.k, r.lemmas, r.vacuous)
        return (r.prop, r.verdict, r.depth)

    assert [verdict(r) for r in explicit] == [verdict(r) for r in bmc]
    assert explicit[0].verdict == "violated"
    e = explicit[0]
    assert isinstance(e, Violated) and e.engine == "explicit" and e.depth == 3
    assert not PROPERTIES[e.prop].holds(Concrete(), model.kernel, e.trace.steps[-1].state)
