"""Progress on stderr, as a user at a terminal sees it: check-model's BMC
names the depth and the property being solved, its search the states, their
rate and the memory; check-trace the bytes and lines read of each file.  On
a terminal by default (a real pseudo-terminal here), on a pipe only when
asked with --progress; stdout keeps its document either way."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import shutil
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest
from shared import PINNED

SAMPLES = Path(__file__).parent / "trace_samples"
ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")


def script(name: str) -> str:
    path = shutil.which(name, path=str(Path(sys.executable).parent))
    assert path
    return path


def on_a_terminal(argv: list[str], cwd: Path) -> tuple[int, str, str]:
    """Run with stderr on a pseudo-terminal: (status, stdout, what the
    terminal showed, escape sequences taken out)."""
    master, slave = pty.openpty()
    # a terminal of 160 columns, so that a whole progress line fits (rich
    # reads the width from COLUMNS when stdout is no terminal)
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=slave, cwd=cwd, env={**os.environ, "COLUMNS": "160"}
    )
    os.close(slave)
    shown = b""
    while True:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                data = os.read(master, 1 << 16)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            shown += data
        elif proc.poll() is not None:
            break
    out = proc.stdout.read().decode() if proc.stdout else ""
    status = proc.wait(timeout=300)
    os.close(master)
    return status, out, ANSI.sub(b"", shown).decode(errors="replace")


@pytest.fixture
def pinned(tmp_path: Path) -> Path:
    spec = tmp_path / "pinned.toml"
    spec.write_text(PINNED)
    return spec


def test_bmc_shows_depth_and_property(pinned: Path) -> None:
    status, out, shown = on_a_terminal(
        [
            script("check-model"),
            "--spec",
            str(pinned),
            "--engine",
            "bmc",
            "--depth",
            "5",
            "--property",
            "counter-exact",
            "--property",
            "no-deadlock",
            "--json",
        ],
        pinned.parent,
    )
    assert status == 1 and json.loads(out)["spec"] == "seed-pinned"
    assert re.search(r"depth [1-5]/5: (counter-exact|no-deadlock)", shown), shown[-2000:]
    assert re.search(r"\d:\d\d:\d\d", shown)  # the time in it


def test_search_shows_states_rate_and_memory(pinned: Path) -> None:
    status, out, shown = on_a_terminal(
        [
            script("check-model"),
            "--spec",
            str(pinned),
            "--engine",
            "explicit-python",
            "--depth",
            "6",
            "--property",
            "counter-exact",
            "--json",
        ],
        pinned.parent,
    )
    assert status == 1 and json.loads(out)["results"][0]["verdict"] == "violated"
    assert re.search(r"depth \d/6 .*[\d,]+ states, [\d,]+/s, peak [\d,]+ MiB", shown), shown[-2000:]


def test_quiet_on_a_pipe_unless_asked(pinned: Path) -> None:
    argv = [
        script("check-model"),
        "--spec",
        str(pinned),
        "--engine",
        "bmc",
        "--depth",
        "3",
        "--property",
        "no-deadlock",
    ]
    quiet = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert quiet.returncode == 1 and "depth 1/3:" not in quiet.stderr
    assert "\x1b[" not in quiet.stderr
    asked = subprocess.run(argv + ["--progress"], capture_output=True, text=True, timeout=300)
    assert asked.returncode == 1 and "depth 1/3: no-deadlock" in asked.stderr
    assert asked.stdout == quiet.stdout.replace(
        re.search(r"\(\d+\.\d+s\)", quiet.stdout)[0],  # type: ignore[index]
        re.search(r"\(\d+\.\d+s\)", asked.stdout)[0],
    )  # type: ignore[index]


def test_check_trace_shows_bytes_and_lines(tmp_path: Path) -> None:
    status, out, shown = on_a_terminal(
        [script("check-trace"), "--json", str(SAMPLES / "mix.trace.gz")], tmp_path
    )
    assert status == 0 and json.loads(out)["verdict"] == "clean"
    assert "mix.trace.gz" in shown
    assert re.search(r"[\d.]+/[\d.]+ [kM]B +[\d,]+ lines", shown), shown[-2000:]
