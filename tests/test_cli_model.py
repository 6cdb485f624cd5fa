"""check-model's contract (README.md "Exit status", docs/check-model.md):
exit 0 when nothing is violated, 1 when a violation is found, 2 with one
clear message and no traceback on bad input; `--json` prints one document of
the documented shape; a counterexample is a shortest run whose last state
violates the property, the same for both engines; human output stays within
100 columns.

The violating case runs on a spec written here, pinned to the seed's switches
and a geometry whose unlocked-counter race (two atomic allocations, two loads,
two stores) is 6 steps long, so these tests do not move when the shipped specs
are retuned."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from functools import cache
from pathlib import Path

import pytest

from percpu_mc.checker.cli.check_model import main
from percpu_mc.checker.report.counterexample import context_label
from percpu_mc.checker.specs import available, load
from percpu_mc.model.machine import Model

PINNED = """\
# The seed's switches on a geometry where the first chunk's second page is
# populated and free: the lost counter update needs no chunk creation.
name = "seed-pinned"
description = "1a4d76076cda switches, first chunk with one free page"

[params]
unit_pages = 2
cells_per_page = 2
nr_chunks = 3
first_chunk_static_cells = 2
reserved_cells = 0
empty_pop_pages_low = 1
empty_pop_pages_high = 2
nr_contexts = 2
live_per_context = 1
sizes = [1, 2]
aligns = [1]

[switches]
balance_work = "free-and-populate"
async_gate = true
atomic_fail_schedules = true
low_check_schedules = true
create_fail_unlocks_mutex = false
map_extension = "work-item"
alloc_mutex = "populate-only"
counter_update = "unlocked"

[expect]
depth = 8
violated = ["counter-exact"]
"""
RACE_DEPTH = 6


@pytest.fixture(scope="module")
def pinned(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("specs") / "seed-pinned.toml"
    path.write_text(PINNED)
    return str(path)


@cache
def cli(*argv: str) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of check-model run in-process; the
    model-checking runs are shared between the tests that read them."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        rc = main(list(argv))
    return rc, out.getvalue(), err.getvalue()


def violation(pinned: str, engine: str) -> tuple[int, dict]:
    rc, out, _ = cli(
        "--spec",
        pinned,
        "--property",
        "counter-exact",
        "--depth",
        "8",
        "--engine",
        engine,
        "--json",
    )
    return rc, json.loads(out)


# -- bad input: exit 2, one message ------------------------------------------------


def bad_inputs(tmp: Path) -> list[tuple[list[str], list[str]]]:
    """(argv, what the message must name)."""
    malformed = tmp / "malformed.toml"
    malformed.write_text(PINNED.replace("[switches]", "[switches"))
    return [
        (["--spec", "no-such-spec"], ["no-such-spec", *available()]),
        (["--spec", str(malformed)], [str(malformed)]),
        (
            ["--spec", "v4.13", "--property", "no-such-property"],
            ["no-such-property", "counter-exact"],
        ),
        (["--spec", "v4.13", "--depth", "0"], ["--depth"]),
    ]


@pytest.mark.parametrize(
    "case", range(4), ids=["unknown spec", "malformed spec", "unknown property", "depth 0"]
)
def test_bad_input_exits_2_with_one_message(
    case: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bad input: exit status 2, nothing on stdout, and on stderr exactly one
    line naming what is wrong, no traceback."""
    argv, names = bad_inputs(tmp_path)[case]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("check-model: "), err
    assert "Traceback" not in err
    assert all(n in lines[0] for n in names), lines[0]


