"""Every repository path the code, the --help text and the docs name exists.

A path is recognised by its shape: it starts at one of the repository's
top-level folders (`checker/engines/bmc.py`, `model/`, `docs/model.md`,
`specs/inject-*.toml`, `.ci/run`; a wheel's `percpu_mc/` before it is the
same folder) and is resolved from the repository's root, globs included.
A path that moved and was not followed (a docstring still naming
`checker/<module>.py` after the module went to `checker/engines/`) fails here.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOP = ("model", "checker", "traces", "specs", "tests", "benchmarks", "docs", "tools", r"\.ci")
# Not inside a longer word, path or URL (https://host/docs/... is not ours).
PATH = re.compile(rf"(?<![\w./-])(?:percpu_mc/)?(?:{'|'.join(TOP)})/[\w.*/-]*")
CODE_DIRS = ("model", "checker", "traces", "specs", "tests", "benchmarks", "tools", ".ci")
CODE_SUFFIXES = {".py", ".c", ".j2", ".lark", ".toml", ""}
NOT_SOURCE = ("tests/lassos", "tests/trace_samples")  # data, not prose
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Documents a reader of the repository cannot open: the project's design
# notes, its kernel-facts file and its issue tracker live outside it.
OUTSIDE = re.compile(r"\bDESIGN\b(?:\.md)?|\bkernel facts\b|\b[Ii]ssues? #?\d+")


def paths_in(text: str) -> set[str]:
    """The repository paths a text names, trailing punctuation dropped."""
    return {m.group(0).rstrip(".-").removeprefix("percpu_mc/") for m in PATH.finditer(text)}


def exists(path: str) -> bool:
    return bool(list(ROOT.glob(path))) if "*" in path else (ROOT / path).exists()


def missing(sources: dict[str, str]) -> list[str]:
    """`where: path` for each named path that does not exist, and for each
    document named that is not in the repository."""
    return sorted(
        {
            *(
                f"{where}: {path}"
                for where, text in sources.items()
                for path in paths_in(text)
                if not exists(path)
            ),
            *(
                f"{where}: {m.group(0)}"
                for where, text in sources.items()
                for m in OUTSIDE.finditer(text)
            ),
        }
    )


def code_files() -> list[Path]:
    files = []
    for top in CODE_DIRS:
        for path in sorted((ROOT / top).rglob("*")):
            rel = path.relative_to(ROOT).as_posix()
            if (
                path.is_file()
                and path.suffix in CODE_SUFFIXES
                and "__pycache__" not in path.parts
                and not rel.startswith(NOT_SOURCE)
            ):
                files.append(path)
    return [*files, ROOT / "pyproject.toml"]


def help_text(command: str) -> str:
    """`command --help` unwrapped (argparse would break a path at its hyphens)."""
    done = subprocess.run(
        [str(Path(sys.executable).parent / command), "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "10000"},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_paths_named_in_code_exist() -> None:
    files = code_files()
    assert ROOT / "checker" / "engines" / "bmc.py" in files  # the walk reaches the engines
    sources = {f.relative_to(ROOT).as_posix(): f.read_text() for f in files}
    found = missing(sources)
    assert not found, "named but not in the repository:\n" + "\n".join(found)


@pytest.mark.parametrize("command", ["check-model", "check-trace"])
def test_paths_named_in_help_exist(command: str) -> None:
    text = help_text(command)
    assert paths_in(text), f"{command} --help names no path: nothing was checked"
    found = missing({f"{command} --help": text})
    assert not found, "named but not in the repository:\n" + "\n".join(found)


def test_paths_named_in_docs_exist() -> None:
    found = missing({d.relative_to(ROOT).as_posix(): d.read_text() for d in DOCS})
    assert not found, "named but not in the repository:\n" + "\n".join(found)


def test_a_missing_path_is_found() -> None:
    """The check fails on a made-up path of each shape and on a document
    outside the repository (built here, so that this file's own text names
    none of them), and passes on real paths."""
    made_up = [
        "DESI" + "GN.md",
        "kernel" + " facts",
        "issue" + " 15",
        "checker" + "/symbolic.py",
        "checker/engines" + "/no_such_engine.py",
        "docs" + "/no-such-page.md",
        "specs" + "/no-such-*.toml",
        "percpu_mc" + "/model/no_such.py",
    ]
    text = "\n".join(f"see {p}, and `{p}`." for p in made_up)
    found = missing({"made-up": text})
    assert found == sorted(f"made-up: {p.removeprefix('percpu_mc/')}" for p in made_up)
    real = "checker/engines/bmc.py, specs/inject-*.toml, `docs/model.md`, .ci/run and model/."
    assert paths_in(real) == {
        "checker/engines/bmc.py",
        "specs/inject-*.toml",
        "docs/model.md",
        ".ci/run",
        "model/",
    }
    assert missing({"real": real}) == []
    # not ours: a URL's path, a relative output directory
    assert paths_in("https://apalache-mc.org/docs/adr/015adr-trace.html, logs/x.trace") == set()
