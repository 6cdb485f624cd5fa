"""check-model --sweep and --mutants: jobs built from parameter ranges, run
on this machine's cores or on a Dask cluster with the same results, bad
arguments refused with one message and exit status 2, the mutation score
counted per engine."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from percpu_mc.checker import specs, sweep
from percpu_mc.checker.cli.check_model import main
from percpu_mc.model.properties import PROPERTIES


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        rc = main(list(argv))
    return rc, out.getvalue(), err.getvalue()


# 2 specs x 2 x 2 parameter values x 8 properties = 64 jobs of 3 steps each:
# v4.13 holds everything; the injected bug keeps pcpu_alloc_mutex when the
# map extension of a chunk it created fails, a deadlock 3 steps deep.
SWEEP = [
    "--sweep",
    "--spec",
    "v4.13,inject-extend-fail-keeps-mutex",
    "--param",
    "PCPU_EMPTY_POP_PAGES_HIGH=1..2",
    "--param",
    "unit_pages=2|3",
    "--depth",
    "3",
    "--engine",
    "explicit",
    "--json",
]


def outcomes(doc: dict) -> list[tuple]:
    return [
        (
            j["spec"],
            tuple(sorted(j["params"].items())),
            j["property"],
            j["engine"],
            j["depth"],
            j["verdict"],
            j["counterexample_depth"],
        )
        for j in doc["jobs"]
    ]


def test_sweep_local_and_on_a_dask_cluster_agree() -> None:
    """The same sweep of at least 50 jobs gives the same table on a local
    process pool and on a Dask LocalCluster reached by its address, and the
    table is right: only the injected bug's no-deadlock is violated, at 3."""
    from distributed import LocalCluster

    rc, out, _ = cli(*SWEEP, "--workers", "2")
    local = outcomes(json.loads(out))
    assert len(local) >= 50
    assert rc == 1
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as cluster:
        rc_d, out_d, _ = cli(*SWEEP, "--scheduler", cluster.scheduler_address)
        # the jobs were tasks of this scheduler (each went through several states)
        assert cluster.scheduler.transition_counter >= len(local)
    assert rc_d == rc
    assert outcomes(json.loads(out_d)) == local
    bad = {(o[0], o[2], o[6]) for o in local if o[5] != "holds"}
    assert bad == {("inject-extend-fail-keeps-mutex", "no-deadlock", 3)}
    highs = {dict(o[1])["empty_pop_pages_high"] for o in local}
    assert highs == {1, 2}


# sweep_table's columns after the spec and the swept parameters
AFTER_AXES = ["property", "engine", "depth", "verdict", "counterexample", "seconds"]


def table_rows(text: str) -> list[list[str]]:
    """The cells of each row of a rich table (header first), stripped."""
    return [
        [c.strip() for c in line.strip()[1:-1].split(line.strip()[0])]
        for line in text.splitlines()
        if line.strip()[:1] in ("┃", "│")
    ]


def test_sweep_table_is_printed() -> None:
    """Without --json, one table with a row per job in job order: the spec,
    the swept parameter's value, the property, engine and depth, the verdict,
    the counterexample's length for a violation only, and the seconds."""
    rc, out, _ = cli(
        "--sweep",
        "--spec",
        "v4.13,inject-extend-fail-keeps-mutex",
        "--param",
        "nr_chunks=2..3",
        "--property",
        "no-deadlock",
        "--depth",
        "3",
        "--engine",
        "explicit",
        "--workers",
        "1",
    )
    assert rc == 1
    header, *rows = table_rows(out)
    assert header == ["spec", "nr_chunks", *AFTER_AXES]
    assert [r[:-1] for r in rows] == [
        ["v4.13", "2", "no-deadlock", "explicit", "3", "holds", ""],
        ["v4.13", "3", "no-deadlock", "explicit", "3", "holds", ""],
        ["inject-extend-fail-keeps-mutex", "2", "no-deadlock", "explicit", "3", "violated", "3"],
        ["inject-extend-fail-keeps-mutex", "3", "no-deadlock", "explicit", "3", "violated", "3"],
    ]
    assert all(float(r[-1]) >= 0 for r in rows)


