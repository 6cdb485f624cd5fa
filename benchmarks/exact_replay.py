"""How fast the exact replay reads the real captures, beside level 1 and a
plain-`re` floor, in one run.

    .venv/bin/python benchmarks/exact_replay.py [CAPTURE ...] [--unit-size BYTES]
    .venv/bin/python benchmarks/exact_replay.py --generate LINES

For each capture (default: tests/trace_samples/boot.trace and mix.trace.gz)
prints lines per second for
  floor             a plain `re` split of each line into prefix and fields
  parse+level1      the parser feeding the level-1 checker
  parse+level1+exact  the same records also fed to the exact replay
and the exact replay's own counts (predicted, not decided, findings).
With --generate, the capture is a log of LINES lines written by the
model's own placement at real scale (model.block_hints, v6.1): three chunks
of 1 MiB units created by a kworker, then allocations placed by
pcpu_find_block_fit() + pcpu_alloc_area() and frees, in the format of
mix.trace.gz; the replay must predict every allocation.
Rates are of CPU time, which a loaded machine inflates less than wall time.
"""

import argparse
import random
import re
import sys
import tempfile
import time
from pathlib import Path

from percpu_mc.checker.logs.exact import ExactReplay, infer_unit_size
from percpu_mc.checker.logs.trace_check import TraceChecker
from percpu_mc.model import bitmap_chunk as bc
from percpu_mc.model import block_fit as bf
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


def generate(path: Path, lines: int, seed: int = 1) -> None:
    """A log whose every allocation is where v6.1's placement puts it."""
    rng = random.Random(seed)
    unit = 1 << 20
    chunks = {b: bc.pcpu_alloc_chunk(bc.V6_1, unit // 4) for b in BASES}
    live: list[tuple[int, int]] = []
    ts = 1_000_000
    with path.open("w") as out:
        out.write(HEADER.format(n=lines))
        for base in BASES:
            out.write(
                f"     kworker/1:1-35      [001] .....     0.900000: percpu_create_chunk: base_addr={base:016x}\n"
            )
        for _ in range(lines - 6 - len(BASES)):
            ts += rng.randint(1, 40)
            head = f"{'modprobe-131':>20} [{rng.randint(0, 1):03d}] ..... {ts // 1_000_000:5d}.{ts % 1_000_000:06d}: "
            if rng.random() < 0.52 or len(live) < 3000:
                size = rng.choice(SIZES)
                align = min(1 << rng.randint(2, 6), size if size & (size - 1) == 0 else 8)
                for base in BASES:  # the first chunk that fits, as pcpu_alloc's slot scan would
                    bit = bf.place(chunks[base], size // 4, align // 4)
                    if bit >= 0:
                        break
                else:
                    continue
                off = bit * 4
                live.append((base, off))
                out.write(
                    head + f"percpu_alloc_percpu: call_site=alloc_desc+0x50/0x250 reserved=0 "
                    f"is_atomic=0 size={size} align={align} base_addr={base:016x} off={off} "
                    f"ptr={base + off - PTR_DELTA:016x} bytes_alloc={size * 4} gfp_flags=GFP_KERNEL\n"
                )
            else:
                base, off = live.pop(rng.randrange(len(live)))
                bf.pcpu_free_area(chunks[base], off // 4)
                out.write(
                    head + f"percpu_free_percpu: base_addr={base:016x} off={off} "
                    f"ptr={base + off - PTR_DELTA:016x}\n"
                )


def timed(run, *args):  # noqa: ANN001, ANN202
    """run(*args), its wall and CPU seconds: the machine may be shared."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = run(*args)
    return out, (time.perf_counter() - wall, time.process_time() - cpu)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "captures", nargs="*", default=[str(SAMPLES / n) for n in ("boot.trace", "mix.trace.gz")]
    )
    ap.add_argument("--unit-size", type=int, default=None)
    ap.add_argument("--generate", type=int, metavar="LINES", help="replay a generated log")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        if args.generate:
            log = Path(directory) / "generated.trace"
            start = time.perf_counter()
            generate(log, args.generate)
            print(f"generated {args.generate} lines in {time.perf_counter() - start:.1f} s")
            args.captures = [str(log)]
            args.unit_size = 1 << 20
        return measure(args.captures, args.unit_size)


def measure(captures: list[str], unit_size: int | None) -> int:
    for path in captures:
        unit = unit_size
        if unit is None:
            with open_log(path) as f:
                unit, note = infer_unit_size(list(LogParser().records(f)))
            print(f"{path}: {note}")
        n, t_floor = timed(floor, path)
        _, t_l1 = timed(level1, path, None)
        replay, t_exact = timed(level1, path, unit)
        assert replay is not None
        r = replay.result
        print(f"{path}: {n} lines")
        for name, (wall, cpu) in (
            ("floor", t_floor),
            ("parse+level1", t_l1),
            ("parse+level1+exact", t_exact),
        ):
            print(f"  {name:20} {n / cpu:>9,.0f} lines/s of CPU ({cpu:.2f} s; wall {wall:.2f} s)")
        undecided = {k: len(v) for k, v in r.not_decided.items()}
        print(
            f"  exact: {len(r.checked)} placements predicted, not decided {undecided}, "
            f"{len(r.findings)} findings"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
