"""The wheel as a user gets it: built from the checkout, installed in a fresh
virtual environment, run from a directory outside the clone.  The specs,
the grammar and the C search ship inside the one package `percpu_mc` and are
found through importlib.resources; nothing is read from the checkout.

The dependencies (z3-solver, lark, ...) are the test environment's, put on
the fresh environment's path, so the test needs no network; the wheel
itself is installed with --no-deps.  It runs in CI with the rest of the
suite (under a minute: a build, an install, five commands)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import zipfile
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIP = shutil.ignore_patterns(
    ".git", ".venv", "build", "*.egg-info", "__pycache__", ".hypothesis", ".pytest_cache", "tests"
)


def run(argv: list[str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def test_wheel_installed_elsewhere_runs(tmp_path: Path) -> None:
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=SKIP)
    built = run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "-w",
            str(tmp_path / "dist"),
            str(source),
        ],
        tmp_path,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("percpu_mc-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {
        "percpu_mc",
        wheel.name.split("-py3")[0] + ".dist-info",
    }, "one top-level package"
    assert "percpu_mc/specs/v4.13.toml" in names and "percpu_mc/specs/seed.toml" in names

    venv = tmp_path / "venv"
    assert run([sys.executable, "-m", "venv", str(venv)], tmp_path).returncode == 0
    python = venv / "bin" / "python"
    site = Path(
        run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            tmp_path,
        ).stdout.strip()
    )
    # the test environment's dependencies, after the fresh site-packages (a
    # plain path: the editable install's finder there is not loaded)
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    installed = run([str(python), "-m", "pip", "install", "-q", "--no-deps", str(wheel)], tmp_path)
    assert installed.returncode == 0, installed.stderr

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    bin_ = venv / "bin"
    where = run([str(python), "-c", "import percpu_mc; print(percpu_mc.__file__)"], elsewhere)
    assert where.stdout.startswith(str(site)), where.stdout + where.stderr

    version = run([str(bin_ / "check-model"), "--version"], elsewhere)
    assert version.stdout == f"check-model {metadata.version('percpu-mc')}\n", version.stderr

    # a mutant of --mutants, found by name: its deadlock is two steps deep
    mutant = run(
        [
            str(bin_ / "check-model"),
            "--spec",
            "inject-extend-fail-keeps-mutex",
            "--depth",
            "3",
            "--engine",
            "bmc",
            "--property",
            "no-deadlock",
            "--no-map",
        ],
        elsewhere,
    )
    assert mutant.returncode == 1 and "no-deadlock          violated at depth 3" in mutant.stdout

    model = run(
        [str(bin_ / "check-model"), "--spec", "v4.13", "--depth", "3", "--no-map"], elsewhere
    )
    assert model.returncode == 0, model.stdout + model.stderr
    assert model.stdout.startswith("spec v4.13, engine portfolio, depth 3")
    assert "no-use-after-free    holds up to depth 3" in model.stdout

    trace = run(
        [
            str(bin_ / "check-trace"),
            "--spec",
            "v5.14",
            str(ROOT / "tests" / "trace_samples" / "boot.trace"),
        ],
        elsewhere,
    )
    assert trace.returncode == 0, trace.stdout + trace.stderr
    assert trace.stdout.rstrip().endswith("verdict: clean")
    assert "conformance (v5.14)" in trace.stdout
    assert sorted(p.name for p in elsewhere.iterdir()) == []  # nothing written where it ran
