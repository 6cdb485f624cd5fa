"""`check-model --itf FILE`: each counterexample as an Informal Trace Format
document (Apalache ADR-015), checked here against the ADR's rules and
replayed on the concrete model: the first state is the initial one, each
next state a successor by the action its `#meta` names, the last one
breaks the property."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from shared import PINNED

from percpu_mc.checker import specs
from percpu_mc.model.machine import Model
from percpu_mc.model.ops import Concrete
from percpu_mc.model.properties import PROPERTIES
from percpu_mc.model.state import State

MAX_JSON_INT = 2**53 - 1  # RFC 7159's interoperable range, as ADR-015 says


def itf_problems(doc: Any) -> list[str]:
    """Where `doc` breaks ADR-015's rules (empty: a valid ITF trace).  Also
    allowed: JSON booleans, as Quint writes them."""
    out: list[str] = []

    def expr(v: Any, where: str) -> None:
        if isinstance(v, (str, bool)):
            return
        if isinstance(v, int):
            if abs(v) > MAX_JSON_INT:
                out.append(f"{where}: integer {v} outside ±(2**53 - 1): use #bigint")
        elif isinstance(v, list):
            for i, e in enumerate(v):
                expr(e, f"{where}[{i}]")
        elif isinstance(v, dict):
            tags = [k for k in v if k.startswith("#")]
            if not tags:  # a record
                for k, e in v.items():
                    expr(e, f"{where}.{k}")
            elif len(v) != 1:
                out.append(f"{where}: {tags[0]} with other fields")
            elif "#bigint" in v:
                if not (isinstance(v["#bigint"], str) and re.fullmatch(r"-?[0-9]+", v["#bigint"])):
                    out.append(f"{where}: #bigint must be a string of digits")
            elif "#tup" in v or "#set" in v:
                items = next(iter(v.values()))
                if not isinstance(items, list):
                    out.append(f"{where}: {tags[0]} must hold a list")
                else:
                    expr(items, where)
            elif "#map" in v:
                pairs = v["#map"]
                if not isinstance(pairs, list) or any(
                    not isinstance(p, list) or len(p) != 2 for p in pairs
                ):
                    out.append(f"{where}: #map must hold [key, value] pairs")
                else:
                    expr(pairs, where)
            else:
                out.append(f"{where}: unknown tag {tags[0]}")
        else:
            out.append(f"{where}: {type(v).__name__} is no ITF expression")

    if not isinstance(doc, dict):
        return ["the trace is not an object"]
    extra = set(doc) - {"#meta", "params", "vars", "states", "loop"}
    if extra:
        out.append(f"unknown trace fields {sorted(extra)}")
    if "#meta" in doc and not isinstance(doc["#meta"], dict):
        out.append("#meta must be an object")
    names = doc.get("vars")
    if (
        not isinstance(names, list)
        or not all(isinstance(n, str) for n in names)
        or len(set(names)) != len(names)
    ):
        return out + ["vars must be a list of distinct names"]
    states = doc.get("states")
    if not isinstance(states, list) or not states:
        return out + ["states must be a non-empty list"]
    for i, s in enumerate(states):
        if not isinstance(s, dict):
            out.append(f"state {i} is not an object")
            continue
        if "#meta" in s and not isinstance(s["#meta"], dict):
            out.append(f"state {i}: #meta must be an object")
        if set(s) - {"#meta"} != set(names):
            out.append(f"state {i}: variables {sorted(set(s) - {'#meta'})} are not vars")
        for n in names:
            if n in s:
                expr(s[n], f"state {i}.{n}")
    if "loop" in doc and not (isinstance(doc["loop"], int) and 0 <= doc["loop"] < len(states)):
        out.append("loop must index a state")
    return out


def decode(v: Any) -> Any:
    if isinstance(v, list):
        return tuple(decode(e) for e in v)
    if isinstance(v, dict):
        return int(v["#bigint"])
    return v


def test_the_checker_refuses_what_the_rules_refuse() -> None:
    """The rules above are not vacuous: each broken document is caught."""
    good = {"vars": ["x"], "states": [{"#meta": {"index": 0}, "x": {"#bigint": "-3"}}]}
    assert itf_problems(good) == []
    broken = [
        {"vars": ["x"], "states": [{"y": 1}]},
        {"vars": ["x"], "states": [{"x": {"#bigint": 3}}]},
        {"vars": ["x"], "states": [{"x": 2**60}]},
        {"vars": ["x"], "states": [{"x": {"#map": [[1]]}}]},
        {"vars": ["x"], "states": [{"x": 1.5}]},
        {"vars": ["x", "x"], "states": [{"x": 1}]},
        {"vars": ["x"], "states": [{"x": 1}], "loop": 1},
        {"vars": ["x"], "states": [{"x": {"#bigint": "1", "#set": []}}]},
        {"vars": ["x"], "steps": [], "states": [{"x": 1}]},
    ]
    assert all(itf_problems(doc) for doc in broken)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    """One run of the installed check-model with --itf: two counterexamples."""
    tmp = tmp_path_factory.mktemp("itf")
    spec = tmp / "pinned.toml"
    spec.write_text(PINNED)
    script = shutil.which("check-model", path=str(Path(sys.executable).parent))
    assert script
    done = subprocess.run(
        [
            script,
            "--spec",
            str(spec),
            "--engine",
            "explicit",
            "--depth",
            "6",
            "--property",
            "no-deadlock",
            "--property",
            "counter-exact",
            "--itf",
            str(tmp / "cex.itf.json"),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp,
    )
    return spec, done


def test_one_file_per_counterexample(written: tuple[Path, subprocess.CompletedProcess]) -> None:
    """Two properties violated: two files, the property's name before the
    `.itf.json` suffix, listed in the JSON document and on stderr."""
    spec, done = written
    assert done.returncode == 1, done.stderr
    doc = json.loads(done.stdout)
    names = [str(spec.parent / f"cex.{p}.itf.json") for p in ("no-deadlock", "counter-exact")]
    assert doc["itf"] == names
    assert all(f"wrote {n}" in done.stderr for n in names)
    assert not (spec.parent / "cex.itf.json").exists()


@pytest.mark.parametrize("prop, steps", [("no-deadlock", 3), ("counter-exact", 6)])
def test_itf_is_valid_and_replays(
    written: tuple[Path, subprocess.CompletedProcess], prop: str, steps: int
) -> None:
    spec, _ = written
    doc = json.loads((spec.parent / f"cex.{prop}.itf.json").read_text())
    assert itf_problems(doc) == []
    assert doc["vars"] == list(State.__dataclass_fields__)
    assert doc["#meta"]["property"] == prop
    model = Model(specs.load(str(spec)).params)
    states = [State(**{n: decode(s[n]) for n in doc["vars"]}) for s in doc["states"]]
    assert [s["#meta"]["index"] for s in doc["states"]] == list(range(steps + 1))
    assert states[0] == model.init()
    for pre, post, meta in zip(states, states[1:], [s["#meta"] for s in doc["states"][1:]]):
        taken = [(model.actions[ai].name, ch) for ai, ch, t in model.successors(pre) if t == post]
        assert (meta["action"], meta["choices"]) in taken, meta
    x = Concrete()
    assert not PROPERTIES[prop].holds(x, model.kernel, states[-1])
    assert all(PROPERTIES[prop].holds(x, model.kernel, s) for s in states[:-1])


def test_one_counterexample_is_file_itself(tmp_path: Path) -> None:
    """One counterexample goes to FILE as given; an unwritable FILE is bad
    input before the run."""
    from percpu_mc.checker.cli.check_model import main

    spec = tmp_path / "pinned.toml"
    spec.write_text(PINNED)
    target = tmp_path / "trace.json"
    assert (
        main(
            [
                "--spec",
                str(spec),
                "--engine",
                "explicit",
                "--depth",
                "3",
                "--property",
                "no-deadlock",
                "--itf",
                str(target),
                "--no-map",
            ]
        )
        == 1
    )
    assert itf_problems(json.loads(target.read_text())) == []
    assert (
        main(["--spec", str(spec), "--depth", "3", "--itf", str(tmp_path / "missing" / "t.json")])
        == 2
    )
