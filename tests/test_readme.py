"""The README and docs/ as documentation that runs: every `check-model` and
`check-trace` command of their fenced `sh` and `console` blocks is run as
written, from a copy of the repository's root, and the verdict lines an
example shows must be what the command prints.

A block preceded by `<!-- test: --depth N -->` is run at depth N instead of
its own (a command without `--depth` gets one), for examples too slow for a
test; its exit status must still be 0 or 1 (never 2, which is bad input).
Synopses go in `text` blocks, which are not run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
COMMAND = re.compile(r"^(\$ )?(check-model|check-trace)\b")
DEPTH_MARK = re.compile(r"^<!-- test: --depth (\d+) -->$")
# What a verdict looks like in check-model's and check-trace's output.
VERDICT = re.compile(
    r"^(?:[a-z-]+ +(?:violated at depth \d+|holds up to depth \d+|"
    r"holds \(every reachable state checked\)|proved \(k = \d+\))"
    r"|verdict: [a-z]+|line \d+: [a-z-]+:)"
)


# The first line of check-model's report, up to its time.
HEADER = re.compile(r"^spec \S+, engine \S+, depth \d+")


@dataclass
class Example:
    """One command of a fenced block, with the output the doc shows for it."""

    where: str  # file:line
    command: str
    shown: list[str] = field(default_factory=list)
    depth: int | None = None  # run at this depth instead (a slow example)

    def verdicts(self) -> list[str]:
        """The shown verdict lines, whitespace-normalised."""
        found = (VERDICT.match(" ".join(line.split())) for line in self.shown)
        return [m.group(0) for m in found if m]

    def expected_status(self) -> set[int]:
        """The exit status the shown output implies (0 or 1 when it shows none)."""
        verdicts = self.verdicts()
        if self.depth is not None or not verdicts:
            return {0, 1}
        bad = any(
            "violated" in v or v == "verdict: violations" or v.startswith("line ") for v in verdicts
        )
        return {1} if bad else {0}

    def runnable(self) -> str:
        if self.depth is None:
            return self.command
        if "--depth" in self.command:
            return re.sub(r"--depth \d+", f"--depth {self.depth}", self.command)
        return f"{self.command} --depth {self.depth}"


def fenced_blocks(path: Path) -> list[tuple[int, str, list[str], int | None]]:
    """(first line number, language, lines, depth mark) of each fenced block."""
    blocks: list[tuple[int, str, list[str], int | None]] = []
    lines = path.read_text().splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith("```"):
            lang = lines[i][3:].strip()
            mark = DEPTH_MARK.match(lines[i - 1]) if i > 0 else None
            start, i = i + 1, i + 1
            while not lines[i].startswith("```"):
                i += 1
            blocks.append((start + 1, lang, lines[start:i], int(mark.group(1)) if mark else None))
        i += 1
    return blocks


def examples(path: Path) -> list[Example]:
    """The commands of a doc's `sh` and `console` blocks, in order."""
    found: list[Example] = []
    for start, lang, lines, depth in fenced_blocks(path):
        if lang not in ("sh", "console"):
            continue
        current: Example | None = None  # the command the output lines belong to
        j = 0
        while j < len(lines):
            line = lines[j]
            j += 1
            if lang == "console" and not line.startswith("$ "):
                if current is not None:
                    current.shown.append(line)
                continue
            current = None
            if not COMMAND.match(line):
                continue
            text = line.removeprefix("$ ").split("  #")[0].rstrip()
            while text.endswith("\\"):  # continuation lines
                text = text[:-1] + " " + lines[j].strip()
                j += 1
            current = Example(f"{path.name}:{start + j - 1}", text, depth=depth)
            found.append(current)
    return found


