"""Partial captures: the shipped captures cut by CPU, as the kernel's
per_cpu/cpuN/trace files are (the same header, one CPU's lines), check
clean; the lines only the missing CPUs' events explain are counted as
unknown, the impossible lines injected into a view are still found, and
level 2 declines to judge a view (docs/partial-captures.md)."""

import json
import re
from pathlib import Path

import pytest

from percpu_mc.checker.cli.check_trace import main
from percpu_mc.traces.input import open_log

SAMPLES = Path(__file__).parent / "trace_samples"
CAPTURES = sorted(p.name for p in SAMPLES.iterdir() if p.name.endswith((".trace", ".trace.gz")))
CPU_COLUMN = re.compile(r" \[(\d+)\] ")
TIMESTAMP = re.compile(r" (\d+\.\d+): ")


def split(name: str) -> tuple[list[str], dict[int, list[str]]]:
    """The capture's header lines, and its event lines by the CPU column."""
    header: list[str] = []
    by_cpu: dict[int, list[str]] = {}
    with open_log(str(SAMPLES / name)) as lines:
        for line in lines:
            if (cpu := CPU_COLUMN.search(line)) is None:
                header.append(line)
            else:
                by_cpu.setdefault(int(cpu.group(1)), []).append(line)
    return header, by_cpu


def run_json(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, dict]:
    status = main(["--json", *argv])
    (document,) = [json.loads(capsys.readouterr().out)]
    return status, document["files"][0]


def write(tmp_path: Path, name: str, lines: list[str]) -> str:
    path = tmp_path / name
    path.write_text("".join(lines))
    return str(path)


