"""The parameterized proof of no-use-after-free and counter-exact
(checker/parametric/): a subset of its obligations for every geometry, its
conformance with the finite model at a small geometry, and the negative
controls.  The whole proof (about 2 minutes) and the conformance at the
spec geometries are run by `check-model --every-geometry`
(docs/proofs-and-lassos.md), not here."""

from __future__ import annotations

import re
from dataclasses import fields, replace

import pytest
import z3

from percpu_mc.checker.cli.check_model import main as check_model
from percpu_mc.checker.parametric import conformance, controls
from percpu_mc.checker.parametric.controls import small_cti, work_item_mutant
from percpu_mc.checker.parametric.counting import CNT, LEMMAS, CountLemma
from percpu_mc.checker.parametric.counting import prove as prove_lemma
from percpu_mc.checker.parametric.prove import check, problem
from percpu_mc.checker.parametric.scope import Design, Scope
from percpu_mc.checker.specs import load
from percpu_mc.model.vocabulary import Kind

# the obligations that needed help (a ground instance, a supporting
# invariant) and the ones each property conjunct rests on
SUBSET = {
    ("context-chunk-live", "balance-destroy"),
    ("held-not-to-free", "balance-collect"),
    ("to-free", "balance-collect"),
    ("areas-apart-context-allocation", "search[restart->area-populate]"),
    ("areas-apart-contexts", "search[atomic->area]"),
    ("allocation-chunk-live", "free"),
    ("dead-chunk-no-extension", "balance-destroy"),
    ("balance-chunk-live", "balance-pick"),
    ("mutex-context", "search[nonatomic->area-done]"),
    ("mutex-owner-context", "search[nonatomic->fail]"),
    ("mutex-owner-balance", "balance-populate-end"),
    ("counter-nonnegative", "implied"),
}


def test_obligations_for_every_geometry() -> None:
    pb = problem()
    names = {i.name for i in pb.invariants}
    only = SUBSET | {(n, "init") for n in names}
    res = check(pb, only=only, timeout_ms=30_000)
    assert {(o.invariant, o.transition) for o in res} == only
    assert [o for o in res if o.verdict != "unsat"] == []


WORK_ITEM = Design(map_extension="work-item")


def test_work_item_mutant_fails_with_a_small_cti() -> None:
    # 1a4d76076cda: the balance work frees a chunk whose map_extend_work is queued
    pb = problem(WORK_ITEM)
    (ob,) = check(pb, only={("to-free", "balance-collect")}, timeout_ms=2_000)
    assert ob.verdict != "unsat"
    cti = small_cti(WORK_ITEM, "to-free", "balance-collect")
    assert cti is not None and cti.verdict == "sat"
    # after the step a chunk is on to_free with its map extension still queued
    after = {
        name: re.search(rf"; {name} \[[^]]*\]->\[([^]]*)\]", cti.cti)[1].split(", ")
        for name in ("to_free", "mep")
    }
    assert ("'True'", "'True'") in zip(after["to_free"], after["mep"])


def test_a_fixed_scope_unrolls_the_quantifiers() -> None:
    # the same obligation, posed at one geometry, holds there too
    pb = problem(scope=Scope.fixed(2, 2, 3, 4, 1, True))
    (ob,) = check(pb, only={("context-chunk-live", "balance-destroy")})
    assert ob.verdict == "unsat"


@pytest.fixture(scope="module")
def small() -> object:
    p = load("v4.13-counter-fix").params
    return replace(p, nr_contexts=1, live_per_context=1, nr_chunks=2)


STEPS = {
    Kind.ALLOC_COUNTER,
    Kind.FREE,
    Kind.BALANCE_COLLECT,
    Kind.BALANCE_DESTROY,
    Kind.ALLOC_POPULATE,
}


def test_finite_steps_are_parameterized_steps(small: object) -> None:
    r = conformance.check("small", small, kinds=STEPS)
    assert r.init_ok
    assert {c.action for c in r.steps} >= {"free_percpu", "pcpu_destroy_chunk"}
    assert [c for c in r.steps if c.verdict != "unsat"] == []


def test_conformance_catches_a_relation_that_is_not_the_model(small: object) -> None:
    # the finite work-item model does not take a collected chunk off the
    # extension list; the balance-list relation does
    r = conformance.check(
        "small-work-item", work_item_mutant(small), kinds={Kind.BALANCE_COLLECT}, design=Design()
    )
    assert any(c.verdict == "sat" for c in r.steps)


