"""The compiled explicit engine side by side with SPIN, in one run, on one
geometry; and its speed against the pure-Python engine on the shipped specs.

    python benchmarks/explicit.py [--spin-dir DIR] [--skip-python]

Part 1 runs the SPIN peer (its run.sh: generate, compile and run pan,
breadth-first, every property) and `check-model --engine explicit` on
v4.13 at the peer's geometry (percpu_mc/specs/v4.13-spin.toml), with one and
with two allocations per context, each as a fresh process with an empty
compilation cache (so compilation is counted), and prints wall time, states
and peak memory of each.  Part 2 prints states a second of the compiled and
the pure-Python engine on shipped specs at a common depth.  Needs Debian's
`spin` for part 1 (skipped with a message otherwise).
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "percpu_mc" / "specs" / "v4.13-spin.toml"
CHECK_MODEL = Path(sys.executable).parent / "check-model"


def timed(cmd: list[str], env: dict[str, str] | None = None, timeout: int = 1800) -> tuple[float, int, str]:
    """(wall seconds, peak RSS KB, stdout) of a command, via GNU time."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as t:
        start = time.monotonic()
        done = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", t.name, *cmd], capture_output=True,
                              text=True, env=env, timeout=timeout)
        wall = time.monotonic() - start
        peak = int(t.read().strip().splitlines()[-1] or 0)
    return wall, peak, done.stdout + done.stderr


def spin(spin_dir: Path, k: int) -> str:
    if shutil.which("spin") is None:
        return "spin: not installed (Debian package spin)"
    wall, _, out = timed(["bash", str(spin_dir / "run.sh"), "V4_13", "4", str(k)])
    stored = re.search(r"([0-9e.+]+) states, stored", out)
    pan = re.search(r"wall ([0-9.]+) s, user [0-9.]+ s, peak ([0-9]+) KB", out)
    verdict = "out of memory" if "out of memory" in out or "pan: out" in out else \
        "errors: 0" if "errors: 0" in out else "see output"
    return (f"SPIN K={k}: {wall:.1f} s in all (pan alone {pan.group(1) if pan else '?'} s), "
            f"{stored.group(1) if stored else '?'} states, "
            f"peak {int(pan.group(2)) // 1024 if pan else '?'} MB, {verdict}")


def ours(k: int) -> str:
    text = SPEC.read_text().replace("live_per_context = 1", f"live_per_context = {k}")
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / f"v4.13-spin-k{k}.toml"
        spec.write_text(text)
        env = {"XDG_CACHE_HOME": tmp, "PATH": "/usr/bin:/bin"}
        wall, peak, out = timed([str(CHECK_MODEL), "--spec", str(spec), "--engine", "explicit",
                                 "--depth", "1000", "--json"], env=env)
    doc = json.loads(out[:out.rindex("}") + 1])
    verdicts = {r["verdict"] + (" (exhaustive)" if r.get("exhaustive") else "")
                for r in doc["results"]}
    return (f"check-model --engine explicit K={k}: {wall:.1f} s in all (compilation included), "
            f"{doc.get('states')} states, peak {peak // 1024} MB, {', '.join(sorted(verdicts))}")


def rates(depth: int) -> None:
    from percpu_mc.checker import specs
    from percpu_mc.checker.engines.compiled import CompiledEngine
    from percpu_mc.checker.engines.explicit import ExplicitEngine
    from percpu_mc.model.machine import Model
    from percpu_mc.model.properties import PROPERTIES
    props = list(PROPERTIES.values())
    print(f"\nstates a second at depth {depth} (every property; compiled without symmetry, so "
          "both store the same states; compilation excluded: the module is built first)")
    for name in ("seed", "v3.18", "v4.7", "v4.13", "v5.14"):
        m = Model(specs.load(name).params)
        CompiledEngine(m, props, reduce=False).run(1)  # build and cache the module
        t = time.monotonic()
        _, cs = CompiledEngine(m, props, reduce=False).run(depth)
        tc = time.monotonic() - t
        t = time.monotonic()
        _, ps = ExplicitEngine(m, props).run(depth)
        tp = time.monotonic() - t
        print(f"  {name:8} {cs.states:>8} states  compiled {cs.states / tc:>10,.0f}/s  "
              f"python {ps.states / tp:>8,.0f}/s  ratio {tp / tc:,.0f}x")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--spin-dir", type=Path, default=ROOT.parent / "shared" / "peers" / "spin")
    ap.add_argument("--skip-python", action="store_true")
    ap.add_argument("--depth", type=int, default=8)
    args = ap.parse_args()
    for k in (1, 2):
        print(spin(args.spin_dir, k), flush=True)
        print(ours(k), flush=True)
    if not args.skip_python:
        rates(args.depth)


if __name__ == "__main__":
    main()
