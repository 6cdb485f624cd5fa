"""How fast check-trace reads a long log, against a plain-`re` floor.

    .venv/bin/python benchmarks/trace.py [--lines N] [--repeated-only]

Generates a realistic log of N lines (default 1,000,000) in the format of
the shipped Debian 6.1 capture (`trace` file, v5.19+ fields, raw pointers,
two CPUs, an allocator churning areas of two chunks, a few other events),
then reports lines per second for
  floor        a plain `re` split of each line into prefix and fields
  parse        the Lark parser producing typed events
  parse+check  the same plus the level-1 checker
and the peak traced memory of parse+check on a tenth of the log and on the
whole of it: the two should be about the same (memory flat in log length).
Then the same log with one line in a hundred repeated at once (a double free
or an overlap on the same area, as a broken kernel prints them), checked at
its distinct timestamps and with every line at one timestamp (a coarse
clock): the two should take about the same time (level 1 linear whatever
the timestamps).
"""

import argparse
import random
import re
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from percpu_mc.checker.logs.trace_check import check_log
from percpu_mc.traces.input import open_log
from percpu_mc.traces.parser import LogParser

HEADER = """\
# tracer: nop
#
# entries-in-buffer/entries-written: {n}/{n}   #P:2
#
#                                _-----=> irqs-off/BH-disabled
#                               / _----=> need-resched
#                              | / _---=> hardirq/softirq
#                              || / _--=> preempt-depth
#                              ||| / _-=> migrate-disable
#                              |||| /     delay
#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION
#              | |         |   |||||     |         |
"""
FIRST_CHUNK = 0xFFFF8CABFDC37000
CHUNK = 0xFFFFEF47BFC00000
PTR_DELTA = 0xFFFF8CABFDC00000
TASKS = ["<idle>-0", "kworker/0:2-139", "systemd-udevd-98", "modprobe-131", "ip-402"]

# The floor: what any reader of these lines must at least do.
LINE = re.compile(r"\s*(.+?)-(\d+)\s+\[(\d+)\]\s+(\S+)\s+([\d.]+): (\S+): (.*)")


def generate(
    path: Path, lines: int, seed: int = 1, repeat: float = 0.0, one_timestamp: bool = False
) -> None:
    """A log of a correct allocator: first-fit-free areas in two chunks,
    each freed after a while; live areas stay a few thousand. `repeat`: the
    share of percpu lines written twice (each copy a finding);
    `one_timestamp`: every line stamped 1.000000."""
    rng = random.Random(seed)
    live: list[tuple[int, int]] = []  # (base, off), oldest first
    next_off = {FIRST_CHUNK: 2208, CHUNK: 0}
    reuse: dict[int, list[int]] = {FIRST_CHUNK: [], CHUNK: []}
    ts = 1_000_000
    with path.open("w") as out:
        out.write(HEADER.format(n=lines))
        out.write(
            f"     kworker/1:1-35      [001] .....     0.900000: percpu_create_chunk: "
            f"base_addr={CHUNK:016x}\n"
        )
        for _ in range(lines - 13):
            ts += rng.randint(1, 40)
            cpu = rng.randint(0, 1)
            task = rng.choice(TASKS)
            stamp = 1_000_000 if one_timestamp else ts
            head = f"{task:>20} [{cpu:03d}] d..1. {stamp // 1_000_000:5d}.{stamp % 1_000_000:06d}: "
            copies = 2 if repeat and rng.random() < repeat else 1
            roll = rng.random()
            if roll < 0.05:
                out.write(head + "sched_wakeup: comm=ip pid=402 prio=120 target_cpu=001\n")
            elif roll < 0.52 or len(live) < 2000:
                base = rng.choice((FIRST_CHUNK, CHUNK))
                off = reuse[base].pop() if reuse[base] else next_off[base]
                if off == next_off[base]:
                    next_off[base] += 16
                live.append((base, off))
                out.write(
                    copies
                    * (
                        head + f"percpu_alloc_percpu: call_site=alloc_desc+0x50/0x250 "
                        f"reserved=0 is_atomic=0 size=16 align=8 base_addr={base:016x} "
                        f"off={off} ptr={base + off - PTR_DELTA:016x} bytes_alloc=64 "
                        "gfp_flags=GFP_KERNEL\n"
                    )
                )
            else:
                base, off = live.pop(rng.randrange(len(live) // 2))
                reuse[base].append(off)
                out.write(
                    copies
                    * (
                        head + f"percpu_free_percpu: base_addr={base:016x} off={off} "
                        f"ptr={base + off - PTR_DELTA:016x}\n"
                    )
                )


def floor(path: Path) -> None:
    with open_log(str(path)) as lines:
        for line in lines:
            if match := LINE.match(line):
                dict(field.split("=", 1) for field in match.group(7).split() if "=" in field)


def parse_only(path: Path) -> None:
    with open_log(str(path)) as lines:
        for _ in LogParser().records(lines):
            pass


def parse_and_check(path: Path) -> None:
    with open_log(str(path)) as lines:
        report = check_log(LogParser().records(lines))
    assert not report.violations and not report.parse_errors, report.violations[:3]


def check_all(path: Path) -> None:
    """parse+check of a log with findings: how many does not matter here."""
    with open_log(str(path)) as lines:
        report = check_log(LogParser().records(lines))
    assert report.violations and not report.parse_errors


def timed(run: Callable[[Path], None], path: Path) -> float:
    start = time.perf_counter()
    run(path)
    return time.perf_counter() - start


def peak_memory(run: Callable[[Path], None], path: Path) -> int:
    tracemalloc.start()
    run(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def head(path: Path, lines: int, target: Path) -> None:
    with path.open() as source, target.open("w") as out:
        for _, line in zip(range(lines), source):
            out.write(line)


def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--lines", type=int, default=1_000_000)
    arguments.add_argument(
        "--repeated-only", action="store_true", help="only the rows with repeated lines"
    )
    options = arguments.parse_args()
    lines = options.lines
    with tempfile.TemporaryDirectory() as directory:
        log, tenth = Path(directory) / "log", Path(directory) / "tenth"
        LogParser()  # builds the grammar cache, which later runs load
        if not options.repeated_only:
            generate(log, lines)
            head(log, lines // 10, tenth)
            seconds = {
                name: timed(run, log)
                for name, run in [
                    ("floor", floor),
                    ("parse", parse_only),
                    ("parse+check", parse_and_check),
                ]
            }
            for name, spent in seconds.items():
                print(f"{name:<12} {lines / spent:>10,.0f} lines/s  ({spent:.1f} s)")
            print(f"parse+check / floor: {seconds['parse+check'] / seconds['floor']:.1f}x")
            for name, path, count in [("tenth", tenth, lines // 10), ("whole", log, lines)]:
                print(
                    f"peak memory, parse+check, {count:>9,} lines: "
                    f"{peak_memory(parse_and_check, path) / 2**20:.1f} MiB"
                )
        repeated, one_time = Path(directory) / "repeated", Path(directory) / "one-timestamp"
        generate(repeated, lines, repeat=0.01)
        generate(one_time, lines, repeat=0.01, one_timestamp=True)
        for name, path in [("distinct timestamps", repeated), ("one timestamp", one_time)]:
            spent = timed(check_all, path)
            print(
                f"1% lines repeated, {name:<19} {lines / spent:>10,.0f} lines/s  ({spent:.1f} s)"
                f", peak {peak_memory(check_all, path) / 2**20:.1f} MiB"
            )


if __name__ == "__main__":
    main()