def test_sweep_table_cells() -> None:
    """Each cell of sweep_table comes from its own field: a parameter one job
    does not sweep is blank in its row, a tuple is comma-joined, the depth
    column is the job's depth and the counterexample column the result's
    length, shown for a violation only."""
    from rich.console import Console

    base = specs.load("seed").params
    results = [
        sweep.JobResult(
            sweep.Job("seed", (("sizes", (1, 2)),), base, "no-deadlock", 9, "bmc"),
            "violated",
            2,
            1.234,
        ),
        sweep.JobResult(
            sweep.Job("v4.13", (("nr_chunks", 4),), base, "refill", 7, "explicit"), "holds", 7, 0.5
        ),
        sweep.JobResult(
            sweep.Job("v4.7", (("nr_chunks", 2), ("sizes", (4,))), base, "refill", 5, "bmc"),
            "over-budget",
            3,
            12.0,
        ),
    ]
    console = Console(width=200, file=io.StringIO())
    console.print(sweep.sweep_table(results))
    header, *rows = table_rows(console.file.getvalue())
    assert header == ["spec", "sizes", "nr_chunks", *AFTER_AXES]
    assert rows == [
        ["seed", "1,2", "", "no-deadlock", "bmc", "9", "violated", "2", "1.23"],
        ["v4.13", "", "4", "refill", "explicit", "7", "holds", "", "0.50"],
        ["v4.7", "4", "2", "refill", "bmc", "5", "over-budget", "", "12.00"],
    ]


BAD = [
    (["--param", "unit_pagez=2..4"], "unknown parameter 'unit_pagez'"),
    (["--param", "unit_pages=4..2"], "empty range"),
    (["--param", "unit_pages="], "no values"),
    (["--param", "unit_pages=2..x"], "'x' is not an integer"),
    (["--param", "unit_pages"], "expected NAME=VALUES"),
    (["--param", "sizes=1,2||1,4"], "empty alternative"),
    (["--param", "unit_pages=2", "--param", "pcpu_unit_pages=3"], "given twice"),
    (["--param", "empty_pop_pages_high=0"], "empty_pop_pages_low <= empty_pop_pages_high"),
    (["--param", "depth=0..1"], "depth must be at least 1"),
    (["--property", "no-livelock"], "unknown property 'no-livelock'"),
    (["--spec", "v4.13,no-such-spec"], "unknown spec 'no-such-spec'"),
    (["--engines", "bmc,tlc"], "unknown engine 'tlc'"),
    (["--budget", "0"], "argument --budget: must be greater than 0"),
]


@pytest.mark.parametrize("extra,msg", BAD, ids=[b[1] for b in BAD])
def test_bad_sweep_arguments(extra: list[str], msg: str) -> None:
    """A bad sweep argument is one line on stderr naming it, exit status 2,
    and nothing on stdout (no job ran)."""
    argv = ["--sweep", "--spec", "v4.13", *extra] if "--spec" not in extra else ["--sweep", *extra]
    rc, out, err = cli(*argv)
    assert rc == 2
    assert out == ""
    assert msg in err and err.startswith("check-model: ") and err.count("\n") == 1


def test_mutants_refuse_params() -> None:
    rc, _, err = cli("--mutants", "--param", "unit_pages=2")
    assert rc == 2 and "--mutants takes no --param" in err


@settings(max_examples=50, deadline=None)
@given(lo=st.integers(-5, 30), n=st.integers(1, 10))
def test_ranges_are_inclusive(lo: int, n: int) -> None:
    """A..B is every integer from A to B; a|b lists; one value is itself."""
    hi = lo + n - 1
    assert sweep.parse_values("unit_pages", f"{lo}..{hi}") == list(range(lo, hi + 1))
    assert sweep.parse_values("unit_pages", f"{lo}|{hi}") == [lo, hi]
    assert sweep.parse_param(f"PCPU_EMPTY_POP_PAGES_LOW={lo}") == ("empty_pop_pages_low", [lo])


