"""check-model's text report read as a kernel developer reads it.
A step that takes a failure path says which call failed; where a
context stands is said in kernel words, never as an internal program
counter; a run that breaks several properties is printed once; the report
ends with a summary, the exit status's meaning and a next step.  The words
come from the actions' metadata (their `Kind` and choices), so every kind
and every program counter must have them."""

from __future__ import annotations

import json
import re

import pytest

from percpu_mc.checker import specs
from percpu_mc.checker.cli.check_model import main
from percpu_mc.checker.report.kernel_words import ALLOC_AT, BALANCE_AT, FAILURE, FUNCTION
from percpu_mc.model.control import AllocPc, BalancePc
from percpu_mc.model.machine import Model
from percpu_mc.model.vocabulary import Kind

PCS = [pc.name for pc in AllocPc] + [pc.name for pc in BalancePc]


def check(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    status = main(list(argv))
    return status, capsys.readouterr().out


def test_failure_path_named_and_no_program_counters(capsys: pytest.CaptureFixture[str]) -> None:
    status, out = check(
        capsys, "--spec", "seed", "--property", "no-deadlock", "--depth", "2", "--engine", "bmc"
    )
    assert status == 1
    lines = out.splitlines()
    step2 = next(i for i, ln in enumerate(lines) if ln.strip().startswith("2. "))
    failed = [ln for ln in lines[step2:] if "FAILS:" in ln]
    assert failed and "pcpu_create_chunk() fails" in failed[0], out
    assert "pcpu_alloc() returns NULL" in out
    for name in PCS:
        assert not re.search(rf"\b{name}\b", out), f"{name} in:\n{out}"


def test_failure_in_json(capsys: pytest.CaptureFixture[str]) -> None:
    status, out = check(
        capsys,
        *("--spec", "seed", "--property", "no-deadlock", "--depth", "2", "--engine", "bmc"),
        "--json",
    )
    steps = json.loads(out)["results"][0]["counterexample"]
    assert steps[1]["choices"]["fail"] == 1
    assert steps[1]["fails"].startswith("pcpu_create_chunk() fails")
    assert steps[1]["function"] == "pcpu_create_chunk"
    assert "fails" not in steps[0]


def test_shared_run_printed_once_and_summary(capsys: pytest.CaptureFixture[str]) -> None:
    status, out = check(
        capsys,
        *("--spec", "seed", "--depth", "10", "--engine", "explicit"),
        *("--property", "counter-nonnegative", "--property", "counter-exact"),
    )
    assert status == 1
    assert len(re.findall(r"^\s+1\. ", out, re.M)) == 1, out
    assert re.search(
        r"counter-exact: the same run as counter-nonnegative \(above\), violated at\s+step 10", out
    ), out
    tail = out.splitlines()[-4:]
    summary = " ".join(tail)
    assert tail[0].startswith("summary: 2 properties of spec seed: 2 violated"), tail
    assert "exit status 1: a violation found" in summary
    assert "next: --html FILE" in summary


def test_summary_of_a_holding_run(capsys: pytest.CaptureFixture[str]) -> None:
    status, out = check(
        capsys, "--spec", "v4.13-popfail-fix", "--depth", "3", "--engine", "explicit-python"
    )
    assert status == 0
    summary = " ".join(out.splitlines()[-3:])
    assert "0 violated" in summary and "9 held, up to depth 3" in summary
    assert "exit status 0: no property violated" in summary
    assert "--prove" in summary


def test_every_kind_and_program_counter_has_words() -> None:
    assert set(FUNCTION) == set(Kind)
    assert set(ALLOC_AT) == set(AllocPc) and set(BALANCE_AT) == set(BalancePc)
    for name in specs.available():
        for a in Model(specs.load(name).params).actions:
            if "fail" in a.choices:
                assert a.kind in FAILURE, (name, a.name)
