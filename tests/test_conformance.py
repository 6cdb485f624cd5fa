"""Level-2 conformance (checker/logs/conformance.py, check-trace --spec): model
runs written as logs round-trip; counterexamples come back as their
property at the line of the violating step; a bug's log is rejected by the
fixed spec; every kind of mismatch explains itself."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from percpu_mc.checker import specs
from percpu_mc.checker.cli.check_trace import main, read_records
from percpu_mc.checker.engines.compiled import CompiledEngine
from percpu_mc.checker.engines.explicit import ExplicitEngine
from percpu_mc.checker.logs.conformance import Conformance, conform_file
from percpu_mc.checker.logs.emit_log import random_run
from percpu_mc.model.machine import Model, Trace
from percpu_mc.model.properties import PROPERTIES
from percpu_mc.traces.observe import ALL_MARKERS, Observer
from percpu_mc.traces.writer import write_trace

SAMPLES = Path(__file__).parent / "trace_samples"
CVE_LOG = SAMPLES / "seed-no-use-after-free.trace"  # check-model --spec seed --emit-log


def conform(path: Path, spec: str, strict: bool = False, unit: int | None = None) -> Conformance:
    return conform_file(str(path), spec, strict, unit, read_records)


def decided(c: Conformance) -> bool:
    """The replay explained the log to its end (a bounded search that still
    found a run explaining every line decides that the log conforms)."""
    return not any("not decided" in n for n in c.notes)


@cache
def counterexample(spec: str, prop: str, depth: int) -> tuple[Model, Trace]:
    model = Model(specs.load(spec).params)
    (result,), _ = CompiledEngine(model, [PROPERTIES[prop]]).run(depth)
    assert result.trace is not None
    return model, result.trace


@settings(max_examples=5, deadline=None)
@given(
    spec=st.sampled_from(["seed", "v3.18", "v4.7", "v4.13", "pre-async"]),
    seed=st.integers(0, 100_000),
)
def test_random_run_conforms(tmp_path_factory, spec: str, seed: int) -> None:
    """A random correct run of a spec, as a log with every step traced,
    conforms to that spec, and the replay decides it (no bound reached)."""
    model = Model(specs.load(spec).params)
    trace = random_run(model, 25, seed)
    path = tmp_path_factory.mktemp("run") / "run.trace"
    write_trace(path, model, trace, "test")
    got = conform(path, spec)
    assert got.findings == [] and decided(got), got.notes


@settings(max_examples=3, deadline=None)
@given(spec=st.sampled_from(["seed", "v4.13"]), seed=st.integers(0, 100_000))
def test_hidden_lines_dropped_never_reported(tmp_path_factory, spec: str, seed: int) -> None:
    """The same runs with only the tracepoint lines: the inference looks for
    the unlogged steps; it never reports a finding (where it has to give up
    within its bounds it says so in a note)."""
    model = Model(specs.load(spec).params)
    trace = random_run(model, 10, seed)
    path = tmp_path_factory.mktemp("run") / "run.trace"
    write_trace(path, model, trace, "test", markers=False)
    assert conform(path, spec).findings == []


def test_hidden_lines_recovered(tmp_path: Path) -> None:
    """A run whose unlogged steps the inference recovers within its bounds:
    chunk creation, population and the counter update between the lines."""
    model = Model(specs.load("v4.13").params)
    trace = random_run(model, 12, 7)
    path = tmp_path / "run.trace"
    write_trace(path, model, trace, "test", markers=False)
    got = conform(path, "v4.13")
    assert got.findings == [] and decided(got), got.notes


def test_markers_the_observer_prints_are_known() -> None:
    """The writer's claim "every unlogged step traced" stands for ALL_MARKERS:
    every marker a run prints is one of them."""
    for spec in ("seed", "v4.13", "pre-async"):
        model = Model(specs.load(spec).params)
        obs = Observer(model.kernel)
        trace = random_run(model, 120, 3)
        pre = trace.init
        for s in trace.steps:
            for o in obs.lines(model.actions[s.action], pre, s.state):
                assert o.marker_key is None or o.marker_key in ALL_MARKERS, o
            pre = s.state


def test_counterexamples_come_back_as_their_property(tmp_path: Path) -> None:
    """A counterexample written as a log is reported with kind = the
    property, at the line of the violating (last) step, with exactly the
    other properties that step breaks too (seed's lost counter update takes
    the counter below zero in the same step)."""
    for prop, depth in (("no-deadlock", 2), ("counter-exact", 10)):
        model, trace = counterexample("seed", prop, depth)
        path = tmp_path / f"seed-{prop}.trace"
        lines = write_trace(path, model, trace, "test")
        got = conform(path, "seed")
        last = trace.steps[-1].state
        broken = ExplicitEngine(model, list(PROPERTIES.values())).violated(last)
        assert prop in broken
        assert sorted((v.kind, v.line) for v in got.findings) == sorted(
            (b, lines[-1]) for b in broken
        ), got.findings


def test_cve_log_reported_by_seed_rejected_by_v413() -> None:
    """CVE-2016-4794 as seed runs it: the balance work destroys a chunk whose
    map an allocation is about to extend.  v4.13 holds pcpu_alloc_mutex over
    the whole non-atomic call, so its model cannot start the second task's
    non-atomic call while the first one holds the mutex."""
    seed = conform(CVE_LOG, "seed")
    last = len(CVE_LOG.read_text().splitlines())
    assert [(v.kind, v.line) for v in seed.findings] == [("no-use-after-free", last)]
    fixed = conform(CVE_LOG, "v4.13")
    (v,) = fixed.findings
    second_task = line_of(CVE_LOG.read_text(), "systemd-udevd-163")
    assert (v.kind, v.line) == ("nonconforming", second_task)
    assert "pcpu_alloc: (pcpu_alloc+0x0/0x6b0)" in v.text and "gfp=0xcc0" in v.text
    assert (
        "pcpu_alloc (non-atomic) (alloc#1): not enabled: alloc#1 is at IDLE, "
        "pcpu_alloc_mutex held by alloc#2" in v.message
    )


def line_of(text: str, needle: str) -> int:
    """The number of the first line of `text` that holds `needle`."""
    return next(n for n, t in enumerate(text.splitlines(), 1) if needle in t)


def edited(tmp_path: Path, source: Path, line: int, old: str, new: str) -> Path:
    text = source.read_text().splitlines(keepends=True)
    assert old in text[line - 1], text[line - 1]
    text[line - 1] = text[line - 1].replace(old, new)
    out = tmp_path / "edited.trace"
    out.write_text("".join(text))
    return out


def test_wrong_offset_explained(tmp_path: Path) -> None:
    """An allocation at an offset the area search never picks: the
    explanation names the offset the model's step would print."""
    model = Model(specs.load("v4.13").params)
    path = tmp_path / "run.trace"
    write_trace(path, model, random_run(model, 30, 1), "test")
    text = path.read_text().splitlines()
    n = next(i for i, t in enumerate(text, 1) if "percpu_alloc_percpu:" in t)
    off = text[n - 1].split(" off=")[1].split()[0]
    bad = edited(tmp_path, path, n, f" off={off} ", f" off={int(off) + 2048} ")
    (v,) = conform(bad, "v4.13").findings
    assert (v.kind, v.line) == ("nonconforming", n)
    assert f"would print percpu_alloc_percpu off={off} " in v.message


