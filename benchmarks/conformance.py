"""How fast check-trace checks logs, levels 1 and 2, beside a plain-`re` floor, in one run.

    .venv/bin/python benchmarks/conformance.py [--lines N] [--steps S] [CAPTURE ...]

Real scale.  The logs: the real captures (default: tests/trace_samples and
../shared/samples/debian-6.1, each content once) and a log of N lines whose
every allocation is placed by v6.1's own code at the kernel's scale
(model.block_fit.place: pcpu_find_block_fit() then pcpu_alloc_area(), three
chunks of 1 MiB units created by a kworker, at least 3,000 areas live, in the
format of mix.trace.gz), so the exact replay predicts each of them.  For
each log, lines per second of CPU time for
  floor          a plain `re` split of each line into prefix and fields
  level 1        check-trace FILE (parse + consistency), in this process
  --spec v6.1    check-trace --spec v6.1 FILE: level 1 and level 2 with the
                 exact replay, one reading of the file, in this process
  process        the same command as a process of its own: CPU time with
                 the interpreter's start, and its peak resident memory
and the exact replay's counts.  The generated log also gets the
whole-process memory on its first tenth, to show memory flat in the log's
length.  No unit size is given: check-trace infers it as a user's run
would.  (--spec v5.14 runs the same replays as v6.1: the same hint code.)

Model scale: a random run of S steps of v4.13 (check-model --simulate),
written with every unlogged step traced and once with the tracepoints only,
replayed against v4.13 by the model itself; lines per second.
"""

import argparse
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Run as a script, this directory comes first on sys.path, where its html.py
# and trace.py would hide the standard library's modules and distributed.py
# Dask's: take it off. The package is the installed percpu_mc.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

from percpu_mc.checker import specs
from percpu_mc.checker.cli.check_trace import check_file, read_records
from percpu_mc.checker.logs.emit_log import random_run
from percpu_mc.checker.logs.level2 import conform_file
from percpu_mc.checker.logs.trace_check import DEFAULT_WINDOW_NS
from percpu_mc.model import bitmap_chunk as bc
from percpu_mc.model import block_fit as bf
from percpu_mc.model.machine import Model
from percpu_mc.traces.input import open_log
from percpu_mc.traces.writer import write_trace

SAMPLES = HERE.parent / "tests" / "trace_samples"
SHARED = [p / "shared" / "samples" / "debian-6.1" for p in HERE.parents[1:3]]
LINE = re.compile(r"\s*(.+?)-(\d+)\s+\[(\d+)\]\s+(\S+)\s+([\d.]+): (\S+): (.*)")


def captures() -> list[Path]:
    """The real captures, each content once (the shipped ones are copies)."""
    found = [SAMPLES / "boot.trace", SAMPLES / "mix.trace.gz"]
    for directory in SHARED:
        for path in sorted(directory.glob("*.trace*")) if directory.is_dir() else ():
            if all(path.read_bytes() != known.read_bytes() for known in found):
                found.append(path)
    return found


# -- the generated log ---------------------------------------------------------

HEADER = """\
# tracer: nop
#
# entries-in-buffer/entries-written: {n}/{n}   #P:2
#
#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION
#              | |         |   |||||     |         |
"""
BASES = (0xFFFFEF47BFC00000, 0xFFFFEF47BFA00000, 0xFFFFEF47BF800000)
PTR_DELTA = 0xFFFF8CABFDC00000
SIZES = (4, 8, 16, 24, 32, 64, 88, 128, 384, 464, 1008, 4096)
UNIT = 1 << 20


