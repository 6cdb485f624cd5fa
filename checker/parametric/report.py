"""`check-model --spec S --every-geometry`: the proof of no-use-after-free,
counter-exact, counter-nonnegative, populated-backing and no-deadlock for
every geometry, and its conformance with the finite model at S's.

The parameterized relation is v4.13-counter-fix's design (whole-call
pcpu_alloc_mutex, the balance-list map extension, no partial
depopulation, the counter moved with the area map).  The properties rest
on one inductive invariant (the conjunction of all the quantified
invariants, each obligation assuming all of them; counter-nonnegative is
implied by it), so each is proved when every obligation is `unsat` and the
finite model conforms at S."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import fields
from typing import Any

from percpu_mc.checker import specs
from percpu_mc.checker.cli.common import fail
from percpu_mc.checker.errors import Failure
from percpu_mc.checker.parametric import conformance
from percpu_mc.checker.parametric.counting import LEMMAS, LemmaProof
from percpu_mc.checker.parametric.counting import prove as prove_lemma
from percpu_mc.checker.parametric.prove import CELLS_PER_PAGE, check, problem
from percpu_mc.checker.parametric.scope import Design

GEOMETRY = (
    "any number of allocating contexts (at least 1) and live allocation slots (at least 1), "
    "any number of chunk structs (at least 1, at least 2 with the reserved chunk), with or "
    "without a reserved chunk, any number of pages a unit (at least 1) at "
    f"{CELLS_PER_PAGE} cells a page, any static prefix of the first chunk (at least one cell, "
    "short of the unit), any request sizes; alignments, LOW/HIGH and the map margins unread"
)
ASSUMED = (
    "the definitions of cnt and sm (a base and a step axiom each); the lemmas the "
    "obligations read are proved from them by induction (checker/parametric/counting.py)"
)


def prove_every_geometry(spec_name: str, timeout_ms: int = 60_000) -> dict[str, Any]:
    """The proof for every geometry and the conformance at the spec's."""
    spec = specs.load(spec_name)
    p = spec.params
    bad = conformance.unsupported(p)
    design = conformance.design_of(p)
    if design.counter != "with-area":
        bad.append(f"occ_pages_subtracted = {p.switches.occ_pages_subtracted!r}")
    if bad:
        raise Failure(
            f"{spec.name}: the parameterized relation is v4.13-counter-fix's design; "
            f"it does not interpret {', '.join(bad)}"
        )
    pb = problem(design)
    t0 = time.monotonic()
    obligations = check(pb, timeout_ms=timeout_ms)
    proof_s = time.monotonic() - t0
    lemmas = counting_lemmas()
    conf = conformance.check(spec.name, p, timeout_ms=timeout_ms)
    failed = [o for o in obligations if o.verdict != "unsat"]
    proved = not failed and conf.ok and all(lm.proved for lm in lemmas)
    changed = [
        f"{f.name} = {getattr(design, f.name)!r}"
        for f in fields(Design)
        if getattr(design, f.name) != getattr(Design(), f.name)
    ]
    name = "v4.13-counter-fix" + (f" ({', '.join(changed)})" if changed else "")
    parts = [i for i in pb.invariants + pb.implied if i.part_of]

    def entry(prop: str) -> dict[str, Any]:
        return {
            "verdict": "proved for every geometry" if proved else "not proved",
            "design": name,
            "geometry": GEOMETRY,
            "invariants": [{"name": i.name, "says": i.says} for i in parts if i.part_of == prop],
        }

    return {
        "spec": spec.name,
        "properties": {prop: entry(prop) for prop in dict.fromkeys(i.part_of for i in parts)},
        "proof": {
            "assumed": ASSUMED,
            "invariants": [
                {"name": i.name, "says": i.says, "property": i.part_of} for i in pb.invariants
            ],
            "counting_lemmas": [{"name": lm.name, "proved": lm.proved} for lm in lemmas],
            "obligations": len(obligations),
            "failed": [
                {
                    "invariant": o.invariant,
                    "transition": o.transition,
                    "verdict": o.verdict,
                    "cti": o.cti,
                }
                for o in failed
            ],
            "seconds": round(proof_s, 2),
            "slowest_obligation_seconds": round(max(o.seconds for o in obligations), 2),
            "cpu_seconds": round(sum(o.cpu for o in obligations), 2),
            "slowest_obligation_cpu_seconds": round(max(o.cpu for o in obligations), 2),
            "slowest_obligation": next(
                f"{o.invariant} after {o.transition}"
                for o in sorted(obligations, key=lambda o: -o.cpu)
            ),
        },
        "conformance": {
            "geometry": spec.name,
            "initial_state": conf.init_ok,
            "steps": len(conf.steps),
            "not_steps_of_the_relation": [
                {"action": c.action, "choices": c.choices, "verdict": c.verdict}
                for c in conf.steps
                if c.verdict != "unsat"
            ],
            "seconds": round(conf.seconds, 2),
            "slowest_step_seconds": round(max((c.seconds for c in conf.steps), default=0.0), 2),
        },
    }


def counting_lemmas() -> list[LemmaProof]:
    """The generic lemmas the obligations read, each proved by induction."""
    return [prove_lemma(lm) for lm in LEMMAS]


def main(args: argparse.Namespace) -> int:
    """The --every-geometry hook of check-model."""
    try:
        doc = prove_every_geometry(args.spec)
    except Failure as e:
        return fail("check-model", e, args.json)
    if args.json:
        json.dump(doc, sys.stdout, indent=1)
        print()
    else:
        print(f"{doc['spec']}: proofs for every geometry")
        for name, r in doc["properties"].items():
            print(f"  {name}: {r['verdict']}")
            print(f"    design: {r['design']}; for {r['geometry']}")
            for i in r["invariants"]:
                print(f"      {i['name']}: {i['says']}")
        pr = doc["proof"]
        print(
            f"  one inductive invariant, {len(pr['invariants'])} quantified invariants, "
            f"{pr['obligations']} obligations in {pr['seconds']} s, {pr['cpu_seconds']} s of CPU "
            f"(slowest {pr['slowest_obligation_seconds']} s, {pr['slowest_obligation_cpu_seconds']}"
            f" s of CPU: {pr['slowest_obligation']}); assumed: {pr['assumed']}"
        )
        for i in pr["invariants"]:
            print(f"      {i['name']}: {i['says']}")
        for f in pr["failed"]:
            print(f"    not proved: {f['invariant']} after {f['transition']}: {f['cti']}")
        c = doc["conformance"]
        print(
            f"  conformance at {c['geometry']}: initial state {'ok' if c['initial_state'] else 'NOT ok'}, "
            f"{c['steps']} finite steps, {len(c['not_steps_of_the_relation'])} not steps of the "
            f"relation ({c['seconds']} s)"
        )
    verdicts = {r["verdict"] for r in doc["properties"].values()}
    return 0 if verdicts == {"proved for every geometry"} else 1