def test_balance_work_in_a_task_explained(tmp_path: Path) -> None:
    """The balance work's lines come from a kworker."""
    n = line_of(CVE_LOG.read_text(), "kworker/u4:1-27 ")
    bad = edited(tmp_path, CVE_LOG, n, "kworker/u4:1-27 ", "    modprobe-211")
    (v,) = conform(bad, "seed").findings
    assert (v.kind, v.line) == ("nonconforming", n)
    assert "balance work runs on a kworker, not in task modprobe" in v.message


def test_after_boot_is_not_reported(tmp_path: Path) -> None:
    """Without the boot (no percpu_enable_async line) and without --strict, a
    line no run from boot explains is noted, never reported."""
    text = CVE_LOG.read_text().replace("every unlogged step traced", "")
    lines = [t for t in text.splitlines(keepends=True) if "percpu_enable_async" not in t]
    path = tmp_path / "late.trace"
    path.write_text("".join(lines))
    # the second chunk created, given the first one's address
    n = line_of("".join(lines), "base_addr=ffffef47bfa00000")
    bad = edited(tmp_path, path, n, "base_addr=ffffef47bfa00000", "base_addr=ffffef47bfc00000")
    got = conform(bad, "v4.13")
    assert got.findings == [] and any("may start after boot" in n for n in got.notes)
    assert conform(bad, "v4.13", strict=True).findings[0].kind == "nonconforming"


def real_log(tmp_path: Path, body: str) -> Path:
    head = "# tracer: nop\n#\n"
    path = tmp_path / "real.trace"
    path.write_text(head + body)
    return path


ALLOC = (
    "     {comm}-{pid:<7} [000] ....1 {ts}: percpu_alloc_percpu: reserved={r} is_atomic={a} "
    "size=48 align=8 base_addr=ffffef47bfc00000 off=1024 ptr=0000000000001000\n"
)


def test_real_destroy_outside_the_balance_work(tmp_path: Path) -> None:
    log = real_log(
        tmp_path,
        "        modprobe-131     [001] .....     4.9: percpu_destroy_chunk: "
        "base_addr=ffffef47bfc00000\n",
    )
    (v,) = conform(log, "v4.13").findings
    assert v.kind == "nonconforming" and "only pcpu_balance_workfn destroys chunks" in v.message