def generate(path: Path, lines: int, seed: int = 1) -> None:
    """A log of `lines` lines whose every allocation is where v6.1's
    placement puts it in its chunk; which chunk is the first that fits."""
    rng = random.Random(seed)
    chunks = {b: bc.pcpu_alloc_chunk(bc.V6_1, UNIT // bc.PCPU_MIN_ALLOC_SIZE) for b in BASES}
    live: list[tuple[int, int]] = []
    ts = 1_000_000
    with path.open("w") as out:
        out.write(HEADER.format(n=lines - 6))
        for base in BASES:
            out.write(
                f"     kworker/1:1-35      [001] .....     0.900000: "
                f"percpu_create_chunk: base_addr={base:016x}\n"
            )
        written = 6 + len(BASES)
        while written < lines:
            ts += rng.randint(1, 40)
            head = (
                f"{'modprobe-131':>20} [{rng.randint(0, 1):03d}] ..... "
                f"{ts // 1_000_000:5d}.{ts % 1_000_000:06d}: "
            )
            written += 1
            if rng.random() < 0.52 or len(live) < 3000:
                size = rng.choice(SIZES)
                align = min(1 << rng.randint(2, 6), size if size & (size - 1) == 0 else 8)
                for base in BASES:
                    bit = bf.place(chunks[base], size // 4, align // 4)
                    if bit >= 0:
                        off = bit * 4
                        live.append((base, off))
                        out.write(
                            head + f"percpu_alloc_percpu: call_site=alloc_desc+0x50/0x250 "
                            f"reserved=0 is_atomic=0 size={size} align={align} "
                            f"base_addr={base:016x} off={off} ptr={base + off - PTR_DELTA:016x} "
                            f"bytes_alloc={size * 4} gfp_flags=GFP_KERNEL\n"
                        )
                        break
                else:  # no chunk fits: a free instead
                    written -= 1
                continue
            base, off = live.pop(rng.randrange(len(live)))
            bf.pcpu_free_area(chunks[base], off // 4)
            out.write(
                head + f"percpu_free_percpu: base_addr={base:016x} off={off} "
                f"ptr={base + off - PTR_DELTA:016x}\n"
            )


def head(path: Path, lines: int, target: Path) -> None:
    with path.open() as source, target.open("w") as out:
        for _, line in zip(range(lines), source):
            out.write(line)


# -- the runs ------------------------------------------------------------------


def floor(path: Path) -> None:
    with open_log(str(path)) as lines:
        for line in lines:
            if match := LINE.match(line):
                dict(field.split("=", 1) for field in match.group(7).split() if "=" in field)


def level1(path: Path) -> None:
    result = check_file(str(path), False, DEFAULT_WINDOW_NS)
    assert result.failure() is None and not result.report.violations, result.report.violations[:1]


def checked(spec: str) -> Callable[[Path], list[str]]:
    def run(path: Path) -> list[str]:
        result = check_file(str(path), False, DEFAULT_WINDOW_NS, spec=spec)
        assert result.failure() is None and not result.report.violations, result.report.violations[
            :1
        ]
        assert result.conformance is not None
        return [n for n in result.conformance.notes if n.startswith("exact placement")]

    return run


def cpu_time(run, path: Path):  # noqa: ANN001, ANN201
    start = time.process_time()
    out = run(path)
    return time.process_time() - start, out


def process(path: Path, spec: str) -> tuple[float, float]:
    """`check-trace --spec SPEC FILE` as a process: its CPU seconds and peak
    resident MiB."""
    child = subprocess.Popen(
        [sys.executable, "-m", "percpu_mc.checker.cli.check_trace", "--spec", spec, str(path)],
        stdout=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    assert child.returncode == 0, f"check-trace exit status {child.returncode} on {path}"
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def count_lines(path: Path) -> int:
    with open_log(str(path)) as lines:
        return sum(1 for _ in lines)


def measure(path: Path) -> None:
    n = count_lines(path)
    print(f"{path.name}: {n:,} lines")
    for name, run in [("floor", floor), ("level 1", level1), ("--spec v6.1", checked("v6.1"))]:
        spent, out = cpu_time(run, path)
        print(f"  {name:<14} {n / spent:>10,.0f} lines/s  ({spent:.2f} s CPU)")
        for note in out or ():
            print(f"  {'':<14} {note}")
    spent, rss = process(path, "v6.1")
    print(f"  {'process':<14} {n / spent:>10,.0f} lines/s  ({spent:.2f} s CPU, peak {rss:.0f} MiB)")


def model_scale(steps: int, directory: Path) -> None:
    model = Model(specs.load("v4.13").params)
    trace = random_run(model, steps, 1)
    for markers in (True, False):
        path = directory / f"sim-{markers}.trace"
        write_trace(path, model, trace, "benchmark", markers=markers)
        n = sum(1 for line in path.open() if not line.startswith("#"))
        start = time.process_time()
        got = conform_file(str(path), "v4.13", False, None, read_records)
        spent = time.process_time() - start
        assert not got.findings, got.findings[:1]
        undecided = [note for note in got.notes if "not decided" in note]
        what = "every step traced" if markers else "tracepoints only"
        print(
            f"level 2, v4.13, model scale, {what}: {n} lines, {n / spent:,.0f} lines/s "
            f"({spent:.1f} s, {len(trace.steps)} steps): "
            f"{undecided[0] if undecided else 'explained to the end'}"
        )


def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("captures", nargs="*", type=Path, help="default: the real captures")
    arguments.add_argument("--lines", type=int, default=1_000_000, help="of the generated log")
    arguments.add_argument("--steps", type=int, default=1000, help="of the model-scale run")
    options = arguments.parse_args()
    for path in options.captures or captures():
        measure(path)
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        log, tenth = directory / "generated.trace", directory / "tenth.trace"
        start = time.perf_counter()
        generate(log, options.lines)
        print(f"generated {options.lines:,} lines in {time.perf_counter() - start:.0f} s")
        measure(log)
        head(log, options.lines // 10, tenth)
        spent, rss = process(tenth, "v6.1")
        print(f"  tenth: {options.lines // 10:,} lines, peak {rss:.0f} MiB ({spent:.2f} s CPU)")
        model_scale(options.steps, directory)


if __name__ == "__main__":
    main()
