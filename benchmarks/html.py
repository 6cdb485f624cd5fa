"""How long `check-trace --html` takes on a long log, and how big the page is.

    .venv/bin/python benchmarks/html.py [--lines N] [--keep DIR]

Builds a log of N lines (default 1,000,000) from the shipped Debian 6.1 mix
capture (tests/trace_samples/mix.trace.gz), repeated with its timestamps
shifted past the previous copy; each copy is preceded by a lost-events
marker (which makes the checker forget the state, so the copies do not
collide) and carries one failed atomic allocation, so the page has gaps and
failures to draw. Then times check-trace on it without and with --html
(the difference is the summary and the rendering) and reports the page
size, and the time of check-model --html for the seed counterexamples.
"""

import argparse
import contextlib
import gzip
import io
import re
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this directory comes first on sys.path, where its html.py
# and trace.py would hide the standard library's modules and distributed.py
# Dask's: take it off. The package is the installed percpu_mc.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]

from percpu_mc.checker.cli import check_model as cli_model
from percpu_mc.checker.cli import check_trace as cli_trace

MIX = ROOT / "tests" / "trace_samples" / "mix.trace.gz"
STAMP = re.compile(r"^(.*?\]\s+\S+\s+)(\d+)\.(\d{6})(:.*)$", re.S)
FAIL = (
    "  modprobe-131     [001] d..1.  {ts}: percpu_alloc_percpu_fail: reserved=0 "
    "is_atomic=1 size=64 align=8\n"
)


def build(path: Path, lines: int) -> int:
    """Copies of the mix capture, shifted in time; returns the lines written."""
    with gzip.open(MIX, "rt") as f:
        text = f.read().splitlines(keepends=True)
    header = [ln for ln in text if ln.startswith("#")]
    body = [ln for ln in text if not ln.startswith("#")]
    last = STAMP.match(body[-1])
    assert last is not None
    span_us = int(last[2]) * 1_000_000 + int(last[3]) + 1_000_000
    written = 0
    with path.open("w") as out:
        out.writelines(header)
        written += len(header)
        copy = 0
        while written < lines:
            shift = copy * span_us
            out.write("CPU:0 [LOST 1 EVENTS]\n")
            written += 1
            for n, ln in enumerate(body):
                m = STAMP.match(ln)
                assert m is not None, ln
                us = int(m[2]) * 1_000_000 + int(m[3]) + shift
                out.write(f"{m[1]}{us // 1_000_000}.{us % 1_000_000:06d}{m[4]}")
                if n == len(body) // 2:
                    out.write(FAIL.format(ts=f"{us // 1_000_000}.{us % 1_000_000:06d}"))
                    written += 1
                written += 1
                if written >= lines:
                    break
            copy += 1
    return written


def timed(fn: Callable[[], int]) -> tuple[float, float, int]:
    """Wall and CPU seconds of fn(), its output swallowed, and its status."""
    sink = io.StringIO()
    start, cpu = time.perf_counter(), time.process_time()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        status = fn()
    return time.perf_counter() - start, time.process_time() - cpu, status


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--keep", type=Path, help="write the log and the pages here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        where = args.keep or Path(tmp)
        where.mkdir(parents=True, exist_ok=True)
        log, page = where / "long.trace", where / "long.html"
        n = build(log, args.lines)
        print(f"log: {n} lines, {log.stat().st_size / 1e6:.1f} MB")
        plain, plain_cpu, status = timed(lambda: cli_trace.main([str(log)]))
        print(f"check-trace:          {plain:6.1f} s wall, {plain_cpu:6.1f} s CPU (exit {status})")
        html, html_cpu, status = timed(lambda: cli_trace.main(["--html", str(page), str(log)]))
        print(
            f"check-trace --html:   {html:6.1f} s wall, {html_cpu:6.1f} s CPU (exit {status}), "
            f"page {page.stat().st_size / 1e6:.2f} MB; "
            f"--html adds {html_cpu - plain_cpu:.1f} s CPU"
        )
        model_page = where / "seed.html"
        seconds, cpu, status = timed(
            lambda: cli_model.main(
                [
                    "--spec",
                    "seed",
                    "--depth",
                    "6",
                    "--property",
                    "no-deadlock",
                    "--property",
                    "counter-exact",
                    "--html",
                    str(model_page),
                ]
            )
        )
        print(
            f"check-model --html (seed, no-deadlock + counter-exact, depth 6): {seconds:.1f} s "
            f"wall, {cpu:.1f} s CPU, page {model_page.stat().st_size / 1e3:.0f} kB"
        )
        print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3:.0f} MB")


if __name__ == "__main__":
    main()
