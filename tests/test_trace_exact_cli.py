"""check-trace --spec v6.1 on a real-scale log places each allocation of a
chunk the log saw created by the kernel's block hints: an area the kernel
would have put elsewhere is a `placement` finding (exit status 1), where
level 1 alone finds the log consistent."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HEADER = "# tracer: nop\n#\n# entries-in-buffer/entries-written: 3/3   #P:1\n#\n"
BASE = 0xFFFFEF47BFC00000


def alloc(ts: float, off: int) -> str:
    return (
        f"     kworker/1:1-35      [000] .....     {ts:.6f}: percpu_alloc_percpu: "
        "call_site=alloc_desc+0x50/0x250 reserved=0 is_atomic=0 size=8 align=8 "
        f"base_addr={BASE:016x} off={off} ptr={BASE + off:016x} bytes_alloc=16 "
        "gfp_flags=GFP_KERNEL\n"
    )


def log(tmp_path: Path, second: int) -> Path:
    """A chunk created, an area at 0, then one at `second` (the kernel: 8)."""
    path = tmp_path / "trace"
    path.write_text(
        HEADER
        + f"     kworker/1:1-35      [000] .....     1.000000: percpu_create_chunk: base_addr={BASE:016x}\n"
        + alloc(1.1, 0)
        + alloc(1.2, second)
    )
    return path


def check_trace(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "percpu_mc.checker.cli.check_trace", "--json", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).parent,
    )


def test_an_area_the_kernel_places_elsewhere_is_a_placement_finding(tmp_path: Path) -> None:
    moved = log(tmp_path, 64)
    assert check_trace(str(moved)).returncode == 0  # level 1: consistent
    run = check_trace("--spec", "v6.1", "--unit-size", "1048576", str(moved))
    assert run.returncode == 1, run.stderr
    (found,) = json.loads(run.stdout)["files"][0]["violations"]
    assert found["kind"] == "placement" and found["line"] == 7
    assert "offset 8" in found["message"]


def test_the_kernels_own_placement_conforms(tmp_path: Path) -> None:
    run = check_trace("--spec", "v6.1", "--unit-size", "1048576", str(log(tmp_path, 8)))
    assert run.returncode == 0, run.stdout + run.stderr
    doc = json.loads(run.stdout)["files"][0]
    assert doc["violations"] == [] and doc["not_decided"] == 0