@pytest.mark.parametrize("name", CAPTURES)
def test_per_cpu_views_of_every_capture_are_clean(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    header, by_cpu = split(name)
    assert len(by_cpu) == 2, "every shipped capture has both CPUs' lines"
    for cpu, lines in by_cpu.items():
        view = write(tmp_path, f"cpu{cpu}", header + lines)
        status, result = run_json(capsys, view)
        assert (status, result["violations"], result["parse_errors"]) == (0, [], [])
        assert result["partial"]["cpus_seen"] == [cpu] and result["partial"]["cpus"] == 2
        assert any(
            f.startswith(f"partial capture: CPUs {cpu} of 2 seen (the header counts")
            for f in result["features"]
        )


def test_what_the_views_leave_unknown_would_be_violations_if_merged(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """The detection matters: mix.trace.gz's views show thousands of frees
    and reallocations whose other half ran on the other CPU."""
    header, by_cpu = split("mix.trace.gz")
    for cpu, lines in by_cpu.items():
        view = write(tmp_path, f"cpu{cpu}", header + lines)
        status, partial = run_json(capsys, view)
        unknown = partial["partial"]["unknown"]
        assert status == 0 and sum(unknown.values()) > 1000
        assert {"free-unknown", "overlap", "double-free"} <= unknown.keys()
        status, merged = run_json(capsys, "--no-partial", view)
        assert status == 1 and "partial" not in merged
        left_out = merged.get("violations_left_out", {})
        assert len(merged["violations"]) + sum(left_out.values()) == sum(unknown.values())


@pytest.mark.parametrize("name", CAPTURES)
def test_merged_captures_are_not_partial(name: str, capsys: pytest.CaptureFixture) -> None:
    _, result = run_json(capsys, str(SAMPLES / name))
    assert "partial" not in result
    assert not any(f.startswith("partial capture") for f in result["features"])


def test_a_view_without_header(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """per_cpu/cpuN/trace_pipe prints no header. CPU 1's lines alone, with
    lines only another CPU explains: CPU 0 exists, and is missing. CPU 0's
    lines alone look like a one-CPU machine: --partial says otherwise."""
    _, by_cpu = split("mix.trace.gz")
    cpu1 = write(tmp_path, "cpu1", by_cpu[1])
    status, result = run_json(capsys, cpu1)
    assert status == 0 and result["partial"]["cpus_seen"] == [1]
    assert "cpus" not in result["partial"]  # no header, no #P
    assert any("(no line of CPU 0)" in f for f in result["features"])
    cpu0 = write(tmp_path, "cpu0", by_cpu[0])
    status, result = run_json(capsys, cpu0)
    assert status == 1 and "partial" not in result
    assert any("--partial takes the others' as unknown" in f for f in result["features"])
    status, result = run_json(capsys, "--partial", cpu0)
    assert status == 0 and result["violations"] == []
    assert any(f.startswith("partial capture: CPUs 0 seen (--partial)") for f in result["features"])


def test_partial_forced_on_a_merged_capture(capsys: pytest.CaptureFixture) -> None:
    status, result = run_json(capsys, "--partial", str(SAMPLES / "boot.trace"))
    assert status == 0 and result["partial"] == {"cpus_seen": [0, 1], "cpus": 2, "unknown": {}}


# -- impossible lines, injected into one CPU's view ---------------------------


def event_prefix(line: str) -> str:
    """The line up to its event name: task, CPU, flags and timestamp."""
    return line[: TIMESTAMP.search(line).end()]  # type: ignore[union-attr]


def fields(line: str) -> dict[str, str]:
    return dict(word.split("=", 1) for word in line.split() if "=" in word)


def injections(lines: list[str]) -> list[tuple[int, str, str]]:
    """(index, line, kind): a line no event of another CPU can explain,
    placed before lines[index] of the view."""
    last = len(lines) - 1
    earlier = TIMESTAMP.search(lines[0]).group(1)  # type: ignore[union-attr]
    back = lines[last].replace(
        TIMESTAMP.search(lines[last]).group(0),  # type: ignore[union-attr]
        f" {earlier}: ",
        1,
    )
    found = [(last + 1, back, "time-goes-back")]
    prefix = event_prefix(lines[last])
    found.append(
        (
            last + 1,
            prefix + " percpu_alloc_percpu: reserved=0 is_atomic=0 size=8 "
            "align=8 base_addr=ffff8cabfdc37000 off=4 ptr=(____ptrval____)\n",
            "misaligned",
        )
    )
    allocs = [i for i, line in enumerate(lines) if "percpu_alloc_percpu:" in line]
    if allocs:
        # A free of an area allocated in this view, with another pointer: a
        # free and a reallocation on another CPU give the area the same one.
        i = allocs[len(allocs) // 2]
        area = fields(lines[i])
        ptr = f"{int(area['ptr'], 16) ^ 0x1000:0{len(area['ptr'])}x}"
        found.append(
            (
                i + 1,
                event_prefix(lines[i]) + " percpu_free_percpu: base_addr="
                f"{area['base_addr']} off={area['off']} ptr={ptr}\n",
                "ptr-mismatch",
            )
        )
    creates = [i for i, line in enumerate(lines) if "percpu_create_chunk:" in line]
    if creates:
        # A reserved allocation in a chunk created in this view: the reserved
        # chunk is set up at boot and never destroyed, whatever other CPUs do.
        i = creates[0]
        base = fields(lines[i])["base_addr"]
        found.append(
            (
                i + 1,
                event_prefix(lines[i]) + " percpu_alloc_percpu: reserved=1 "
                f"is_atomic=0 size=8 align=8 base_addr={base} off=0 ptr={base}\n",
                "reserved-chunk-mismatch",
            )
        )
    return found


@pytest.mark.parametrize("name", CAPTURES)
def test_impossible_lines_are_found_in_views(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    header, by_cpu = split(name)
    tried = set()
    for cpu, lines in by_cpu.items():
        for index, line, kind in injections(lines):
            view = lines[:index] + [line] + lines[index:]
            path = write(tmp_path, f"cpu{cpu}-{kind}", header + view)
            status, result = run_json(capsys, path)
            assert result["partial"]["cpus_seen"] == [cpu]
            assert status == 1 and {"line": len(header) + index + 1, "kind": kind} in [
                {"line": v["line"], "kind": v["kind"]} for v in result["violations"]
            ]
            tried.add(kind)
    assert {"time-goes-back", "misaligned", "reserved-chunk-mismatch"} <= tried


def test_a_double_free_in_a_view_is_unknown_not_a_violation(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A second free of an area allocated and freed in CPU 0's view: CPU 1
    may have allocated the area again in between, so in the view it is
    unknown. The same lines in a capture of every CPU are a double free."""
    header, by_cpu = split("boot.trace")
    lines = by_cpu[0]
    i = next(i for i, line in enumerate(lines) if "percpu_free_percpu:" in line)
    view = lines[: i + 1] + [lines[i]] + lines[i + 1 :]
    status, result = run_json(capsys, write(tmp_path, "cpu0", header + view))
    assert status == 0 and result["partial"]["unknown"] == {"double-free": 1}
    status, result = run_json(capsys, "--no-partial", write(tmp_path, "cpu0", header + view))
    assert status == 1 and [v["kind"] for v in result["violations"]] == ["double-free"]


# -- level 2 ----------------------------------------------------------------


def test_level2_does_not_judge_a_view(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The merged counterexample log violates no-use-after-free under the
    seed spec; a view of one CPU cannot be a run of the model, whose every
    step is on some CPU: not decided, and the exit status is level 1's."""
    header, by_cpu = split("seed-no-use-after-free.trace")
    merged = str(SAMPLES / "seed-no-use-after-free.trace")
    status, result = run_json(capsys, "--spec", "seed", merged)
    assert status == 1 and result["violations"][0]["kind"] == "no-use-after-free"
    for cpu, lines in by_cpu.items():
        status, result = run_json(
            capsys, "--spec", "seed", write(tmp_path, f"cpu{cpu}", header + lines)
        )
        assert status == 0 and result["violations"] == []
        assert (
            f"conformance (seed): conformance not decided: a partial capture (CPUs {cpu} "
            "seen); check the merged trace of every CPU"
        ) in result["features"]