def test_real_create_then_atomic_alloc(tmp_path: Path) -> None:
    """A task's chunk creation belongs to its non-atomic pcpu_alloc()."""
    log = real_log(
        tmp_path,
        "        modprobe-131     [001] .....     4.9: percpu_create_chunk: "
        "base_addr=ffffef47bfc00000\n"
        + "        modprobe-131     [001] .....     5.0: percpu_alloc_percpu: reserved=0 "
        "is_atomic=1 size=48 align=8 base_addr=ffffef47bfc00000 off=0 ptr=1000\n",
    )
    (v,) = conform(log, "v4.13").findings
    assert v.line == 3 and "creates a chunk only inside a non-atomic pcpu_alloc()" in v.message
    softirq = log.read_text().replace("[001] .....     5.0", "[001] ..s1.     5.0")
    log.write_text(softirq)
    assert conform(log, "v4.13").findings == []


def test_real_missing_behaviours_named(tmp_path: Path) -> None:
    """What a spec's model lacks is named: the reserved chunk (the shipped
    small specs have none) and partial depopulation (v5.14)."""
    log = real_log(
        tmp_path,
        "        modprobe-131     [001] .....     4.9: percpu_alloc_percpu: "
        "reserved=1 is_atomic=0 size=24 align=16 base_addr=ffff8cabfdc35000 "
        "off=0 ptr=0000000000035000\n",
    )
    (v,) = conform(log, "v4.13").findings
    assert "the model lacks pcpu_reserved_chunk" in v.message
    log = real_log(
        tmp_path,
        "     kworker/0:1-17      [000] .....    29.2: pcpu_reclaim_populated "
        "<-pcpu_balance_workfn\n",
    )
    (v,) = conform(log, "v4.13").findings
    assert "partial depopulation of isolated chunks" in v.message


def test_check_trace_spec_json(tmp_path: Path, capsys) -> None:
    """check-trace --spec: level-2 findings in the level-1 JSON shape, exit 1."""
    assert main(["--spec", "seed", "--json", str(CVE_LOG)]) == 1
    doc = json.loads(capsys.readouterr().out)
    (f,) = doc["files"]
    last = len(CVE_LOG.read_text().splitlines())
    assert f["violations"] == [
        {"line": last, "kind": "no-use-after-free", "message": f["violations"][0]["message"]}
    ]
    assert any(x.startswith("conformance (seed): model scale") for x in f["features"])


def test_check_trace_unknown_spec(capsys) -> None:
    try:
        main(["--spec", "nosuch", str(CVE_LOG)])
    except SystemExit as e:
        assert e.code == 2
    assert "unknown spec 'nosuch'" in capsys.readouterr().err


def test_real_captures_conform_to_v514() -> None:
    """The Debian 6.1 captures, at their real geometry: v5.14 (which has a
    reserved chunk) accepts them; v4.13's small geometry has no reserved
    chunk, and the first reserved allocation (module load) says so."""
    for name in ("boot.trace", "mix.trace.gz"):
        got = conform(SAMPLES / name, "v5.14", unit=1 << 20)
        assert got.findings == [], got.findings
        assert any("real scale" in n for n in got.notes)
    (v,) = conform(SAMPLES / "mix.trace.gz", "v4.13").findings
    assert v.line == 412 and "reserved=1" in v.text and "pcpu_reserved_chunk" in v.message
    # the geometry the log implies: dmesg said u1048576
    (unit,) = [
        n
        for n in conform(SAMPLES / "mix.trace.gz", "v5.14").notes
        if "unit size" in n and "at least" in n
    ]
    assert "at least 1048576 bytes" in unit and "at most 1048576 bytes" in unit


def test_real_area_past_the_unit(tmp_path: Path) -> None:
    """With the unit size given, an area must lie inside it; without it, the
    least unit size the log implies is stated instead."""
    log = real_log(
        tmp_path,
        "        modprobe-131     [001] .....     4.9: percpu_alloc_percpu: "
        "reserved=0 is_atomic=0 size=64 align=8 base_addr=ffff8cabfdc37000 "
        "off=32736 ptr=0000000000037000\n",
    )
    (v,) = conform(log, "v5.14", unit=32768).findings
    assert "ends past the unit size 32768" in v.message
    got = conform(log, "v5.14")
    assert got.findings == [] and any("at least 32800 bytes" in n for n in got.notes)


def test_real_area_map_extension_in_a_bitmap_spec(tmp_path: Path) -> None:
    log = real_log(
        tmp_path,
        "     kworker/0:1-17      [000] .....    29.2: pcpu_extend_area_map "
        "<-pcpu_balance_workfn\n",
    )
    (v,) = conform(log, "v5.14").findings
    assert "the bitmap allocator (v4.14) has no area-map extension" in v.message
    assert conform(log, "v4.13").findings == []
