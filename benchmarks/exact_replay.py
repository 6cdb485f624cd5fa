"""How fast the exact replay reads the real captures, beside level 1 and a
plain-`re` floor, in one run.

    .venv/bin/python benchmarks/exact_replay.py [CAPTURE ...] [--unit-size BYTES]

For each capture (default: tests/trace_samples/boot.trace and mix.trace.gz)
prints lines per second for
  floor             a plain `re` split of each line into prefix and fields
  parse+level1      the parser feeding the level-1 checker
  parse+level1+exact  the same records also fed to the exact replay
and the exact replay's own counts (predicted, not decided, findings).
"""

import argparse
import re
import sys
import time
from pathlib import Path

from percpu_mc.checker.logs.exact import ExactReplay, infer_unit_size
from percpu_mc.checker.logs.trace_check import TraceChecker
from percpu_mc.traces.input import open_log
from percpu_mc.traces.parser import LogParser

LINE = re.compile(r"\s*(.+?)-(\d+)\s+\[(\d+)\]\s+(\S+)\s+([\d.]+): (\S+): (.*)")
SAMPLES = Path(__file__).resolve().parent.parent / "tests" / "trace_samples"


def floor(path: str) -> int:
    n = 0
    with open_log(path) as lines:
        for line in lines:
            n += 1
            if match := LINE.match(line):
                dict(field.split("=", 1) for field in match.group(7).split() if "=" in field)
    return n


def level1(path: str, unit: int | None) -> ExactReplay | None:
    checker = TraceChecker(False)
    replay = ExactReplay(unit) if unit else None
    with open_log(path) as lines:
        for record in LogParser().records(lines):
            checker.feed(record)
            if replay is not None:
                replay.feed(record)
    checker.finish()
    return replay


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "captures", nargs="*", default=[str(SAMPLES / n) for n in ("boot.trace", "mix.trace.gz")]
    )
    ap.add_argument("--unit-size", type=int, default=None)
    args = ap.parse_args()
    for path in args.captures:
        unit = args.unit_size
        if unit is None:
            with open_log(path) as f:
                unit, note = infer_unit_size(list(LogParser().records(f)))
            print(f"{path}: {note}")
        start = time.perf_counter()
        n = floor(path)
        t_floor = time.perf_counter() - start
        start = time.perf_counter()
        level1(path, None)
        t_l1 = time.perf_counter() - start
        start = time.perf_counter()
        replay = level1(path, unit)
        t_exact = time.perf_counter() - start
        assert replay is not None
        r = replay.result
        print(f"{path}: {n} lines")
        for name, t in (
            ("floor", t_floor),
            ("parse+level1", t_l1),
            ("parse+level1+exact", t_exact),
        ):
            print(f"  {name:20} {n / t:>10,.0f} lines/s  ({t:.2f} s)")
        undecided = {k: len(v) for k, v in r.not_decided.items()}
        print(
            f"  exact: {len(r.checked)} placements predicted, not decided {undecided}, "
            f"{len(r.findings)} findings"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
