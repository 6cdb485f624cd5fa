"""check-model where a new user meets it: --simulate
prints JSON only when asked; a sweep says how far it is off a terminal; a
misspelled spec gets "did you mean"; a directory as --spec gets its own
message; an edited copy of a spec runs under its file's name and is not held
to the original's expectations; --help is grouped, describes every spec and
ends with the exit statuses, naming only paths that exist."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from percpu_mc.checker import specs
from percpu_mc.checker.cli.check_model import main

ROOT = Path(__file__).resolve().parent.parent


def check(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    cap = capsys.readouterr()
    return status, cap.out, cap.err


def test_simulate_prints_json_only_with_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--spec", "seed", "--simulate", "20", "--emit-log", str(tmp_path)]
    status, out, err = check(capsys, *argv)
    assert status == 0 and out == "" and "wrote " in err
    status, out, err = check(capsys, *argv, "--json")
    assert status == 0 and json.loads(out)["simulated"].endswith(".trace")


def test_sweep_progress_off_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = check(
        capsys,
        *("--sweep", "--spec", "seed", "--property", "no-deadlock", "--depth", "2"),
        *("--engines", "bmc", "--workers", "1"),
    )
    assert status == 1
    assert re.search(r"1/1 jobs done: seed no-deadlock \(bmc\): violated at depth 2", err), err


def test_misspelled_spec_did_you_mean(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = check(capsys, "--spec", "v4.31")
    assert status == 2
    assert err.strip() == "check-model: unknown spec 'v4.31': did you mean v4.13?"


def test_directory_as_spec(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = check(capsys, "--spec", str(tmp_path))
    assert status == 2
    assert err.count("\n") == 1 and "a directory, not a spec" in err and str(tmp_path) in err


def test_edited_copy_runs_under_its_own_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (specs.SPEC_DIR / "v4.13.toml").read_text()
    edited = re.sub(r'counter_update = "locked"', 'counter_update = "unlocked"', text)
    assert edited != text
    copy = tmp_path / "my-v4.13.toml"
    copy.write_text(edited)
    argv = ["--depth", "2", "--engine", "explicit-python"]
    status, out, err = check(capsys, "--spec", str(copy), *argv)
    assert out.startswith("spec my-v4.13,"), out
    assert "expected" not in out.split("summary:")[0], out
    assert "an edited copy of spec v4.13" in err
    # an unedited copy is the spec itself: its expectations stand
    same = tmp_path / "same.toml"
    same.write_text(text)
    status, out, err = check(capsys, "--spec", str(same), *argv)
    assert out.startswith("spec same,") and "(expected: violated" in out and err == ""


def test_help_grouped_with_specs_and_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for group in ("what to check:", "engine:", "output:", "sweeps (--sweep, --mutants):"):
        assert f"\n{group}\n" in text, group
    for name in specs.available():
        line = next((ln for ln in text.splitlines() if ln.split()[:1] == [name]), None)
        assert line is not None and len(line.split()) > 1, f"{name} has no description"
    status = text.split("\nexit status:\n")[1]
    for code in ("0", "1", "2", "3", "130"):
        assert re.search(rf"^  {code} ", status, re.M), code
    for path in re.findall(r"\b(?:checker|model)/[\w/]+\.py\b", text):
        assert (ROOT / path).is_file(), path
