"""How fast check-trace --spec replays a log, beside level-1 checking.

    .venv/bin/python benchmarks/conformance.py [--lines N] [--steps S]

Real scale: the 1,000,000-line log of benchmarks/trace.py (a Debian 6.1
style capture: v5.19+ fields, raw pointers, two chunks churning areas) is
checked at level 1 (parse + consistency) and at level 2 against v5.14
(conformance at real scale), events per second each; the peak traced
memory of the level-2 replay on a tenth of the log and on the whole shows
whether memory stays flat in log length.

Model scale: a random run of S steps of v4.13 (check-model --simulate),
written with every unlogged step traced and once with the tracepoints
only, replayed against v4.13 by the model itself; lines per second.
"""

import argparse
import importlib.util
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Run as a script, this directory comes first on sys.path, where its html.py
# and trace.py would hide the standard library's modules and distributed.py
# Dask's: take it off. The package is the installed percpu_mc.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

from percpu_mc.checker import specs
from percpu_mc.checker.cli.check_trace import read_records
from percpu_mc.checker.logs.conformance import conform_file
from percpu_mc.checker.logs.emit_log import random_run
from percpu_mc.checker.logs.trace_check import check_log
from percpu_mc.model.machine import Model
from percpu_mc.traces.writer import write_trace


def trace_benchmark():  # benchmarks/trace.py, whose name the stdlib's `trace` shadows
    spec = importlib.util.spec_from_file_location("trace_benchmark", HERE / "trace.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def level1(path: Path) -> None:
    report = check_log(read_records(str(path)))
    assert not report.violations and not report.parse_errors


def level2(spec: str, unit: int | None, outcome: list[str] | None = None) -> Callable[[Path], None]:
    """The replay; where it stopped undecided goes to `outcome`."""

    def run(path: Path) -> None:
        got = conform_file(str(path), spec, False, unit, read_records)
        assert not got.findings, got.findings[:1]
        undecided = [n for n in got.notes if "not decided" in n]
        if outcome is None:
            assert not undecided, undecided
        else:
            outcome.extend(undecided or ["explained to the end"])

    return run


def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--lines", type=int, default=1_000_000)
    arguments.add_argument("--steps", type=int, default=1000)
    options = arguments.parse_args()
    bench = trace_benchmark()
    with tempfile.TemporaryDirectory() as directory:
        log, tenth = Path(directory) / "log", Path(directory) / "tenth"
        bench.generate(log, options.lines)
        bench.head(log, options.lines // 10, tenth)
        real = level2("v5.14", 1 << 20)
        for name, run in [("level 1", level1), ("level 2, v5.14, real scale", real)]:
            spent = bench.timed(run, log)
            print(f"{name:<30} {options.lines / spent:>10,.0f} lines/s  ({spent:.1f} s)")
        for name, path, count in [
            ("tenth", tenth, options.lines // 10),
            ("whole", log, options.lines),
        ]:
            print(
                f"peak memory, level 2, {count:>9,} lines: "
                f"{bench.peak_memory(real, path) / 2**20:.1f} MiB"
            )

        model = Model(specs.load("v4.13").params)
        trace = random_run(model, options.steps, 1)
        for markers in (True, False):
            path = Path(directory) / f"sim-{markers}.trace"
            write_trace(path, model, trace, "benchmark", markers=markers)
            n = sum(1 for line in path.open() if not line.startswith("#"))
            outcome: list[str] = []
            spent = bench.timed(level2("v4.13", None, outcome), path)
            what = "every step traced" if markers else "tracepoints only"
            print(
                f"level 2, v4.13, model scale, {what}: {n} lines, {n / spent:,.0f} lines/s "
                f"({spent:.1f} s, {len(trace.steps)} steps): {outcome[0]}"
            )


if __name__ == "__main__":
    main()
