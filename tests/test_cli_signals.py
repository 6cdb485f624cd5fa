"""SIGINT and SIGTERM sent to real check-model and check-trace processes:
each stops, prints what it settled and says it was interrupted, exits
128 + the signal, with no traceback and no process left behind."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

TESTS = Path(__file__).resolve().parent
SPECS = TESTS.parent / "specs"
# long enough that no engine finishes before the signal: v4.13 with two
# allocations per context (tens of millions of states to depth 30)
LONG = {
    "bmc": ["--engine", "bmc", "--depth", "30"],
    "portfolio": ["--depth", "30", "--spec", "{big}"],
    "explicit": ["--engine", "explicit", "--depth", "30", "--spec", "{big}"],
    "explicit-python": ["--engine", "explicit-python", "--depth", "30", "--spec", "v4.13"],
    "prove": ["--prove", "--max-k", "6", "--depth", "30", "--spec", "v4.13"],
}


def start(module: str, *argv: str, **kw: Any) -> subprocess.Popen[str]:
    # run from tests/: the clone's root holds no installed package to shadow
    kw.setdefault("cwd", TESTS)
    return subprocess.Popen(
        [sys.executable, "-m", f"percpu_mc.checker.cli.{module}", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(c) for c in path.read_text().split()] if path.exists() else []


def handling(proc: subprocess.Popen[str]) -> None:
    """Wait until the process catches SIGTERM (its handlers for both
    signals are installed together), or has ended."""
    bit = 1 << (signal.SIGTERM - 1)
    while proc.poll() is None:
        status = Path(f"/proc/{proc.pid}/status").read_text()
        caught = int(re.search(r"^SigCgt:\s*([0-9a-f]+)", status, re.M)[1], 16)
        if caught & bit:
            return
        time.sleep(0.05)


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.parametrize(
    "engine,signum",
    [
        ("bmc", signal.SIGINT),
        ("bmc", signal.SIGTERM),
        ("portfolio", signal.SIGINT),
        ("explicit", signal.SIGTERM),
        ("explicit-python", signal.SIGINT),
        ("prove", signal.SIGINT),
    ],
)
def test_check_model_stops(engine: str, signum: int, tmp_path: Path) -> None:
    big = tmp_path / "v4.13-two-each.toml"
    big.write_text(
        (SPECS / "v4.13.toml").read_text().replace("live_per_context = 1", "live_per_context = 2")
    )
    proc = start("check_model", "--json", *[a.format(big=big) for a in LONG[engine]])
    handling(proc)
    time.sleep(2)  # into the search
    assert proc.poll() is None, proc.communicate()
    kids = children(proc.pid)
    proc.send_signal(signum)
    # a hang-guard, not a timing claim (docs/benchmarks.md has the figures)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum, err
    assert "Traceback" not in err
    assert f"interrupted by {signal.Signals(signum).name}" in err
    doc = json.loads(out)
    assert doc["interrupted"] is True
    for item in doc.get("results", []):
        assert item["verdict"] in ("violated", "unknown", "proved")
        if item["verdict"] == "unknown":
            assert item["reason"] == "interrupted"
    assert not [k for k in kids if alive(k)], "a forked engine outlived the run"


def test_check_model_human_output_lists_settled_verdicts() -> None:
    proc = start(
        "check_model",
        "--engine",
        "bmc",
        "--depth",
        "30",
        "--property",
        "no-deadlock",
        "--property",
        "no-use-after-free",
        "--progress",
    )
    assert proc.stderr is not None
    seen = ""
    while not re.search(r"depth ([2-9]|\d\d)/30 done", seen):  # depth 2 settled
        line = proc.stderr.readline()
        assert line, "check-model ended before it was interrupted"
        seen += line
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    # no-deadlock is violated at depth 2, settled well within the first seconds
    assert "no-deadlock          violated at depth 2" in out
    assert "no-use-after-free    interrupted: no violation up to depth" in out
    assert "Traceback" not in err


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_check_trace_on_standard_input_stops(signum: int) -> None:
    proc = start("check_trace", "--json", "-", stdin=subprocess.PIPE)
    assert proc.stdin is not None
    proc.stdin.write("# tracer: nop\n#\n")
    proc.stdin.flush()
    handling(proc)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum, err
    assert "Traceback" not in err
    assert json.loads(out) == {"interrupted": True}


def through_a_closed_pipe(command: str, reader: str) -> tuple[str, str]:
    """`percpu_mc.checker.cli.COMMAND | READER`: the command's exit status
    (bash's PIPESTATUS) and its standard error."""
    pipe = subprocess.run(
        f"{sys.executable} -m percpu_mc.checker.cli.{command} "
        f"| {reader} >/dev/null; echo ${{PIPESTATUS[0]}}",
        shell=True,
        executable="/bin/bash",
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONUNBUFFERED": "0"},
        cwd=TESTS,
    )
    return pipe.stdout.strip(), pipe.stderr


def test_closed_pipe_keeps_the_verdict_status() -> None:
    sample = Path(__file__).parent / "trace_samples" / "mix.trace.gz"
    # `check-trace ... | head -c 1`: the reader leaves after one byte
    status, err = through_a_closed_pipe(f"check_trace --json {sample}", "head -c 1")
    assert status == "0", err
    assert "Traceback" not in err and "BrokenPipe" not in err


def test_starvation_through_a_closed_pipe_keeps_the_verdict_status() -> None:
    """`check-model --starvation ... | head -1`: no lasso within the depth is
    exit status 0 whether or not the reader stayed (rich alone gave 1)."""
    status, err = through_a_closed_pipe(
        "check_model --spec v4.13 --starvation 1 --depth 4", "head -1"
    )
    assert status == "0", err
    assert "Traceback" not in err


def test_depth_lines_quiet_on_a_pipe_unless_asked() -> None:
    """A run longer than a few seconds writes no `depth N/M done` lines to a
    stderr that is no terminal, unless --progress asks for them."""
    proc = start(
        "check_model",
        "--engine",
        "bmc",
        "--depth",
        "30",
        "--property",
        "no-deadlock",
        "--property",
        "no-use-after-free",
    )
    handling(proc)
    time.sleep(6)  # past the 3 s after which the lines would start
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "no-use-after-free    interrupted" in out
    assert "/30 done" not in err and "interrupted by SIGINT" in err


@pytest.mark.parametrize(
    ("argv", "verdict"),
    [
        (["--spec", "v4.13-popfail-fix", "--depth", "3", "--engine", "explicit-python"], 0),
        (["--spec", "seed", "--property", "no-deadlock", "--depth", "2", "--engine", "bmc"], 1),
    ],
)
@pytest.mark.parametrize("reader", ["head -3", "true"])
def test_check_model_through_a_closed_pipe(
    argv: list[str], verdict: int, reader: str, tmp_path: Path
) -> None:
    """`check-model ... | head -3`: the exit status is the verdict's (`true`
    leaves before the first byte, so every write meets a closed pipe)."""
    pipe = subprocess.run(
        f"{sys.executable} -m percpu_mc.checker.cli.check_model {' '.join(argv)} "
        f"| {reader} >/dev/null; echo ${{PIPESTATUS[0]}}",
        shell=True,
        executable="/bin/bash",
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,  # not the clone's root, whose percpu_mc/ would shadow the install
    )
    assert pipe.stdout.strip() == str(verdict), pipe.stderr
    assert "Traceback" not in pipe.stderr and "BrokenPipe" not in pipe.stderr


def no_compiler(tmp_path: Path) -> dict[str, str]:
    """An environment with no C compiler on PATH and an empty build cache."""
    env = {k: v for k, v in os.environ.items() if k != "CC"}
    return {**env, "PATH": str(Path(sys.executable).parent), "XDG_CACHE_HOME": str(tmp_path)}


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_portfolio_without_compiler_keeps_bmc_verdicts(signum: int, tmp_path: Path) -> None:
    """No compiler: one line says so at once and BMC alone runs; a signal
    then keeps what BMC settled (the 2-step deadlock, the depth reached)."""
    proc = start(
        "check_model",
        *("--depth", "30", "--property", "no-deadlock", "--property", "no-use-after-free"),
        env=no_compiler(tmp_path),
        cwd=tmp_path,
    )
    assert proc.stderr is not None
    notice = proc.stderr.readline()
    assert "needs a C compiler" in notice and "BMC alone" in notice, notice
    time.sleep(15)  # BMC settles depth 2 in a second or two on an idle machine
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum, err
    assert "Traceback" not in err and "needs a C compiler" not in err
    # before: every property "interrupted: no violation up to depth 0"
    reached = re.search(
        r"^no-use-after-free +interrupted: no violation up to depth (\d+)", out, re.M
    )
    assert reached and int(reached[1]) >= 1, out
    if int(reached[1]) >= 2:  # no-deadlock was asked at depth 2: its 2-step run is kept
        assert re.search(r"^no-deadlock +violated at depth 2 \[bmc\]", out, re.M), out


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:  # ended meanwhile
        return b""


def test_ctrl_c_while_compiling_is_no_compiler_failure(tmp_path: Path) -> None:
    """Ctrl-C reaches the whole foreground process group, the compiler too:
    the run is interrupted (130), not a compiler that "failed"."""
    slow = tmp_path / "slow-cc"
    slow.write_text('#!/bin/sh\nsleep 60\nexec cc "$@"\n')
    slow.chmod(0o755)
    env = {**os.environ, "CC": str(slow), "XDG_CACHE_HOME": str(tmp_path)}
    for engine in ("portfolio", "explicit"):
        proc = start(
            "check_model",
            *("--engine", engine, "--property", "no-deadlock", "--depth", "2"),
            env=env,
            start_new_session=True,
            cwd=tmp_path,
        )
        while not any(b"sleep" in cmdline(c) for p in children(proc.pid) for c in children(p)):
            assert proc.poll() is None
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 130, (engine, err)
        assert "failed on the generated model" not in err and "Traceback" not in err, err