def run(example: Example, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(
        ["bash", "-c", example.runnable()],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_examples_run_as_written(doc: Path, tmp_path: Path) -> None:
    """Each example exits as documented and prints the verdicts it shows.
    The commands run in a directory whose entries link to the repository's
    root, so paths relative to the root work and what an example writes
    (pages, logs) lands in the test's own directory, in order."""
    for entry in ROOT.iterdir():
        if entry.name != ".git":
            (tmp_path / entry.name).symlink_to(entry)
    for example in examples(doc):
        done = run(example, tmp_path)
        output = [" ".join(line.split()) for line in (done.stdout + done.stderr).splitlines()]
        assert done.returncode in example.expected_status(), (
            f"{example.where}: `{example.runnable()}` exited {done.returncode}\n{done.stderr[-2000:]}"
        )
        if example.depth is None:
            # the header a sample shows is the one printed: engine and depth
            for head in (HEADER.match(line) for line in example.shown):
                assert head is None or any(ln.startswith(head[0]) for ln in output), (
                    f"{example.where}: `{example.command}` does not print {head[0]!r}:\n"
                    + "\n".join(output[:3])
                )
            for verdict in example.verdicts():
                assert any(line.startswith(verdict) for line in output), (
                    f"{example.where}: `{example.command}` does not print {verdict!r}:\n"
                    + "\n".join(output[:40])
                )


def test_readme_shows_both_commands_with_their_verdicts() -> None:
    """The README's two examples are there, each with the verdict it shows
    (the extraction above would otherwise pass by finding nothing)."""
    shown = {e.command.split()[0]: e.verdicts() for e in examples(ROOT / "README.md")}
    assert shown.get("check-model") == ["no-deadlock violated at depth 2"]
    assert shown.get("check-trace") == ["verdict: clean"]


def test_readme_is_short_and_opens_with_the_two_commands() -> None:
    """At most 200 lines; its first fenced block is the install-and-check
    command and the test command, which .ci/run executes (line 2)."""
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 200
    _, lang, lines, _ = fenced_blocks(ROOT / "README.md")[0]
    assert (lang, lines) == (
        "sh",
        [
            "python3 -m venv .venv && .venv/bin/pip install -q -e . && .venv/bin/check-model --depth 13",
            "python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]' && .venv/bin/ruff check"
            " . && .venv/bin/ruff format --check . && .venv/bin/pytest -q -n 2",
        ],
    )


def anchors(path: Path) -> set[str]:
    """GitHub's anchors of a Markdown file's headings."""
    heads = (
        line.lstrip("#").strip()
        for line in path.read_text().splitlines()
        if line.startswith("#") and not line.startswith("#!")
    )
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in heads}


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_links_and_paths_stay_in_the_repository(doc: Path) -> None:
    """Every relative link names a file (and heading) of the repository, and
    every repository path in backquotes exists: no reference outside it."""
    text = doc.read_text()
    assert "/work/" not in text and "../" not in text
    prose = re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)
    for target in re.findall(r"\]\(([^)\s]+)\)", prose):
        if re.match(r"[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        linked = (doc.parent / file).resolve() if file else doc
        assert linked.is_file() and ROOT in linked.parents, f"{doc.name}: broken link {target}"
        if anchor:
            assert anchor in anchors(linked), f"{doc.name}: no heading for {target}"
    for path in re.findall(r"`((?:percpu_mc|tests|benchmarks|docs|tools)/[^`\s]*)`", text):
        assert list(ROOT.glob(path)), f"{doc.name}: {path} does not exist"


def test_readme_names_the_compiler_and_every_exit_verdict() -> None:
    """The compiled search needs a C compiler: the README says so; its exit
    table names every verdict check-trace exits with."""
    from percpu_mc.checker.cli.check_trace import EXIT_STATUS

    text = (ROOT / "README.md").read_text()
    install = text.split("## Install")[1].split("\n## ")[0]
    assert "C compiler" in install and "gcc" in install
    table = text.split("## Exit status")[1].split("\n## ")[0]
    for verdict in EXIT_STATUS:
        assert f"`{verdict}`" in table, verdict
