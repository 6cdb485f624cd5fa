"""The package's layering, read from the import statements: the model
imports nothing of the checker or the log side, the log side (traces)
nothing of the checker, and no module imports itself through others."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

# The checkout's top-level folders are the package percpu_mc (pyproject.toml,
# package-dir): model/ is percpu_mc.model, and so on.
ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("model", "checker", "traces")

# package -> the packages it must not import
LAYERS = {
    "percpu_mc.model": ("percpu_mc.checker", "percpu_mc.traces"),
    "percpu_mc.traces": ("percpu_mc.checker",),
    # the engines compute verdicts; front ends, reports and log checking use them
    "percpu_mc.checker.engines": (
        "percpu_mc.checker.cli",
        "percpu_mc.checker.report",
        "percpu_mc.checker.logs",
    ),
    "percpu_mc.checker.report": ("percpu_mc.checker.cli",),
    "percpu_mc.checker.logs": ("percpu_mc.checker.cli",),
}


def module_name(path: Path) -> str:
    parts = ("percpu_mc",) + path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, modules: set[str]) -> set[str]:
    """The percpu_mc modules a module imports (`from package import module`
    names the module, else the package)."""
    out = set()
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for a in node.names:
                out.add(f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base)
    return {m for m in out if m in modules}


def graph() -> dict[str, set[str]]:
    paths = [ROOT / "__init__.py"] + sorted(p for d in PACKAGES for p in (ROOT / d).rglob("*.py"))
    modules = {module_name(p) for p in paths}
    return {module_name(p): imports(p, modules) for p in paths}


def cycle(g: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the modules along it, or None."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        path.append(m)
        for n in sorted(g[m]):
            if state.get(n) == 1:
                return path[path.index(n) :] + [n]
            if n not in state and (found := visit(n)):
                return found
        state[m] = 2
        path.pop()
        return None

    for m in sorted(g):
        if m not in state and (found := visit(m)):
            return found
    return None


def test_the_import_graph_has_no_cycle() -> None:
    found = cycle(graph())
    assert found is None, "import cycle: " + " -> ".join(found or [])


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_no_back_edge(layer: str) -> None:
    bad = [
        f"{m} imports {n}"
        for m, deps in graph().items()
        if m.startswith(layer + ".") or m == layer
        for n in deps
        if n.startswith(LAYERS[layer])
    ]
    assert not bad, bad


def test_the_checks_see_a_cycle_and_a_back_edge() -> None:
    """The two checks above fail when they should: on a made-up graph."""
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set()}) is None
    real = graph()
    assert "percpu_mc.model.state" in real["percpu_mc.model.actions.common"]
    assert "percpu_mc.model.machine" in real["percpu_mc.checker.result"]


def top_level_imports(path: Path, root: Path = ROOT) -> list[str]:
    """Imports of a top-level folder as if it were its own package (`import
    model`, `from checker.specs import ...`): the same file would then be
    loaded twice, under two names."""
    bad = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names = (
            [a.name for a in node.names]
            if isinstance(node, ast.Import)
            else [node.module or ""]
            if isinstance(node, ast.ImportFrom) and not node.level
            else []
        )
        bad += [
            f"{path.relative_to(root)}: {n}"
            for n in names
            if n.split(".")[0] in PACKAGES + ("specs",)
        ]
    return bad


def test_no_top_level_folder_imported_as_a_module() -> None:
    files = [
        p
        for d in PACKAGES + ("tests", "benchmarks", "tools")
        for p in sorted((ROOT / d).rglob("*.py"))
    ]
    bad = [b for f in files for b in top_level_imports(f)]
    assert not bad, bad


def test_the_top_level_import_check_sees_one(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import model.state\nfrom checker import specs\nfrom . import model\n")
    assert top_level_imports(sample, tmp_path) == ["sample.py: model.state", "sample.py: checker"]
