"""Model runs written as logs (traces/writer.py, check-model --emit-log and
--simulate): what our own parser reads back, line for line."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from percpu_mc.checker import specs
from percpu_mc.checker.cli.check_model import main
from percpu_mc.checker.logs.emit_log import random_run, violates
from percpu_mc.checker.logs.trace_check import check_log
from percpu_mc.model.machine import Model
from percpu_mc.traces.events import (
    FunctionCall,
    PercpuAlloc,
    PercpuAllocFail,
    PercpuCreateChunk,
    ProbeHit,
)
from percpu_mc.traces.input import open_log
from percpu_mc.traces.observe import ALLOC, CREATE, FAIL, Observer
from percpu_mc.traces.parser import LogParser
from percpu_mc.traces.writer import (
    FIRST_CHUNK_BASE,
    HEADER_LINES,
    PCPU_PTR_DELTA,
    cell_bytes,
    write_trace,
)


def records(path: Path) -> list:
    with open_log(str(path)) as lines:
        return list(LogParser().records(lines))


@settings(max_examples=8, deadline=None)
@given(spec=st.sampled_from(["seed", "v4.13", "pre-async"]), seed=st.integers(0, 10_000))
def test_random_run_reads_back(tmp_path_factory, spec: str, seed: int) -> None:
    """Every tracepoint of the run is one parsed event with the run's chunk,
    offset and size at the stated scale; every hidden step is one function or
    probe line; the log is level-1 consistent; the walk never enters a
    violating state."""
    model = Model(specs.load(spec).params)
    trace = random_run(model, 60, seed)
    assert not any(violates(model, st_.state) for st_ in trace.steps)
    path = tmp_path_factory.mktemp("log") / "run.trace"
    step_line = write_trace(path, model, trace, "test")
    recs = records(path)
    events = [r for r in recs if hasattr(r, "ts_ns")]
    assert [r.line for r in events] == list(range(HEADER_LINES + 1, HEADER_LINES + 1 + len(events)))
    assert all(a.ts_ns < b.ts_ns for a, b in zip(events, events[1:]))
    assert len(step_line) == len(trace.steps) and step_line[-1] == events[-1].line
    obs = []
    pre = trace.init
    observer = Observer(model.kernel)
    for s in trace.steps:
        obs += observer.lines(model.actions[s.action], pre, s.state)
        pre = s.state
    assert len(obs) == len(events)
    cell = cell_bytes(model.p)
    for o, e in zip(obs, events):
        if o.kind == ALLOC:
            assert isinstance(e, PercpuAlloc)
            chunk, off, size, align, atomic, reserved = o.args
            assert (e.off, e.size, e.align, e.is_atomic) == (
                off * cell,
                size * cell,
                align * cell,
                atomic,
            )
            assert e.ptr == e.base_addr + e.off - PCPU_PTR_DELTA
            assert chunk != 0 or e.base_addr == FIRST_CHUNK_BASE
        elif o.kind == FAIL:
            assert isinstance(e, PercpuAllocFail) and e.size == o.args[0] * cell
        elif o.kind == CREATE:
            assert isinstance(e, PercpuCreateChunk)
        elif o.marker_key is not None:
            assert isinstance(e, (FunctionCall, ProbeHit))
            name = e.function if isinstance(e, FunctionCall) else e.name
            assert name == o.args[0]
    report = check_log(recs)
    assert not report.violations and not report.parse_errors


def test_emit_log_writes_each_counterexample(tmp_path: Path, capsys) -> None:
    """check-model --emit-log: DIR/<spec>-<property>.trace per counterexample,
    nothing else left in DIR (the write goes through a temporary file)."""
    out = tmp_path / "logs"
    code = main(
        [
            "--spec",
            "seed",
            "--engine",
            "explicit",
            "--depth",
            "2",
            "--property",
            "no-deadlock",
            "--json",
            "--emit-log",
            str(out),
        ]
    )
    assert code == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["logs"] == [str(out / "seed-no-deadlock.trace")]
    assert sorted(p.name for p in out.iterdir()) == ["seed-no-deadlock.trace"]
    recs = [r for r in records(out / "seed-no-deadlock.trace") if hasattr(r, "ts_ns")]
    # a non-atomic pcpu_alloc (a kprobe fetching its arguments), pcpu_create_chunk
    # fails, the allocation fails
    assert [type(r).__name__ for r in recs] == ["ProbeHit", "FunctionCall", "PercpuAllocFail"]
    assert recs[0].name == "pcpu_alloc" and dict(recs[0].args)["gfp"] == "0xcc0"
    assert recs[1].function == "pcpu_create_chunk" and recs[1].parent == "pcpu_alloc"
    assert recs[0].comm == "modprobe"


def test_simulate_writes_a_run(tmp_path: Path, capsys) -> None:
    assert (
        main(
            ["--spec", "v4.13", "--simulate", "40", "--seed", "5", "--emit-log", str(tmp_path)]
            + ["--json"]  # the document is printed only when asked for
        )
        == 0
    )
    doc = json.loads(capsys.readouterr().out)
    path = tmp_path / "v4.13-simulate-5.trace"
    assert doc["simulated"] == str(path)
    assert any(isinstance(r, PercpuAlloc) for r in records(path))


def test_simulate_needs_a_directory(tmp_path: Path, capsys) -> None:
    assert main(["--simulate", "10"]) == 2
    assert "--emit-log" in capsys.readouterr().err
    (tmp_path / "f").write_text("")
    assert main(["--simulate", "10", "--emit-log", str(tmp_path / "f")]) == 2
    assert "not a directory" in capsys.readouterr().err