def test_installed_script_exits_2(tmp_path: Path) -> None:
    """The installed check-model script, run from elsewhere, gives the same
    exit status 2 and one-line message for an unknown spec."""
    script = shutil.which("check-model", path=str(Path(sys.executable).parent))
    assert script, "check-model is not installed next to the test interpreter"
    run = subprocess.run(
        [script, "--spec", "no-such-spec"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 2
    assert run.stdout == ""
    assert "Traceback" not in run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "no-such-spec" in lines[0] and "seed" in lines[0]


# -- verdicts -----------------------------------------------------------------------


def counter_exact_violated(state: dict) -> bool:
    """counter-exact on a counterexample's JSON state: with every context
    idle, the counter differs from the populated, fully free pages of the
    chunks other than the reserved one."""
    if any(c["pc"] != "IDLE" for c in state["contexts"]):
        return False
    truth = 0
    for chunk in state["chunks"]:
        if chunk["role"] == "reserved chunk":
            continue
        for cells, pop in zip(chunk["map"].split("|"), chunk["populated"]):
            truth += set(cells) == {"."} and pop == "P"
    return state["pcpu_nr_empty_pop_pages"] != truth


@pytest.mark.parametrize("engine", ["bmc", "explicit"])
def test_json_shape_and_counterexample(pinned: str, engine: str) -> None:
    """A violation exits 1; --json is one document of the documented shape;
    the counterexample has `depth` steps numbered 1..depth, its last state
    violates the property and no earlier one does (it is a shortest run)."""
    rc, doc = violation(pinned, engine)
    assert rc == 1
    assert {"spec", "engine", "depth", "results"} <= set(doc)
    assert (doc["spec"], doc["engine"], doc["depth"]) == ("seed-pinned", engine, 8)
    [result] = doc["results"]
    assert {"property", "verdict", "depth", "counterexample"} <= set(result)
    assert (result["property"], result["verdict"], result["depth"]) == (
        "counter-exact",
        "violated",
        RACE_DEPTH,
    )
    steps = result["counterexample"]
    assert [s["step"] for s in steps] == list(range(1, RACE_DEPTH + 1))
    for s in steps:
        assert {"step", "context", "action", "state"} <= set(s)
        assert isinstance(s["context"], str) and isinstance(s["action"], str)
    assert counter_exact_violated(steps[-1]["state"])
    assert not any(counter_exact_violated(s["state"]) for s in steps[:-1])


def test_engines_agree(pinned: str) -> None:
    """BMC and explicit-state search give the same verdict at the same depth."""
    verdicts = {}
    for engine in ("bmc", "explicit"):
        rc, doc = violation(pinned, engine)
        verdicts[engine] = (rc, [(r["property"], r["verdict"], r["depth"]) for r in doc["results"]])
    assert (
        verdicts["bmc"] == verdicts["explicit"] == (1, [("counter-exact", "violated", RACE_DEPTH)])
    )


@pytest.mark.parametrize("engine", ["bmc", "explicit"])
def test_nothing_violated_exits_0(engine: str) -> None:
    """A property that holds up to the depth: exit 0, verdict holds."""
    rc, out, _ = cli(
        "--spec", "v4.13", "--property", "no-deadlock", "--depth", "4", "--engine", engine, "--json"
    )
    assert rc == 0
    [result] = json.loads(out)["results"]
    assert (result["property"], result["verdict"], result["counterexample"]) == (
        "no-deadlock",
        "holds",
        [],
    )


@pytest.mark.parametrize("engine", ["bmc", "explicit"])
def test_json_seconds_and_states(pinned: str, engine: str) -> None:
    """Each property's `seconds` is its own: under BMC the time of its own
    queries, so that together they take no longer than the run; `states` is
    a count where the engine has one and absent under BMC, never null."""
    rc, out, _ = cli(
        "--spec",
        pinned,
        "--property",
        "no-deadlock",
        "--property",
        "counter-exact",
        "--property",
        "chunk-lifecycle",
        "--depth",
        "6",
        "--engine",
        engine,
        "--json",
    )
    doc = json.loads(out)
    assert rc == 1 and len(doc["results"]) == 3
    seconds = [r["seconds"] for r in doc["results"]]
    assert all(0 <= s <= doc["seconds"] for s in seconds)
    if engine == "bmc":
        assert "states" not in doc
        assert sum(seconds) <= doc["seconds"]
    else:
        assert isinstance(doc["states"], int) and doc["states"] > 0


def test_human_output(pinned: str) -> None:
    """Human output names the verdict and depth, lists the numbered steps,
    and keeps every line within 100 columns."""
    rc, out, _ = cli("--spec", pinned, "--property", "counter-exact", "--depth", "8")
    assert rc == 1
    assert "violated at depth 6" in out
    for n in range(1, RACE_DEPTH + 1):
        assert f"  {n:>3}. " in out
    too_long = [line for line in out.splitlines() if len(line) > 100]
    assert not too_long, too_long


def test_context_labels_name_the_request_only_inside_pcpu_alloc() -> None:
    """A step inside pcpu_alloc() names the request's kind; free_percpu()
    belongs to no request and names the bare context."""
    model = Model(load("seed").params)
    s = model.init()
    labels = {
        (model.actions[ai].name, context_label(model, ai, t, s)) for ai, _, t in model.successors(s)
    }
    assert ("pcpu_alloc (atomic)", "alloc#1 (atomic)") in labels
    assert ("pcpu_alloc (non-atomic)", "alloc#1 (non-atomic)") in labels
    free = next(ai for ai, a in enumerate(model.actions) if a.name == "free_percpu")
    assert context_label(model, free, s, s) == model.actions[free].context.label == "alloc#1"
