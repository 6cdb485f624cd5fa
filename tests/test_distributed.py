"""One explicit search across Dask workers (checker/engines/distributed.py):
the same states, verdicts and shortest lengths as the single-process
compiled engine, counterexamples that replay on the concrete model, the
successors routed to one owner each, and the cluster's failures reported
(no scheduler: exit 2 before any work; a lost worker: exit 3)."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from percpu_mc.checker import specs
from percpu_mc.checker.cli.check_model import main
from percpu_mc.checker.engines.distributed import DistributedEngine, WorkerLost
from percpu_mc.checker.engines.native import Native
from percpu_mc.checker.result import Unwatched
from percpu_mc.model.machine import Model
from percpu_mc.model.ops import Concrete
from percpu_mc.model.properties import PROPERTIES


def cli(*argv: str) -> tuple[int, dict, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        rc = main(list(argv))
    return rc, json.loads(out.getvalue()) if out.getvalue() else {}, err.getvalue()


def outcome(doc: dict) -> list[tuple]:
    return [
        (r["property"], r["verdict"], r["depth"], len(r["counterexample"])) for r in doc["results"]
    ]


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=":0"
    ) as cluster:
        yield cluster.scheduler_address


def test_v4_13_on_two_workers_matches_one_process(scheduler: str) -> None:
    """Same state count, verdicts and lengths; every worker holds a share,
    states crossed between them at every level, and the counts add up."""
    args = ["--spec", "v4.13", "--engine", "explicit", "--depth", "8", "--json"]
    rc1, one, _ = cli(*args)
    rc2, two, _ = cli(*args, "--scheduler", scheduler)
    assert (rc2, two["states"], outcome(two)) == (rc1, one["states"], outcome(one))
    assert two["workers"] == 2 and "workers" not in one
    d = two["distributed"]
    assert sum(d["states_per_worker"]) == two["states"] and min(d["states_per_worker"]) > 0
    assert len(d["exchanged_per_level"]) == 8 and all(n > 0 for n in d["exchanged_per_level"][1:])
    assert set(d["seconds_per_worker"]) == {"expand", "exchange", "insert"}


def replays(model: Model, prop: str, trace) -> bool:
    """Each step is enabled where it is taken and gives the recorded state,
    and the last state breaks the property."""
    x, s = Concrete(), model.init()
    for st_ in trace.steps:
        enabled, t = model.step(x, s, model.actions[st_.action], st_.choices)
        if not enabled or t != st_.state:
            return False
        s = t
    return not PROPERTIES[prop].holds(x, model.kernel, s)


def test_seed_violations_on_two_workers(scheduler: str) -> None:
    """A buggy spec: the same violations at the same shortest lengths as
    one process, each counterexample a run of the model that breaks it."""
    model = Model(specs.load("seed").params)
    props = list(PROPERTIES.values())
    rc1, one, _ = cli("--spec", "seed", "--engine", "explicit", "--depth", "10", "--json")
    results, stats = DistributedEngine(model, props, scheduler).run(10)
    assert rc1 == 1 and stats.workers == 2
    assert [(r.prop, r.verdict, r.depth) for r in results] == [
        (o[0], o[1], o[2]) for o in outcome(one)
    ]
    bad = [r for r in results if r.verdict == "violated"]
    assert {r.prop for r in bad} >= {"no-deadlock", "counter-exact"}
    for r in bad:
        assert r.trace is not None and len(r.trace.steps) == r.depth
        assert replays(model, r.prop, r.trace)


def test_workers_flag_starts_a_local_cluster() -> None:
    """--workers N alone: a local cluster of N processes, "workers": N."""
    rc, doc, _ = cli(
        "--spec",
        "seed",
        "--engine",
        "explicit",
        "--depth",
        "3",
        "--property",
        "no-deadlock",
        "--json",
        "--workers",
        "2",
    )
    assert rc == 1 and doc["workers"] == 2
    assert outcome(doc) == [("no-deadlock", "violated", 2, 2)]


def test_no_scheduler_is_exit_2_quickly() -> None:
    start = time.monotonic()
    rc, doc, err = cli(
        "--spec",
        "v4.13",
        "--engine",
        "explicit",
        "--depth",
        "3",
        "--scheduler",
        "tcp://127.0.0.1:1",
    )
    assert rc == 2 and doc == {}
    assert "no Dask scheduler answers at tcp://127.0.0.1:1" in err and err.count("\n") == 1
    assert time.monotonic() - start < 20


def test_cluster_flags_need_the_explicit_engine() -> None:
    rc, _, err = cli(
        "--spec", "v4.13", "--engine", "bmc", "--depth", "2", "--scheduler", "tcp://127.0.0.1:1"
    )
    assert rc == 2 and "--engine explicit" in err
    rc, _, err = cli(
        "--spec", "v4.13", "--starvation", "2", "--engine", "explicit", "--workers", "2"
    )
    assert rc == 2 and "--starvation runs on one machine" in err


def test_a_lost_worker_stops_the_search() -> None:
    """A worker killed between levels: WorkerLost naming the last completed
    level, not a hang and not a wrong verdict."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,
    ):
        pids = list(client.run(os.getpid).values())
        engine = DistributedEngine(
            Model(specs.load("v4.13").params), list(PROPERTIES.values()), cluster.scheduler_address
        )

        class KillAtLevel3(Unwatched):
            def note(self, text: str) -> None:
                if text.startswith("level 3: worker 1"):
                    os.kill(pids[1], signal.SIGKILL)

        with pytest.raises(WorkerLost, match="after level 3 of 8 completed"):
            engine.run(8, KillAtLevel3())


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.lists(st.integers(0, 2**64 - 1), min_size=4, max_size=4), max_size=40),
    st.integers(1, 9),
)
def test_route_is_a_stable_partition(states: list[list[int]], parts: int) -> None:
    """batch_route: a permutation into one run per part, stable within a
    part, equal states always with the same part."""
    native = Native.load(Model(specs.load("v4.13").params), [], 3)
    ffi, lib, nw = native.ffi, native.lib, native.layout.words
    rows = [tuple((s * nw)[:nw]) for s in states]
    n = len(rows)
    flat = ffi.new("uint64_t[]", [w for r in rows for w in r] or [0])
    origin = ffi.new("int64_t[]", list(range(n)) or [0])
    ops = ffi.new("uint16_t[]", [i % 7 for i in range(n)] or [0])
    out, out_o, out_p = (
        ffi.new("uint64_t[]", max(1, n * nw)),
        ffi.new("int64_t[]", max(1, n)),
        ffi.new("uint16_t[]", max(1, n)),
    )
    counts = ffi.new("int64_t[]", parts)
    lib.batch_route(flat, origin, ops, n, parts, out, out_o, out_p, counts)
    assert sum(counts) == n
    owner: dict[tuple, int] = {}
    at = 0
    for j in range(parts):
        mine = [out_o[k] for k in range(at, at + counts[j])]
        assert mine == sorted(mine)
        for k in range(at, at + counts[j]):
            assert tuple(out[k * nw : (k + 1) * nw]) == rows[out_o[k]] and out_p[k] == out_o[k] % 7
            assert owner.setdefault(rows[out_o[k]], j) == j
        at += counts[j]
    assert sorted(out_o[k] for k in range(n)) == list(range(n))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_cluster_started_as_a_user_would(tmp_path: Path) -> None:
    """`dask scheduler` and `dask worker --nworkers 2` as processes of their
    own, then check-model --scheduler as a user runs it: "workers": 2 and
    the single-process figures."""
    dask = str(Path(sys.executable).parent / "dask")
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    log = open(tmp_path / "cluster.log", "w")
    procs = [
        subprocess.Popen(
            [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            stdout=log,
            stderr=log,
        )
    ]
    try:
        procs.append(
            subprocess.Popen(
                [dask, "worker", address, "--nworkers", "2", "--nthreads", "1", "--no-dashboard"],
                stdout=log,
                stderr=log,
            )
        )
        from distributed import Client

        with Client(address, timeout=20) as client:
            client.wait_for_workers(2, timeout=20)
        args = ["--spec", "v4.13", "--engine", "explicit", "--depth", "7", "--json"]
        rc, doc, _ = cli(*args, "--scheduler", address)
        rc1, one, _ = cli(*args)
        assert doc["workers"] == 2
        assert (rc, doc["states"], outcome(doc)) == (rc1, one["states"], outcome(one))
    finally:
        for p in reversed(procs):
            p.send_signal(signal.SIGINT)
        for p in reversed(procs):
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        log.close()
