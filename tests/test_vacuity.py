"""Vacuity: a property whose premise never arose within
the run is reported as vacuous by every engine, in the text and JSON output,
and `--fail-on-vacuity` turns it into exit status 1.  At v4.13's geometry and
depth 6 a quiescent point with a live allocation arises (counter-exact is
tested) and no failed atomic request meets a clean balance run (atomic-progress
is vacuous): the engines must agree on both."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout

import pytest

from percpu_mc.checker import specs
from percpu_mc.checker.cli.check_model import main
from percpu_mc.checker.engines.bmc import BMCEngine
from percpu_mc.checker.engines.compiled import CompiledEngine
from percpu_mc.checker.engines.explicit import ExplicitEngine
from percpu_mc.checker.engines.induction import InductionEngine
from percpu_mc.checker.result import Holds
from percpu_mc.model.machine import Model
from percpu_mc.model.ops import Concrete
from percpu_mc.model.properties import PROPERTIES

NAMES = ["counter-exact", "atomic-progress", "no-deadlock"]
DEPTH = 6


def vacuity(engine: type, depth: int = DEPTH) -> dict[str, bool | None]:
    model = Model(specs.load("v4.13").params)
    results, _ = engine(model, [PROPERTIES[n] for n in NAMES]).run(depth)
    assert all(isinstance(r, Holds) for r in results)
    return {r.prop: r.vacuous for r in results}  # type: ignore[union-attr]


@pytest.mark.parametrize("engine", [ExplicitEngine, CompiledEngine, BMCEngine])
def test_engines_report_vacuity(engine: type) -> None:
    assert vacuity(engine) == {"counter-exact": False, "atomic-progress": True, "no-deadlock": None}


def test_premise_met_only_where_it_holds() -> None:
    """Depth 1: no allocation has completed, so counter-exact is vacuous too."""
    assert vacuity(ExplicitEngine, 1)["counter-exact"] is True
    model = Model(specs.load("v4.13").params)
    x, s0 = Concrete(), model.init()
    for p in PROPERTIES.values():
        if p.premise is not None:
            assert p.premise_reached().holds(x, model.kernel, s0) == (
                not p.premise(x, model.kernel, s0)
            )


def cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with redirect_stdout(out), redirect_stderr(io.StringIO()):
        rc = main(list(argv))
    return rc, out.getvalue()


def test_cli_reports_and_fails_on_vacuity() -> None:
    base = [
        "--spec",
        "v4.13",
        "--depth",
        str(DEPTH),
        "--engine",
        "explicit",
        "--property",
        "atomic-progress",
        "--property",
        "counter-exact",
    ]
    rc, text = cli(*base)
    assert rc == 0
    line = next(ln for ln in text.splitlines() if ln.startswith("atomic-progress"))
    assert f"holds up to depth {DEPTH} (vacuously: " in line
    assert "vacuously" not in next(ln for ln in text.splitlines() if ln.startswith("counter-exact"))
    rc, text = cli(*base, "--json")
    assert rc == 0
    doc = {r["property"]: r for r in json.loads(text)["results"]}
    assert doc["atomic-progress"]["vacuous"] is True
    assert doc["counter-exact"]["vacuous"] is False
    assert cli(*base, "--fail-on-vacuity")[0] == 1
    assert cli(*base[:-2], "--fail-on-vacuity")[0] == 1
    assert (
        cli(
            "--spec",
            "v4.13",
            "--depth",
            str(DEPTH),
            "--engine",
            "explicit",
            "--property",
            "counter-exact",
            "--fail-on-vacuity",
        )[0]
        == 0
    )


def test_induction_reports_vacuity_of_the_base_case() -> None:
    """A proof is vacuous when no state of the base case's unrolling meets
    the premise: counter-exact's quiescent point with a live allocation takes
    more than one step, so a proof at k = 1 alone is vacuous, and one whose
    base case is unrolled to 6 steps is not."""
    model = Model(specs.load("v4.13-one-chunk").params)
    props = [PROPERTIES["counter-exact"], PROPERTIES["no-deadlock"]]
    for depth, vacuous in ((0, True), (6, False)):
        results, _ = InductionEngine(model, props, max_k=1).run(depth)
        got = {r.prop: (r.verdict, r.vacuous) for r in results}  # type: ignore[union-attr]
        assert got == {"counter-exact": ("proved", vacuous), "no-deadlock": ("proved", None)}
