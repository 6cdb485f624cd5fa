"""A capture cut short, at any byte, plain or gzip: the cut last
line is a warning, everything before it is still checked, and the verdict
and exit status are those of the lines read, so the violations injected
before the cut are reported with exit status 1, never 2."""

import gzip
import json
import re
import zlib
from contextlib import redirect_stdout
from io import StringIO
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from percpu_mc.checker.cli.check_trace import main
from percpu_mc.checker.logs.trace_check import check_log
from percpu_mc.traces.parser import LogParser

SAMPLES = Path(__file__).parent / "trace_samples"
with gzip.open(SAMPLES / "mix.trace.gz", "rt") as mix:
    MIX_HEAD = [line for _, line in zip(range(1500), mix)]
CAPTURES = [(SAMPLES / "boot.trace").read_text().splitlines(keepends=True), MIX_HEAD]
SETTINGS = settings(
    max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


def impossible(line: str) -> str:
    """The same allocation asking for an alignment of 12 bytes: an invalid
    request on its own line, whatever comes before or after it."""
    return re.sub(r" align=\d+ ", " align=12 ", line, count=1)


@st.composite
def damaged(draw: st.DrawFn) -> tuple[list[str], set[int]]:
    """A real capture with a few violations injected: frees repeated at once
    (double frees) and allocations made impossible; returns the lines and
    the line numbers of the impossible allocations."""
    lines = list(draw(st.sampled_from(CAPTURES)))
    frees = [i for i, line in enumerate(lines) if "percpu_free_percpu:" in line]
    allocs = [line for line in lines if "percpu_alloc_percpu:" in line]
    for i in sorted(draw(st.sets(st.sampled_from(frees), max_size=3)), reverse=True):
        lines.insert(i + 1, lines[i])
    invalid = set()
    for line in draw(st.sets(st.sampled_from(allocs), min_size=1, max_size=3)):
        at = lines.index(line)  # the first copy, past any repeated line
        lines[at] = impossible(lines[at])
        invalid.add(at + 1)
    return lines, invalid


def check_lines(text: str) -> list[tuple[int, str]]:
    report = check_log(LogParser().records(text.splitlines(keepends=True)))
    return [(v.line, v.kind) for v in report.violations]


def run(path: Path) -> tuple[int, dict]:
    out = StringIO()
    with redirect_stdout(out):
        status = main(["--json", str(path)])
    return status, json.loads(out.getvalue())


@SETTINGS
@given(damaged(), st.data(), st.booleans())
def test_cut_at_any_byte(
    tmp_path_factory: pytest.TempPathFactory,
    capture: tuple[list[str], set[int]],
    data: st.DataObject,
    compressed: bool,
) -> None:
    lines, invalid = capture
    whole = "".join(lines).encode()
    log = tmp_path_factory.mktemp("cut") / "log"
    if compressed:
        packed = gzip.compress(whole)
        cut = data.draw(st.integers(20, len(packed) - 9))  # before the gzip trailer
        log.write_bytes(packed[:cut])
        read = zlib.decompressobj(31).decompress(packed[:cut])
    else:
        cut = data.draw(st.integers(1, len(whole) - 1))
        log.write_bytes(whole[:cut])
        read = whole[:cut]
    kept = read[: read.rfind(b"\n") + 1].decode()  # the whole lines read
    expected = check_lines(kept)
    before = kept.count("\n")
    assert {line for line in invalid if line <= before} <= {line for line, _ in expected}
    status, doc = run(log)
    (result,) = doc["files"]
    assert [(v["line"], v["kind"]) for v in result["violations"]] == expected
    assert result["parse_errors"] == []
    percpu = "percpu_" in kept  # else nothing to check: exit status 2
    assert status == (1 if expected else 0 if percpu else 2)
    warnings = result.get("warnings", [])
    if read[read.rfind(b"\n") + 1 :].strip():
        assert any(w.startswith(f"line {before + 1} is cut") for w in warnings)
    if compressed:
        assert any("gzip stream is truncated" in w for w in warnings)
