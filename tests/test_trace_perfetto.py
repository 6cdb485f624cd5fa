"""check-trace --perfetto: the Trace Event Format export, checked against
the format's documented structure (the JSON object form: `traceEvents`, each
event with `ph`, `name`, `pid`, `tid`, `ts` in microseconds; `M` metadata
naming processes and threads, `i` instant events with a scope `s`, `C`
counter events whose `args` are the series' numbers)."""

import gzip
import json
from collections import Counter
from pathlib import Path

import pytest

from percpu_mc.checker.cli.check_trace import main

SAMPLES = Path(__file__).parent / "trace_samples"
PHASES = {"M", "i", "C"}


def export(tmp_path: Path, log: Path, *options: str) -> tuple[int, list[dict]]:
    out = tmp_path / "trace.json"
    status = main(["--perfetto", str(out), *options, str(log)])
    doc = json.loads(out.read_text())
    assert set(doc) == {"traceEvents", "displayTimeUnit"} and doc["displayTimeUnit"] == "ns"
    return status, doc["traceEvents"]


def well_formed(events: list[dict]) -> None:
    """Every event as the format documents it."""
    for event in events:
        assert event["ph"] in PHASES and isinstance(event["name"], str)
        assert isinstance(event["pid"], int) and isinstance(event["tid"], int)
        if event["ph"] != "M":
            assert isinstance(event["ts"], (int, float)) and event["ts"] >= 0
        if event["ph"] == "i":
            assert event["s"] in ("t", "p", "g")
        if event["ph"] == "C":
            assert event["args"] and all(isinstance(v, int) for v in event["args"].values())
    named = {e["pid"] for e in events if e["ph"] == "M" and e["name"] == "process_name"}
    assert {e["pid"] for e in events} <= named


def test_mix_capture(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    log = SAMPLES / "mix.trace.gz"
    status, events = export(tmp_path, log, "--json")
    assert status == 0
    well_formed(events)
    processes = {
        e["args"]["name"].rsplit(": ", 1)[1]: e["pid"]
        for e in events
        if e["ph"] == "M" and e["name"] == "process_name"
    }
    assert processes.keys() == {"CPUs", "tasks", "chunks"}
    threads = {
        (e["pid"], e["tid"]): e["args"]["name"]
        for e in events
        if e["ph"] == "M" and e["name"] == "thread_name"
    }
    with gzip.open(log, "rt") as text:
        lines_of = {n: line.strip() for n, line in enumerate(text, 1)}
    (result,) = json.loads(capsys.readouterr().out)["files"]
    percpu = {k: n for k, n in result["events"].items() if k.startswith("percpu_")}
    cpus = {int(line.split("[", 1)[1][:3]) for line in lines_of.values() if ": percpu_" in line}
    assert {tid for pid, tid in threads if pid == processes["CPUs"]} == cpus
    # Each percpu line once on its CPU's track and once on its task's.
    for track in ("CPUs", "tasks"):
        instants = [e for e in events if e["ph"] == "i" and e["pid"] == processes[track]]
        assert Counter(e["name"] for e in instants) == percpu
        assert all((e["pid"], e["tid"]) in threads for e in instants)
    on_cpu = [e for e in events if e["ph"] == "i" and e["pid"] == processes["CPUs"]]
    for cpu in cpus:  # one CPU's ring buffer is in time order
        stamps = [e["ts"] for e in on_cpu if e["tid"] == cpu]
        assert stamps == sorted(stamps)
    assert all(e["args"]["text"] == lines_of[e["args"]["line"]] for e in on_cpu)
    counters = [e for e in events if e["ph"] == "C"]
    assert counters and all(e["pid"] == processes["chunks"] for e in counters)
    assert all(e["args"]["bytes"] >= 0 for e in counters)
    assert len({e["name"] for e in counters}) >= 2  # the first chunk and a created one


def test_findings_are_instants_with_their_line(tmp_path: Path) -> None:
    with gzip.open(SAMPLES / "mix.trace.gz", "rt") as mix:
        head = [line for _, line in zip(range(300), mix)]
    at = next(i for i, line in enumerate(head) if "percpu_free_percpu:" in line)
    damaged = head[: at + 1] + [head[at]] + head[at + 1 :]
    log = tmp_path / "double-free.trace"
    log.write_text("".join(damaged))
    status, events = export(tmp_path, log, "--no-partial")
    assert status == 1
    well_formed(events)
    (finding,) = [e for e in events if e["ph"] == "i" and e["s"] == "g"]
    assert finding["name"] == "double-free" and finding["args"]["line"] == at + 2
    assert finding["args"]["text"] == damaged[at + 1].rstrip("\n")
    assert "already freed at line" in finding["args"]["message"]
    stamp = damaged[at].split(": percpu_free_percpu")[0].split()[-1]
    assert finding["ts"] == pytest.approx(float(stamp) * 1e6)
