"""check-trace on input that is not a percpu log: nothing to check is not
"clean", binary captures are named with the command that prints their
text, and junk is summarised, never echoed whole."""

import gzip
import json
import random
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from percpu_mc.checker.cli.check_trace import main

SAMPLES = Path(__file__).parent / "trace_samples"
HEADER = (SAMPLES / "boot.trace").read_text().split("          <idle>")[0]
SCHED_SWITCH = (
    "          <idle>-0       [001] d..2.     0.512345: sched_switch: "
    "prev_comm=swapper/1 prev_pid=0 prev_prio=120 prev_state=R ==> "
    "next_comm=kworker/1:1 next_pid=30 next_prio=120\n"
)
# The starts of real binary captures: trace-cmd's magic, version "6", little
# endian, 8-byte longs, 4 KiB pages; perf's magic and header size.
TRACE_DAT = b"\x17\x08\x44tracing6\x00\x00\x08" + struct.pack("<I", 4096) + b"header_page\x00"
PERF_DATA = b"PERFILE2" + struct.pack("<QQ", 104, 136)


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str]:
    status = main(list(argv))
    return status, capsys.readouterr().out


def junk(size: int) -> bytes:
    return random.Random(size).randbytes(size)


@pytest.mark.parametrize(
    "content, cause",
    [
        ("", "no event and no ftrace header"),
        (HEADER, "a header and no event: nothing was traced"),
        (
            HEADER + SCHED_SWITCH * 3,
            "3 events, none a percpu tracepoint (the most frequent: "
            "sched_switch, 3): the percpu events were not enabled",
        ),
    ],
)
def test_no_percpu_event_is_not_clean(
    content: str, cause: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    log = tmp_path / "log"
    log.write_text(content)
    status, out = run(capsys, str(log))
    assert status == 2 and f"no percpu event: {cause}" in out
    assert out.endswith("verdict: no-percpu-event\n") and "consistent" not in out
    status, out = run(capsys, "--json", str(log))
    (result,) = json.loads(out)["files"]
    assert status == 2 and json.loads(out)["verdict"] == "no-percpu-event"
    assert result["no_percpu_event"].startswith(cause)


def test_dev_null_and_a_clean_log_together(capsys: pytest.CaptureFixture) -> None:
    """One file with nothing to check makes the run's exit status 2."""
    status, out = run(capsys, "/dev/null", str(SAMPLES / "boot.trace"))
    assert status == 2 and "/dev/null: trace_pipe, 0 lines\n  no percpu event" in out
    assert "consistent" in out  # boot.trace's own verdict


@pytest.mark.parametrize(
    "magic, command", [(TRACE_DAT, "trace-cmd report -i"), (PERF_DATA, "perf script -i")]
)
@pytest.mark.parametrize("packed", [False, True])
def test_binary_captures_are_named(
    magic: bytes, command: str, packed: bool, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    name = "trace.dat" if magic == TRACE_DAT else "perf.data"
    capture = tmp_path / (name + ".gz" if packed else name)
    data = magic + junk(50_000)
    capture.write_bytes(gzip.compress(data) if packed else data)
    status = main([str(capture)])
    out, err = capsys.readouterr()
    text = tmp_path / (name + ".txt" if packed else name.split(".")[0] + ".txt")
    assert status == 2 and f"`{command} {capture} > {text}`" in err and err.count("\n") == 1
    assert "does not parse" not in out and out.splitlines()[-1] == "verdict: unparseable"
    status, out = run(capsys, "--json", str(capture))
    (result,) = json.loads(out)["files"]
    assert status == 2 and result["parse_error_count"] == 1
    assert command in result["parse_errors"][0]["message"]


def test_binary_capture_on_standard_input() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "percpu_mc.checker.cli.check_trace", "-"],
        input=PERF_DATA + junk(1000),
        capture_output=True,
        check=False,
    )
    assert done.returncode == 2 and b"`perf script -i FILE > FILE.txt`" in done.stderr


def test_binary_junk_is_summarised(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """100 KB of random bytes: five bad lines shown, cut and escaped, then a
    count; the JSON document lists five and counts them all."""
    log = tmp_path / "junk"
    log.write_bytes(junk(100_000))
    status, out = run(capsys, str(log))
    assert status == 2 and out.count("does not parse") == 5
    (more,) = [line for line in out.splitlines() if line.startswith("  ... and ")]
    assert more.endswith("more lines that do not parse")
    assert all(len(line) < 300 and line.isprintable() for line in out.splitlines())
    assert "\\x" in out  # control bytes are shown escaped
    status, out = run(capsys, "--json", str(log))
    (result,) = json.loads(out)["files"]
    shown = len(result["parse_errors"])
    assert (
        status == 2 and shown == 5 and result["parse_error_count"] == shown + int(more.split()[2])
    )
    assert len(out) < 5000


def test_a_megabyte_line_is_cut(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A megabyte of junk, then an impossible allocation whose call_site is
    a megabyte long: both are shown, cut."""
    log = tmp_path / "long"
    alloc = (SAMPLES / "boot.trace").read_text().splitlines(keepends=True)[12]
    call_site = alloc.split("call_site=")[1].split()[0]
    log.write_text(
        HEADER
        + "x" * 1_000_000
        + "\n"
        + alloc.replace(call_site, "f" * 1_000_000).replace("align=4", "align=3")
    )
    status, out = run(capsys, str(log))
    assert status == 2 and len(out) < 3000
    assert "line 13: does not parse" in out and "(999880 more characters)" in out
    assert "line 14: invalid-request" in out and out.count("more characters)") == 2


def test_a_number_too_long_for_int_is_a_bad_line(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """int() refuses more than 4300 digits (sys.get_int_max_str_digits);
    the grammar's numbers are unbounded, so the line is a bad line."""
    log = tmp_path / "log"
    alloc = (SAMPLES / "boot.trace").read_text().splitlines(keepends=True)[12]
    log.write_text(HEADER + alloc.replace("off=2208", "off=" + "9" * 5000) + alloc)
    status, out = run(capsys, "--json", str(log))
    (result,) = json.loads(out)["files"]
    assert status == 2 and result["parse_errors"] == [
        {
            "line": 13,
            "message": "a number too long to convert (the kernel prints at most 20 digits)",
        }
    ]
    assert result["events"] == {"percpu_alloc_percpu": 1}
