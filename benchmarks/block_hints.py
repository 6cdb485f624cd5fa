"""The block-hint placement against the kernel transcription, at volume.

    .venv/bin/python benchmarks/block_hints.py [--histories N] [--seed S]

Runs N random alloc/free histories (default 10,000, split evenly over the
versions of tests/hint_histories.py) through the model and through
tests/kernel_bitmap.py, comparing every offset and every hint after every
step, and counts, per version, the histories that break each of the
hints' promises (model.block_fit.PROMISES).  Prints histories, steps, the
time taken and the promises each version keeps; exits 1 on the first
disagreement with the transcription, naming the history.
"""

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parent.parent / "tests"))

import hint_histories as t  # noqa: E402

from percpu_mc.model import bitmap_chunk as bc
from percpu_mc.model import block_fit as bf


def history(rng: random.Random) -> list:
    ops = []
    for _ in range(rng.randint(1, 40)):
        if rng.random() < 0.6:
            ops.append(("alloc", rng.randint(1, 2 * t.BLOCK_BITS), rng.randint(0, 6)))
        else:
            ops.append(("free", rng.randint(0, 1 << 16), 0))
    return ops


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--histories", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--versions", nargs="*", default=list(t.KERNELS), choices=list(t.KERNELS))
    ap.add_argument(
        "--real", action="store_true", help="at the kernel's block size (1024 or 256 bits)"
    )
    args = ap.parse_args()
    rng = random.Random(args.seed)
    names = args.versions
    steps = 0
    broken: dict[str, dict[str, int]] = {name: {} for name in names}
    start = time.perf_counter()
    for n in range(args.histories):
        name = names[n % len(names)]
        ops = history(rng)
        steps += len(ops)
        try:
            t.differential(name, ops, args.real)
        except AssertionError as error:
            print(f"{name}: history {n} {ops}: {error}")
            return 1
        seen: set[str] = set()

        def note(chunk: bc.Chunk, seen: set[str] = seen) -> None:
            seen.update(promise for promise, _ in bf.hint_violations(chunk))

        if not args.real:
            t.run_model(name, ops, note)
        for promise in seen:
            broken[name][promise] = broken[name].get(promise, 0) + 1
    took = time.perf_counter() - start
    print(
        f"{args.histories} histories ({steps} steps) over {len(names)} versions agree with "
        f"the kernel transcription: {took:.1f} s"
    )
    for name in names if not args.real else ():  # promises: at the tests' size only
        kept = [p for p in bf.PROMISES if p not in broken[name]]
        lost = ", ".join(f"{p} in {k}" for p, k in sorted(broken[name].items()))
        print(f"  {name}: keeps {', '.join(kept)}; breaks {lost or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
