"""check-trace as a command: exit status, human and JSON output, and no
traceback whatever the input."""

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from percpu_mc.checker.cli.check_trace import main

SAMPLES = Path(__file__).parent / "trace_samples"
CLEAN = (
    "  a-1 [000] .... 1.000000: percpu_alloc_percpu: reserved=0 is_atomic=0 size=8 "
    "align=8 base_addr=ffff8cabfdc37000 off=0 ptr=0000000000037000\n"
)
DOUBLE_FREE = CLEAN + 2 * (
    "  a-1 [000] .... 1.000001: percpu_free_percpu: "
    "base_addr=ffff8cabfdc37000 off=0 ptr=0000000000037000\n"
)


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str]:
    status = main(list(argv))
    return status, capsys.readouterr().out


def test_real_captures_are_clean(capsys: pytest.CaptureFixture) -> None:
    status, out = run(capsys, "--json", str(SAMPLES / "boot.trace"), str(SAMPLES / "mix.trace.gz"))
    document = json.loads(out)
    assert status == 0 and document["verdict"] == "clean"
    boot, mix = document["files"]
    assert boot["format"] == "trace" and boot["lines"] == 372
    assert boot["events"] == {
        "percpu_alloc_percpu": 338,
        "percpu_free_percpu": 21,
        "percpu_create_chunk": 1,
    }
    assert "hashed pointers" in boot["features"] and "raw pointers" in mix["features"]
    assert mix["events"]["percpu_destroy_chunk"] == 1
    assert all(
        f["violations"] == [] and f["parse_errors"] == [] and f["skipped"] == 0
        for f in document["files"]
    )


def test_violation_human_output(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    log = tmp_path / "log"
    log.write_text(DOUBLE_FREE)
    status, out = run(capsys, str(log))
    assert status == 1
    assert "line 3: double-free" in out and "already freed at line 2" in out
    assert "percpu_free_percpu: base_addr=ffff8cabfdc37000 off=0" in out
    assert "trace_pipe" in out and "verdict: violations" in out


def test_violation_json_and_strict(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    log = tmp_path / "log.gz"
    log.write_bytes(gzip.compress(DOUBLE_FREE.splitlines(keepends=True)[2].encode()))
    status, out = run(capsys, "--json", str(log))
    assert status == 0 and json.loads(out)["verdict"] == "clean"
    status, out = run(capsys, "--json", "--strict", str(log))
    (violation,) = json.loads(out)["files"][0]["violations"]
    assert status == 1 and violation["kind"] == "free-unknown" and violation["line"] == 1


def test_unparseable_beats_violations(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bad, broken = tmp_path / "bad", tmp_path / "broken"
    bad.write_text(DOUBLE_FREE)
    broken.write_text(CLEAN + "  a-1 [000] .... 1.0: percpu_free_percpu: base_addr=1\n")
    status, out = run(capsys, "--json", str(bad), str(broken), str(tmp_path / "missing"))
    document = json.loads(out)
    assert status == 2 and document["verdict"] == "unparseable"
    assert document["files"][1]["parse_errors"] == [
        {"line": 2, "message": "column 22: expected percpu_free_percpu 'base_addr= off= ptr='"}
    ]
    assert "cannot read" in document["files"][2]["parse_errors"][0]["message"]


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture) -> None:
    """A usage error: exit status 2, one line on stderr naming it, nothing on stdout."""
    for argv, names in (
        ([], "FILE"),
        (["--bogus", "x"], "--bogus"),
        (["--spec", "v6.1", "-"], "standard input"),
    ):
        assert main(argv) == 2
        out, err = capsys.readouterr()
        assert out == "" and err.count("\n") == 1
        assert err.startswith("check-trace: ") and names in err


def test_standard_input_through_the_console_script() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "percpu_mc.checker.cli.check_trace", "-"],
        input=DOUBLE_FREE,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1 and "double-free" in done.stdout and done.stderr == ""


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    st.binary(max_size=400)
    | st.text(max_size=300).map(str.encode)
    | st.builds(
        lambda head, tail: head + tail, st.just(DOUBLE_FREE.encode()), st.binary(max_size=50)
    )
)
def test_arbitrary_bytes_never_raise(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    """Whatever the bytes, the answer is an exit status, never a traceback."""
    log = tmp_path_factory.mktemp("fuzz") / "log"
    log.write_bytes(data)
    for options in ([], ["--json", "--strict"]):
        assert main([*options, str(log)]) in (0, 1, 2)


def test_truncated_gzip_is_checked_as_far_as_it_goes(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A .gz cut short (no end-of-stream marker): a warning, and the lines it
    holds checked, so the double free it holds gives exit status 1."""
    log = tmp_path / "log.gz"
    whole = gzip.compress(DOUBLE_FREE.encode() + CLEAN.encode() * 2000)
    log.write_bytes(whole[: len(whole) // 2])
    status = main([str(log)])
    out, err = capsys.readouterr()
    assert status == 1 and "line 3: double-free" in out and err == ""
    assert "warning: the gzip stream is truncated" in out and "verdict: violations" in out


@pytest.mark.parametrize(
    ("options", "log", "status"),
    [([], CLEAN, 0), (["--json"], CLEAN, 0), ([], DOUBLE_FREE, 1), (["--json"], DOUBLE_FREE, 1)],
)
def test_a_closed_pipe_keeps_the_verdicts_status(
    tmp_path: Path, options: list[str], log: str, status: int
) -> None:
    """`check-trace FILE | head -1`: stdout's reader is gone before the
    report is written (here, before the command starts, so that every write
    fails); the exit status is still the verdict's, never rich's 1."""
    path = tmp_path / "log"
    path.write_text(log)
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run(
            [str(Path(sys.executable).parent / "check-trace"), *options, str(path), str(path)],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
    finally:
        os.close(write)
    assert done.returncode == status and "Traceback" not in done.stderr
