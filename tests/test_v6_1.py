"""v6.1, the kernel of the real captures: its spec is v5.14's code (the
6.x text read, docs/kernel-source-notes.md section 6.1), and the level-2
check accepts the Debian 6.1 captures against it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from percpu_mc.checker import specs
from percpu_mc.checker.cli.check_trace import main

SAMPLES = Path(__file__).parent / "trace_samples"


def test_v6_1_is_v5_14s_allocator() -> None:
    v514, v61 = specs.load("v5.14"), specs.load("v6.1")
    assert v61.params == replace(v514.params)
    assert (v61.violated, v61.holds, v61.depth) == (v514.violated, v514.holds, v514.depth)


def test_check_trace_accepts_the_6_1_boot_capture(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["--spec", "v6.1", "--unit-size", "1048576", str(SAMPLES / "boot.trace")])
    out = capsys.readouterr().out
    assert rc == 0 and "conformance (v6.1): no line contradicts" in out
