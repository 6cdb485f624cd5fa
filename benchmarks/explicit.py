"""The compiled explicit engine side by side with SPIN, in one run, on one
geometry; and its speed against the pure-Python engine on the shipped specs.

    python benchmarks/explicit.py [--spin-dir DIR] [--row NAME ...] [--skip-python]

Part 1 runs the SPIN peer (its run.sh: generate, compile and run pan,
breadth-first, every property, memory capped at 8 GB) and `check-model
--engine explicit` on v4.13 at the peer's geometry, each as a fresh process
with an empty compilation cache (so compilation is counted), and prints wall
time, states and peak memory of each.  Rows (--row, default all):

  k1          one allocation per context: SPIN `V4_13 4 1` against
              `--spec v4.13-spin`, every property, to the end of the space
  k2          two allocations per context: SPIN `V4_13 4 2`, which stops at
              its first assertion, against `--spec v4.13-spin-k2`, the
              properties the population-failure drift breaks
  k2-nodrift  two allocations per context without the drift: SPIN with
              population never failing on the allocation path
              (`-DNO_ALLOC_POP_FAIL`, its README's out-of-memory row) against
              `--spec v4.13-popfail-fix-spin-k2`, every property, to the end
              (about 40 minutes on 2 cores)

Part 2 prints states a second of the compiled and the pure-Python engine on
shipped specs at a common depth.  Needs Debian's `spin` for part 1 (skipped
with a message otherwise).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHECK_MODEL = Path(sys.executable).parent / "check-model"


@dataclass(frozen=True)
class Row:
    spin: list[str]  # run.sh's arguments
    spec: str  # ours
    props: list[str]  # --property, none: every property


ROWS = {
    "k1": Row(["V4_13", "4", "1"], "v4.13-spin", []),
    "k2": Row(
        ["V4_13", "4", "2"], "v4.13-spin-k2", ["counter-exact", "counter-nonnegative", "refill"]
    ),
    "k2-nodrift": Row(["V4_13", "4", "2", "-DNO_ALLOC_POP_FAIL"], "v4.13-popfail-fix-spin-k2", []),
}


def timed(
    cmd: list[str], env: dict[str, str] | None = None, timeout: int = 7200
) -> tuple[float, int, str]:
    """(wall seconds, peak RSS KB, stdout) of a command, via GNU time."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as t:
        start = time.monotonic()
        done = subprocess.run(
            ["/usr/bin/time", "-f", "%M", "-o", t.name, *cmd],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
        )
        wall = time.monotonic() - start
        peak = int(t.read().strip().splitlines()[-1] or 0)
    return wall, peak, done.stdout + done.stderr


def spin(spin_dir: Path, row: Row) -> str:
    if shutil.which("spin") is None:
        return "spin: not installed (Debian package spin)"
    wall, _, out = timed(["bash", str(spin_dir / "run.sh"), *row.spin])
    stored = re.search(r"([0-9e.+]+) states, stored", out)
    pan = re.search(r"wall ([0-9.]+) s, user [0-9.]+ s, peak ([0-9]+) KB", out)
    # run.sh keeps only pan's summary lines, not its "out of memory": a
    # breadth-first pan that reached its -DMEMLIM=8192 bound shows as a peak
    # at that bound with no error and the search unfinished
    full = pan is not None and int(pan.group(2)) >= 8192 * 1024 * 0.99
    verdict = (
        "out of memory (the 8 GB bound), unfinished"
        if full
        else "assertion violated"
        if "assertion violated" in out
        else "errors: 0"
        if "errors: 0" in out
        else "see output"
    )
    return (
        f"SPIN {' '.join(row.spin)}: {wall:.1f} s in all (pan alone "
        f"{pan.group(1) if pan else '?'} s), {stored.group(1) if stored else '?'} states, "
        f"peak {int(pan.group(2)) // 1024 if pan else '?'} MB, {verdict}"
    )


def ours(row: Row) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        env = {"XDG_CACHE_HOME": tmp, "PATH": "/usr/bin:/bin"}
        props = [a for p in row.props for a in ("--property", p)]
        wall, peak, out = timed(
            [
                str(CHECK_MODEL),
                "--spec",
                row.spec,
                "--engine",
                "explicit",
                "--depth",
                "1000",
                "--json",
                *props,
            ],
            env=env,
        )
    doc = json.loads(out[: out.rindex("}") + 1])
    verdicts = ", ".join(
        f"{r['property']} {r['verdict']}"
        + (f" at {r['depth']}" if r["verdict"] == "violated" else "")
        + (" (exhaustive)" if r.get("exhaustive") else "")
        for r in doc["results"]
    )
    return (
        f"check-model --spec {row.spec} --engine explicit: {wall:.1f} s in all "
        f"(compilation included), {doc.get('states')} states in {doc.get('searches')} "
        f"searches (largest {doc.get('largest_search_states')}, "
        f"{doc.get('largest_search_bytes', 0) / max(1, doc.get('largest_search_states', 1)):.1f}"
        f" bytes a state), peak {peak // 1024} MB; {verdicts}"
    )


def rates(depth: int) -> None:
    from percpu_mc.checker import specs
    from percpu_mc.checker.engines.compiled import CompiledEngine
    from percpu_mc.checker.engines.explicit import ExplicitEngine
    from percpu_mc.model.machine import Model
    from percpu_mc.model.properties import PROPERTIES

    props = list(PROPERTIES.values())
    print(
        f"\nstates a second at depth {depth} (every property; compiled without symmetry, so "
        "both store the same states; compilation excluded: the module is built first)"
    )
    for name in ("seed", "v3.18", "v4.7", "v4.13", "v5.14"):
        m = Model(specs.load(name).params)
        CompiledEngine(m, props, reduce=False).run(1)  # build and cache the module
        t = time.monotonic()
        _, cs = CompiledEngine(m, props, reduce=False).run(depth)
        tc = time.monotonic() - t
        t = time.monotonic()
        _, ps = ExplicitEngine(m, props).run(depth)
        tp = time.monotonic() - t
        print(
            f"  {name:8} {cs.states:>8} states  compiled {cs.states / tc:>10,.0f}/s  "
            f"python {ps.states / tp:>8,.0f}/s  ratio {tp / tc:,.0f}x"
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--spin-dir", type=Path, default=ROOT.parent / "shared" / "peers" / "spin")
    ap.add_argument("--row", choices=sorted(ROWS), action="append")
    ap.add_argument("--skip-python", action="store_true")
    ap.add_argument("--depth", type=int, default=8)
    args = ap.parse_args()
    for name in args.row or list(ROWS):
        print(f"[{name}]", spin(args.spin_dir, ROWS[name]), flush=True)
        print(f"[{name}]", ours(ROWS[name]), flush=True)
    if not args.skip_python:
        rates(args.depth)


if __name__ == "__main__":
    main()