def test_jobs_carry_their_parameters() -> None:
    """Each job's Params are the spec's with the swept values, one job per
    combination, property and engine."""
    jobs = sweep.build_jobs(
        ["v4.13"],
        ["PCPU_EMPTY_POP_PAGES_HIGH=2..4", "sizes=1,2|1,4"],
        ["refill"],
        3,
        ["bmc", "explicit"],
        None,
    )
    assert len(jobs) == 3 * 2 * 2
    base = specs.load("v4.13").params
    for j in jobs:
        ov = dict(j.overrides)
        assert j.params.empty_pop_pages_high == ov["empty_pop_pages_high"]
        assert j.params.sizes == ov["sizes"]
        assert j.params.switches == base.switches and j.params.nr_chunks == base.nr_chunks
    assert {(j.params.empty_pop_pages_high, j.params.sizes, j.engine) for j in jobs} == {
        (h, s, e) for h in (2, 3, 4) for s in ((1, 2), (1, 4)) for e in ("bmc", "explicit")
    }


def test_budget_stops_a_job() -> None:
    """A job past its budget stops after the depth it is at: over-budget,
    not a verdict."""
    job = sweep.build_jobs(["v4.13"], [], ["counter-exact"], 6, ["explicit"], 1e-9)[0]
    r = sweep.run_job(job)
    assert r.verdict == "over-budget" and r.depth < 6


def result(spec: str, prop: str, engine: str, verdict: str, depth: int) -> sweep.JobResult:
    s = specs.load(spec)
    return sweep.JobResult(sweep.Job(spec, (), s.params, prop, 12, engine), verdict, depth, 0.1)


def test_mutation_score_counts_caught_bugs_per_engine() -> None:
    """A mutant counts as caught by an engine that violates the property it
    must break; a harmless one is never counted and shows what held."""
    rs = [
        result("inject-extend-fail-keeps-mutex", "no-deadlock", "bmc", "violated", 2),
        result("inject-extend-fail-keeps-mutex", "no-deadlock", "explicit", "over-budget", 1),
        result("inject-occupied-tail-off-by-one", "counter-exact", "bmc", "violated", 4),
        result("inject-occupied-tail-off-by-one", "counter-exact", "explicit", "holds", 3),
    ]
    harmless = specs.load("inject-no-async-gate")
    assert not harmless.violated
    rs += [
        result("inject-no-async-gate", p, e, "holds", 12)
        for p in harmless.notes
        for e in ("bmc", "explicit")
    ]
    rows, score = sweep.mutation_score(rs)
    assert score == {"bmc": (2, 2), "explicit": (0, 2)}
    cells = {r.spec: r.caught for r in rows}
    assert cells["inject-extend-fail-keeps-mutex"] == {"bmc": "depth 2", "explicit": "over budget"}
    assert cells["inject-occupied-tail-off-by-one"]["explicit"] == "no"
    assert cells["inject-no-async-gate"]["bmc"] == "held to 12"
    assert {r.spec: r.expected for r in rows}[
        "inject-no-async-gate"
    ] == "harmless (atomic-progress holds)"


def test_mutant_jobs_cover_every_injected_spec() -> None:
    """--mutants runs every specs/inject-*.toml: on the properties it must
    break, or, if harmless, on the properties its spec argues it keeps."""
    jobs = sweep.mutant_jobs(["bmc"], 3, None)
    names = {j.spec for j in jobs}
    assert names == {n for n in specs.available() if n.startswith("inject-")}
    assert len(names) >= 12
    for name in names:
        s = specs.load(name)
        want = set(s.violated) if s.violated else set(s.notes) & set(s.holds)
        assert want and want <= set(PROPERTIES)
        assert {j.prop for j in jobs if j.spec == name} == want


def test_unreachable_scheduler() -> None:
    """A --scheduler nobody answers at: one message naming it, exit 2."""
    import dask

    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        rc, out, err = cli(
            "--sweep",
            "--spec",
            "v4.13",
            "--property",
            "refill",
            "--depth",
            "1",
            "--scheduler",
            "tcp://127.0.0.1:1",
        )
    assert rc == 2 and out == ""
    assert err.startswith("check-model: --scheduler tcp://127.0.0.1:1: ") and err.count("\n") == 1
