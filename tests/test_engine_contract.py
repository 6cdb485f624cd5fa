"""The engine contract (checker/engines/contract.py): every engine of the
table is built from the options alone and run as `run(depth, watch)`, one
result per property in the order asked, with its progress as named values:
a search reports the states it stored, a solver the seconds it spent."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from percpu_mc.checker import specs
from percpu_mc.checker.cli.check_model import Shown
from percpu_mc.checker.cli.common import Interrupt
from percpu_mc.checker.engines.contract import ENGINES, Options, build
from percpu_mc.checker.result import Unwatched
from percpu_mc.model.machine import Model
from percpu_mc.model.properties import PROPERTIES

NAMES = ["counter-nonnegative", "no-use-after-free"]


class Levels(Unwatched):
    """Records every level reported, with the names of the values given."""

    def __init__(self) -> None:
        self.levels: list[tuple[int, int | None, float | None]] = []

    def level(self, depth: int, *, states: int | None = None, seconds: float | None = None):
        self.levels.append((depth, states, seconds))


SEARCHES = {"explicit", "explicit-python", "portfolio"}
SOLVERS = {"bmc", "induction"}


@pytest.mark.parametrize("name", sorted(SEARCHES | SOLVERS))
def test_every_engine_runs_through_the_contract(name: str) -> None:
    """seed to depth 3: the verdicts in the order asked, and the levels
    reported by what the engine counts (no seconds called states)."""
    model = Model(specs.load("seed").params)
    props = [PROPERTIES[n] for n in reversed(NAMES)]
    watch = Levels()
    results, stats = build(name, model, props, Options(max_k=1)).run(3, watch)
    assert [r.prop for r in results] == list(reversed(NAMES))
    reference, _ = build("explicit-python", model, props, Options()).run(3)
    for r, ref in zip(results, reference):
        # the same violations at the same (shortest) length; induction may
        # leave a property it cannot prove at k = 1 unknown
        assert (r.verdict == "violated") == (ref.verdict == "violated") or (
            name == "induction" and r.verdict == "unknown"
        )
        assert r.verdict != "violated" or r.depth == ref.depth
    assert watch.levels, "every engine reports the depths it settles"
    for _, states, seconds in watch.levels:
        if name in SEARCHES:
            assert states is not None and states > 0 and seconds is None
        else:
            assert seconds is not None and seconds >= 0 and states is None


def test_the_table_is_every_engine_the_command_line_names() -> None:
    """Each --engine choice, --prove's induction and the cluster's
    distributed search are each one entry of the table."""
    from percpu_mc.checker.cli.model_args import parse_args

    for choice in ("portfolio", "bmc", "explicit", "explicit-python"):
        assert parse_args(["--engine", choice]).engine in ENGINES
    assert set(ENGINES) == {
        "portfolio",
        "bmc",
        "explicit",
        "explicit-python",
        "distributed",
        "induction",
    }


def test_prove_progress_is_shown_in_seconds() -> None:
    """A level reported in seconds is printed as seconds, in states as states."""
    out = io.StringIO()
    shown = Shown(Interrupt(), Console(file=out, force_terminal=False), True, "seed", 5)
    shown.shown = True  # past the few seconds before lines are printed
    shown.level(1, seconds=2.5)
    shown.level(2, states=1234)
    text = out.getvalue()
    assert "depth 1/5 done (2.5s)" in text
    assert "depth 2/5 done (1234 states)" in text
    assert "2 states" not in text