def test_unsupported_switches_are_named() -> None:
    p = load("v4.13-counter-fix").params
    q = replace(p, switches=replace(p.switches, alloc_mutex="populate-only"))
    assert conformance.unsupported(q) == ["alloc_mutex = 'populate-only'"]
    assert conformance.unsupported(load("v4.13").params) == []
    assert conformance.design_of(load("v4.13").params).counter == "after-population"
    # v4.13-popfail-fix's counter is neither v4.13's nor the fix's
    popfail = conformance.unsupported(load("v4.13-popfail-fix").params)
    assert popfail == ["occ_pages_subtracted = 'after-population'"]


def test_every_geometry_refuses_another_design(capsys: pytest.CaptureFixture[str]) -> None:
    assert check_model(["--spec", "v5.14", "--every-geometry"]) == 2
    err = capsys.readouterr().err
    assert "partial_depopulation = True" in err and "v4.13-counter-fix's design" in err


def test_counting_lemmas_are_proved_by_induction() -> None:
    assert [pr for lm in LEMMAS if not (pr := prove_lemma(lm)).proved] == []


def test_a_wrong_counting_lemma_is_not_proved() -> None:
    # a point update that forgets the old value of P[j]
    wrong = CountLemma(
        "cnt-point-update-wrong",
        "",
        lambda v, hi: z3.Implies(
            z3.And(v["lo"] <= v["j"], v["j"] < hi),
            CNT(z3.Store(v["P"], v["j"], v["b"]), v["lo"], hi)
            == CNT(v["P"], v["lo"], hi) + z3.If(v["b"], 1, 0),
        ),
    )
    assert not prove_lemma(wrong).proved


# counter-exact's obligations at the steps that move the counter or the
# populated pages, a few seconds each
COUNTER_STEPS = {
    "free",
    "populate-fail",
    "balance-destroy",
    "balance-populate",
    "search[atomic->area]",
}


def test_counter_obligations_for_every_geometry() -> None:
    pb = problem()
    counter = {"counter-exact", "immutable-populated", "unpopulated-owner"}
    only = {("counter-exact", t) for t in COUNTER_STEPS} | {(n, "init") for n in counter}
    only |= {("unpopulated-owner", "balance-populate"), ("allocation-populated", "finish")}
    res = check(pb, only=only, timeout_ms=60_000)
    assert {(o.invariant, o.transition) for o in res} == only
    assert [o for o in res if o.verdict != "unsat"] == []


@pytest.mark.parametrize(
    ("design", "invariant", "transition"),
    [
        (Design(free_counts_pages=False), "counter-exact", "free"),
        (Design(occupied_tail_test=">"), "counter-exact", "search[atomic->area]"),
        (Design(atomic_fit_pop_only=False), "unpopulated-owner", "search[atomic->area]"),
        (Design(counter="after-population"), "counter-exact", "populate-fail"),
    ],
)
def test_counter_mutants_fail_with_a_small_cti(
    design: Design, invariant: str, transition: str
) -> None:
    # v4.13's population-failure drift and the injected counter bugs rebuilt
    # on v4.13-counter-fix fail at a small geometry; the CTI shows the
    # counter, the cells in use and the populated pages
    cti = small_cti(design, invariant, transition)
    assert cti is not None and cti.verdict == "sat"
    assert "counter " in cti.cti and "populated " in cti.cti


def test_conformance_of_the_counter(small: object) -> None:
    r = conformance.check(
        "small", small, kinds={Kind.ALLOC, Kind.ALLOC_POPULATE, Kind.FREE, Kind.BALANCE_POPULATE}
    )
    assert {c.action for c in r.steps} >= {"free_percpu", "pcpu_populate_chunk"}
    assert [c for c in r.steps if c.verdict != "unsat"] == []


def test_conformance_catches_a_counter_that_is_not_the_model(small: object) -> None:
    # the finite free_percpu() that forgets the count is not the relation's
    p = replace(small, switches=replace(small.switches, free_counts_pages=False))
    r = conformance.check("small-forgets", p, kinds={Kind.FREE}, design=Design())
    assert any(c.verdict == "sat" for c in r.steps)


def test_control_specs_are_one_switch_from_the_fix() -> None:
    # specs/controls/: each injected counter bug rebuilt on v4.13-counter-fix
    base = load("v4.13-counter-fix").params
    for name in controls.SPECS:
        if name == "v4.13":
            continue
        p = controls.load(name).params
        assert p.validate() == []
        changed = [
            f.name
            for f in fields(base.switches)
            if getattr(base.switches, f.name) != getattr(p.switches, f.name)
        ]
        assert len(changed) == 1 and changed[0] in conformance.INJECTED, (name, changed)
        assert replace(p, switches=base.switches) == base
        assert conformance.unsupported(p) == []
