"""Dump the outputs of check-model and check-trace, every command and option
family, on the shipped specs and sample logs, timings removed, so that a
refactoring can be shown to leave them unchanged: run it before and after,
then `diff -r BEFORE AFTER`.

    python tools/outputs.py OUTDIR [--bin .venv/bin]

(--every-geometry is left out: its conformance check alone takes minutes.)
Each run is one file OUTDIR/NAME.txt: its exit status, stdout, stderr and
the files it wrote (--html, --itf, --emit-log), with OUTDIR written as
<out> so that two dumps compare. The runs are shallow: the whole dump takes
a few minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = "tests/trace_samples"  # relative to ROOT, the runs' directory
BOOT = f"{SAMPLES}/boot.trace"
MIX = f"{SAMPLES}/mix.trace.gz"
UAF = f"{SAMPLES}/seed-no-use-after-free.trace"
FILES = "{files}"  # in a command: the run's own directory for what it writes


@dataclass(frozen=True)
class Run:
    name: str
    cmd: list[str]
    stdin: str | None = None  # a file under ROOT fed on standard input


def model(name: str, *args: str) -> Run:
    return Run(name, ["check-model", *args])


def trace(name: str, *args: str, stdin: str | None = None) -> Run:
    return Run(name, ["check-trace", *args], stdin)


RUNS = [
    # usage
    model("model-help", "--help"),
    trace("trace-help", "--help"),
    model("model-version", "--version"),
    # one check, its engines and switches
    model("seed-d8", "--spec", "seed", "--depth", "8"),
    model("seed-d6-json", "--spec", "seed", "--depth", "6", "--json"),
    model("v4.13-d6-explicit", "--spec", "v4.13", "--depth", "6", "--engine", "explicit"),
    model(
        "v4.7-cx-d6-explicit-json",
        *("--spec", "v4.7", "--depth", "6", "--property", "counter-exact"),
        *("--engine", "explicit", "--json"),
    ),
    model(
        "seed-d5-explicit-python",
        *("--spec", "seed", "--depth", "5", "--engine", "explicit-python"),
    ),
    model(
        "v4.13-d6-explicit-no-symmetry-split",
        *("--spec", "v4.13", "--depth", "6", "--engine", "explicit", "--no-symmetry", "--split"),
    ),
    model(
        "v4.13-d6-bmc-no-lemmas",
        *("--spec", "v4.13", "--depth", "6", "--engine", "bmc", "--no-lemmas"),
    ),
    model(
        "pre-async-starve-ap",
        *("--spec", "pre-async-starve", "--depth", "15", "--property", "atomic-progress"),
    ),
    model(
        "v4.13-kernel-order",
        *("--spec", "v4.13", "--depth", "5", "--engine", "explicit", "--kernel-order"),
    ),
    model(
        "seed-nd-map-vacuity",
        *("--spec", "seed", "--depth", "4", "--property", "no-deadlock", "--map"),
        "--fail-on-vacuity",
    ),
    model(
        "specfile-v4.7-cx",
        *("--spec", "specs/v4.7.toml", "--depth", "5", "--property", "counter-exact"),
    ),
    model(
        "seed-d4-coverage",
        *("--spec", "seed", "--depth", "4", "--engine", "explicit", "--coverage"),
    ),
    model(
        "v4.13-d5-fail-on-unreached",
        *("--spec", "v4.13", "--depth", "5", "--engine", "explicit", "--fail-on-unreached"),
        *("--property", "no-deadlock"),
    ),
    # what a check writes
    model(
        "seed-html-itf",
        *("--spec", "seed", "--depth", "10", "--engine", "explicit"),
        *("--property", "counter-exact", "--property", "no-deadlock"),
        *("--html", f"{FILES}/page.html", "--itf", f"{FILES}/cex.itf.json"),
    ),
    model(
        "seed-emit-log",
        *("--spec", "seed", "--property", "no-deadlock", "--depth", "4"),
        *("--emit-log", f"{FILES}/logs"),
    ),
    model(
        "seed-simulate",
        *("--spec", "seed", "--simulate", "30", "--seed", "3", "--emit-log", f"{FILES}/logs"),
    ),
    # proofs and lassos
    model(
        "v4.13-one-chunk-prove",
        *("--spec", "v4.13-one-chunk", "--prove", "--max-k", "1", "--property", "no-deadlock"),
    ),
    model(
        "pre-async-starve-lasso-bmc",
        *("--spec", "pre-async-starve", "--starvation", "1", "--depth", "8"),
    ),
    model(
        "pre-async-starve-lasso-explicit-json",
        *("--spec", "pre-async-starve", "--starvation", "1", "--engine", "explicit"),
        *("--limit", "2000", "--json"),
    ),
    # sweeps
    model(
        "sweep",
        *("--sweep", "--spec", "seed,v4.13", "--param", "PCPU_EMPTY_POP_PAGES_HIGH=1..2"),
        *("--property", "no-deadlock", "--depth", "3", "--workers", "1"),
    ),
    model(
        "sweep-json",
        *("--sweep", "--spec", "seed", "--param", "sizes=1|1,2", "--property", "no-deadlock"),
        *("--depth", "3", "--workers", "1", "--json"),
    ),
    model("mutants-bmc-d3", "--mutants", "--engines", "bmc", "--depth", "3", "--workers", "1"),
    # bad input: one message, exit 2
    model("model-bad-spec", "--spec", "no-such-spec"),
    model("model-bad-depth", "--depth", "0"),
    model("model-bad-property", "--property", "no-such-property"),
    model("model-bad-param", "--sweep", "--param", "no_such_param=1..2"),
    # check-trace
    trace("boot", BOOT),
    trace("boot-strict-stdin", "--strict", "-", stdin=BOOT),
    trace("mix", MIX),
    trace("mix-json", "--json", MIX),
    trace("mix-partial-window", "--partial", "--window-us", "10", MIX),
    trace("boot-html", "--html", f"{FILES}/page.html", BOOT),
    trace("seed-uaf-level2", "--spec", "seed", UAF),
    trace("seed-uaf-level2-json", "--spec", "seed", "--json", UAF),
    trace("mix-v5.14", "--spec", "v5.14", "--unit-size", "1048576", MIX),
    trace("mix-v4.13", "--spec", "v4.13", MIX),
    trace("mix-v6.1", "--spec", "v6.1", MIX),
    trace("trace-missing", "no-such-file.trace"),
    trace("trace-directory", SAMPLES),
]

# progress lines appear only when a run takes more than a few seconds
PROGRESS = re.compile(r"^.*: (depth \d+/\d+ done|no lasso of \d+ steps) \(.*\)\n", re.MULTILINE)
TIMING = re.compile(
    r'("seconds": )[0-9.e+-]+|[0-9]+(\.[0-9]+)? ?(s|ms|seconds)\b'
    r"|[0-9,]+ states/s|[0-9.]+ (MB|MiB|GB)"
    r"|(?<= )[0-9]+\.[0-9]+(?= │$)",  # a sweep table's seconds column
    re.MULTILINE,
)


def written(files: Path) -> str:
    """The files a run wrote, each under its name."""
    parts = []
    for path in sorted(p for p in files.rglob("*") if p.is_file()):
        parts.append(f"--- file {path.relative_to(files)}\n{path.read_text(errors='replace')}")
    return "".join(parts)


def dump(run: Run, bindir: Path, out: Path) -> int:
    files = out / "files" / run.name
    shutil.rmtree(files, ignore_errors=True)
    files.mkdir(parents=True)
    cmd = [str(bindir / run.cmd[0]), *(a.replace(FILES, str(files)) for a in run.cmd[1:])]
    feed = {"input": (ROOT / run.stdin).read_text()} if run.stdin else {"stdin": subprocess.DEVNULL}
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, **feed)
    text = (
        f"$ {' '.join(run.cmd)}\nexit {proc.returncode}\n"
        f"--- stdout\n{proc.stdout}--- stderr\n{proc.stderr}{written(files)}"
    )
    text = text.replace(str(files), "<out>")
    (out / f"{run.name}.txt").write_text(TIMING.sub("<t>", PROGRESS.sub("", text)))
    shutil.rmtree(files)
    return proc.returncode


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--bin", type=Path, default=ROOT / ".venv" / "bin")
    ap.add_argument("--only", default=None, help="a regular expression: the runs it names")
    args = ap.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    for run in RUNS:
        if args.only is None or re.search(args.only, run.name):
            print(run.name, dump(run, args.bin.resolve(), out), flush=True)
    shutil.rmtree(out / "files", ignore_errors=True)


if __name__ == "__main__":
    main()
