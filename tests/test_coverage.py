"""Action coverage (checker/engines/coverage.py, check-model --coverage): an
action that cannot fire within the search is named, one that fires is not;
the compiled and the pure-Python searches reach the same actions and paths;
a spec's expect.unreached is read, checked against the spec's actions, and
--fail-on-unreached fails the run on any action it does not list."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from percpu_mc.checker import specs
from percpu_mc.checker.cli.check_model import main
from percpu_mc.checker.engines import coverage
from percpu_mc.checker.engines.coverage import Groups, _cover_python, cover
from percpu_mc.model.machine import Model


def reached(c: coverage.Coverage) -> set[str]:
    return {a.name for a in c.actions if a.taken} | {
        p.name for a in c.actions for p in a.paths if p.taken
    }


def test_an_action_that_cannot_fire_is_named_and_one_that_fires_is_not() -> None:
    """v4.13 to 6 steps: no chunk can be destroyed yet (one must be created,
    filled, emptied and collected first), while atomic allocations and the
    failure path of population are taken; a step is counted in every state
    that enables it, so enabled <= taken and taken > 0 iff enabled > 0."""
    c = cover(Model(specs.load("v4.13").params), 6)
    unreached = c.unreached()
    assert "balance-destroy" in unreached
    assert "alloc-atomic" not in unreached and "alloc-populate:fails" not in unreached
    by = {a.name: a for a in c.actions}
    assert by["balance-destroy"].taken == by["balance-destroy"].enabled == 0
    assert by["alloc-atomic"].taken >= by["alloc-atomic"].enabled > 0
    for a in c.actions:
        assert (a.taken > 0) == (a.enabled > 0)
        assert sum(p.taken for p in a.paths) in (0, a.taken)
    assert not c.exhaustive and c.depth == 6 and c.states > 0


def test_compiled_and_python_reach_the_same_actions() -> None:
    """The compiled search (symmetry-reduced) and the concrete one take the
    same actions and paths to the same depth."""
    model = Model(specs.load("v4.13").params)
    compiled = cover(model, 7)
    python = _cover_python(model, Groups(model), 7, coverage.UNWATCHED)
    assert python.engine == "explicit-python" and compiled.engine == "explicit"
    assert reached(compiled) == reached(python)
    assert python.states >= compiled.states  # no reduction on the concrete one


def spec_file(tmp_path: Path, unreached: str) -> Path:
    text = specs.load("v4.13").path.read_text()
    text = text[: text.index("[expect.unreached]")] + unreached
    path = tmp_path / "cov.toml"
    path.write_text(text)
    return path


def test_fail_on_unreached(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Without balance-destroy in expect.unreached the run fails (exit 1)
    and the JSON names it unexpected; with it, the run passes and the why
    is carried into the document."""
    argv = ["--engine", "explicit", "--property", "no-deadlock", "--depth", "6", "--json"]
    bare = spec_file(tmp_path, "")
    assert main(["--spec", str(bare), *argv, "--fail-on-unreached"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert "balance-destroy" in doc["coverage"]["unexpected_unreached"]
    listed = {u["action"] for u in doc["coverage"]["unreached"]}
    ok = spec_file(
        tmp_path,
        "[expect.unreached]\n" + "".join(f'"{n}" = "not within 6 steps"\n' for n in sorted(listed)),
    )
    assert main(["--spec", str(ok), *argv, "--fail-on-unreached"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["coverage"]["unexpected_unreached"] == []
    assert {u["why"] for u in doc["coverage"]["unreached"]} == {"not within 6 steps"}


def test_an_unknown_action_in_expect_unreached_is_bad_input(tmp_path: Path) -> None:
    path = spec_file(tmp_path, '[expect.unreached]\nbalance-destroyy = "typo"\n')
    with pytest.raises(specs.SpecError) as e:
        specs.load(str(path))
    assert "unknown action 'balance-destroyy'" in str(e.value)
    assert e.value.line is not None and e.value.file == str(path)
