"""Dump the outputs of check-model and check-trace on the shipped specs and
sample logs, timings removed, so that a refactoring can be shown to leave
them unchanged: run it before and after, then `diff -r BEFORE AFTER`.

    python tools/outputs.py OUTDIR [--bin .venv/bin]
"""

from __future__ import annotations

import argparse
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "tests" / "trace_samples"

# (name, command): shallow enough to run in a few minutes on 2 cores.
MODEL_RUNS = [
    ("seed-d8", ["check-model", "--spec", "seed", "--depth", "8"]),
    ("seed-d6-json", ["check-model", "--spec", "seed", "--depth", "6", "--json"]),
    (
        "v4.13-d6-explicit",
        ["check-model", "--spec", "v4.13", "--depth", "6", "--engine", "explicit"],
    ),
    (
        "v4.7-cx-d6-explicit-json",
        [
            "check-model",
            "--spec",
            "v4.7",
            "--depth",
            "6",
            "--property",
            "counter-exact",
            "--engine",
            "explicit",
            "--json",
        ],
    ),
    (
        "pre-async-starve-ap",
        [
            "check-model",
            "--spec",
            "pre-async-starve",
            "--depth",
            "15",
            "--property",
            "atomic-progress",
        ],
    ),
    (
        "v4.13-kernel-order",
        [
            "check-model",
            "--spec",
            "v4.13",
            "--depth",
            "5",
            "--engine",
            "explicit",
            "--kernel-order",
        ],
    ),
]
TRACE_RUNS = [
    ("boot", ["check-trace", str(SAMPLES / "boot.trace")]),
    ("mix", ["check-trace", str(SAMPLES / "mix.trace.gz")]),
    ("mix-json", ["check-trace", "--json", str(SAMPLES / "mix.trace.gz")]),
    (
        "seed-uaf-level2",
        ["check-trace", "--spec", "seed", str(SAMPLES / "seed-no-use-after-free.trace")],
    ),
    (
        "mix-v5.14",
        ["check-trace", "--spec", "v5.14", "--unit-size", "1048576", str(SAMPLES / "mix.trace.gz")],
    ),
]

# progress lines appear only when a run takes more than a few seconds
PROGRESS = re.compile(r"^.*: depth \d+/\d+ done \(.*\)\n", re.MULTILINE)
TIMING = re.compile(
    r'("seconds": )[0-9.e+-]+|[0-9]+(\.[0-9]+)? ?(s|ms|seconds)\b'
    r"|[0-9,]+ states/s|[0-9.]+ (MB|MiB|GB)"
)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--bin", type=Path, default=ROOT / ".venv" / "bin")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, cmd in MODEL_RUNS + TRACE_RUNS:
        proc = subprocess.run(
            [str(args.bin / cmd[0]), *cmd[1:]], capture_output=True, text=True, cwd=ROOT
        )
        text = f"exit {proc.returncode}\n--- stdout\n{proc.stdout}--- stderr\n{proc.stderr}"
        (args.out / f"{name}.txt").write_text(TIMING.sub("<t>", PROGRESS.sub("", text)))
        print(name, proc.returncode, flush=True)


if __name__ == "__main__":
    main()
