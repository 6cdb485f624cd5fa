"""Both commands' options as a user meets them: `--version` from the
installed scripts, bad option values refused as usage errors (exit 2, one
line, before any work), and every error under --json also a JSON document
`{"error": {"file", "line", "message"}}` on stdout, with its line on stderr."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from percpu_mc.checker.cli import check_model, check_trace

SAMPLES = Path(__file__).parent / "trace_samples"
PROGRAMS = {"check-model": check_model.main, "check-trace": check_trace.main}


def script(name: str) -> str:
    path = shutil.which(name, path=str(Path(sys.executable).parent))
    assert path, f"{name} is not installed next to the test interpreter"
    return path


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_version(name: str, tmp_path: Path) -> None:
    """`--version` prints the installed distribution's version, exit 0."""
    done = subprocess.run(
        [script(name), "--version"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{name} {metadata.version('percpu-mc')}\n"


BAD_VALUES = [
    ("check-trace", ["--unit-size", "0", "x"], "--unit-size"),
    ("check-trace", ["--unit-size", "-1", "x"], "--unit-size"),
    ("check-trace", ["--window-us", "-5", "x"], "--window-us"),
    ("check-trace", ["--unit-size", "4k", "x"], "--unit-size"),
    ("check-model", ["--depth", "0"], "--depth"),
    ("check-model", ["--depth", "-3"], "--depth"),
    ("check-model", ["--limit", "0"], "--limit"),
    ("check-model", ["--simulate", "-1"], "--simulate"),
    ("check-model", ["--workers", "0", "--engine", "explicit"], "--workers"),
    ("check-model", ["--max-k", "0", "--prove"], "--max-k"),
    ("check-model", ["--starvation", "0"], "--starvation"),
    ("check-model", ["--sweep", "--budget", "-1"], "--budget"),
    ("check-model", ["--sweep", "--budget", "nan"], "--budget"),
    ("check-model", ["--mutants", "--depth", "0"], "--depth"),
]


@pytest.mark.parametrize(
    "name, argv, option", BAD_VALUES, ids=[f"{n} {' '.join(a)}" for n, a, _ in BAD_VALUES]
)
def test_bad_option_values_are_usage_errors(
    name: str, argv: list[str], option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad option value: exit status 2, nothing on stdout, one line on
    stderr naming the option; with --json, the same line and the error
    document on stdout."""
    assert PROGRAMS[name](argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert err.startswith(f"{name}: argument {option}: "), err
    assert PROGRAMS[name](["--json", *argv]) == 2
    out, err2 = capsys.readouterr()
    assert err2 == err
    assert json.loads(out) == {
        "error": {"file": None, "line": None, "message": err[len(name) + 2 :].strip()}
    }


def errors(tmp: Path) -> list[tuple[str, list[str], str | None, int | None, str]]:
    """(program, argv, the error's file, line, a word of its message)."""
    bad_toml = tmp / "bad.toml"
    bad_toml.write_text('name = "x"\n\n[params]\nunit_pages = 2\n[switches\n')
    bad_param = tmp / "param.toml"
    bad_param.write_text('name = "x"\n\n[params]\nunit_pages = 2\nnr_contexts = 100000\n')
    unreadable = tmp / "a-directory"
    unreadable.mkdir()
    log = SAMPLES / "boot.trace"
    return [
        ("check-model", ["--spec", "no-such-spec"], None, None, "unknown spec"),
        ("check-model", ["--spec", str(bad_toml)], str(bad_toml), 5, "malformed TOML"),
        ("check-model", ["--spec", str(bad_param)], str(bad_param), 5, "too large to search"),
        (
            "check-model",
            ["--spec", str(unreadable / "x.toml")],
            str(unreadable / "x.toml"),
            None,
            "no such spec file",
        ),
        ("check-model", ["--property", "no-such-property"], None, None, "unknown property"),
        ("check-model", ["--starvation", "999"], None, None, "--starvation"),
        ("check-model", ["--sweep", "--spec", str(bad_toml)], str(bad_toml), 5, "malformed"),
        ("check-model", ["--sweep", "--param", "unit_pagez=1"], None, None, "unit_pagez"),
        ("check-trace", ["--spec", str(bad_param), str(log)], str(bad_param), 5, "too large"),
        ("check-trace", ["--bogus", str(log)], None, None, "--bogus"),
    ]


@pytest.mark.parametrize("case", range(10))
def test_errors_under_json(case: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Under --json an error is one document on stdout naming the file and
    line where it is known, and one line on stderr; exit status 2."""
    name, argv, file, line, word = errors(tmp_path)[case]
    assert PROGRAMS[name](["--json", *argv]) == 2
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and err.startswith(f"{name}: ") and word in err, err
    assert "Traceback" not in err
    error = json.loads(out)["error"]
    assert (error["file"], error["line"]) == (file, line)
    assert word in error["message"] and error["message"] in err


def test_unreadable_log_is_an_error_on_stderr(tmp_path: Path) -> None:
    """A log that cannot be read (a directory): the report on stdout says
    unreadable, the reason goes to stderr, and under --json the document
    carries it as its error; exit status 2."""
    folder = tmp_path / "adir"
    folder.mkdir()
    done = subprocess.run(
        [script("check-trace"), str(folder)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "cannot read" not in done.stdout and "unreadable" in done.stdout
    assert done.stderr == f"check-trace: {folder}: cannot read: Is a directory\n"
    done = subprocess.run(
        [script("check-trace"), "--json", str(folder)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    doc = json.loads(done.stdout)
    assert doc["verdict"] == "unparseable"
    assert doc["error"] == {
        "file": str(folder),
        "line": None,
        "message": "cannot read: Is a directory",
    }


def test_unparseable_log_error_names_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Lines that fit no format: stderr names the first one and the count;
    the JSON document's error is that line."""
    log = tmp_path / "log"
    log.write_text((SAMPLES / "boot.trace").read_text() + "garbage one\ngarbage two\n")
    assert check_trace.main(["--json", str(log)]) == 2
    out, err = capsys.readouterr()
    error = json.loads(out)["error"]
    lines = log.read_text().count("\n")
    assert (error["file"], error["line"]) == (str(log), lines - 1)
    assert err == f"check-trace: {log}:{lines - 1}: {error['message']}\n"
    assert "(2 lines in all)" in err
