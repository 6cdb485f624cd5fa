"""Reading spec files (specs/*.toml): parameters, switches, expected verdicts."""
from __future__ import annotations

import re
from importlib import resources
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, get_args, get_type_hints

from percpu_mc.model.params import Params, Switches, param_names, switch_names
from percpu_mc.model.properties import PROPERTIES

# The shipped specs are package data (percpu_mc/specs), found wherever the package is installed.
SPEC_DIR = Path(str(resources.files("percpu_mc").joinpath("specs")))


class SpecError(Exception):
    """A spec that cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class Spec:
    name: str
    path: Path
    description: str
    params: Params
    violated: tuple[str, ...]   # properties the spec must violate ...
    holds: tuple[str, ...]      # ... and must hold, up to `depth`
    depth: int                  # the depth at which the expectations are checked
    notes: dict[str, str]       # why, per property


def available() -> list[str]:
    return sorted(p.stem for p in SPEC_DIR.glob("*.toml"))


def resolve(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix == ".toml" or "/" in name_or_path:
        if not path.is_file():
            raise SpecError(f"{name_or_path}: no such spec file")
        return path
    path = SPEC_DIR / f"{name_or_path}.toml"
    if not path.is_file():
        raise SpecError(f"unknown spec '{name_or_path}' (expected one of: {', '.join(available())}, "
                        "or a path to a .toml file)")
    return path


def _line_of(text: str, key: str) -> int:
    for n, line in enumerate(text.splitlines(), 1):
        if re.match(rf"\s*{re.escape(key)}\s*=", line):
            return n
    return 1


def load(name_or_path: str) -> Spec:
    path = resolve(name_or_path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise SpecError(f"{path}: cannot read: {e}") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"{path}: malformed TOML: {e}") from None

    def bad(key: str, msg: str) -> SpecError:
        return SpecError(f"{path}:{_line_of(text, key)}: {msg}")

    known = {"name", "description", "params", "switches", "expect"}
    for key in doc:
        if key not in known:
            raise bad(key, f"unknown key '{key}' (expected one of: {', '.join(sorted(known))})")
    params = _section(doc, "params", param_names(), bad)
    switches = _section(doc, "switches", switch_names(), bad)
    for k in ("sizes", "aligns"):
        if k in params:
            if not isinstance(params[k], list) or not all(isinstance(v, int) for v in params[k]):
                raise bad(k, f"'{k}' must be a list of integers")
            params[k] = tuple(params[k])
    for k, v in params.items():
        if k not in ("sizes", "aligns") and (not isinstance(v, int) or isinstance(v, bool)):
            raise bad(k, f"'{k}' must be an integer")
    defaults = Switches()
    for k, v in switches.items():
        want = type(getattr(defaults, k))
        allowed = _literal_values(k)
        if not isinstance(v, want) or (allowed and v not in allowed):
            expect = " or ".join(f'"{a}"' for a in allowed) if allowed else want.__name__
            raise bad(k, f"switch '{k}' must be {expect}, not {v!r}")
    try:
        p = Params(switches=Switches(**switches), **params)
    except TypeError as e:
        raise SpecError(f"{path}: {e}") from None
    errors = p.validate()
    if errors:
        raise SpecError(f"{path}: invalid parameters: {'; '.join(errors)}")

    expect = doc.get("expect", {})
    if not isinstance(expect, dict):
        raise bad("expect", "[expect] must be a table")
    lists: dict[str, tuple[str, ...]] = {}
    for k in ("violated", "holds"):
        names = expect.get(k, [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise bad(k, f"expect.{k} must be a list of property names")
        for n in names:
            if n not in PROPERTIES:
                raise bad(k, f"unknown property '{n}' (expected one of: {', '.join(PROPERTIES)})")
        lists[k] = tuple(names)
    both = set(lists["violated"]) & set(lists["holds"])
    if both:
        raise bad("holds", f"properties both violated and held: {', '.join(sorted(both))}")
    depth = expect.get("depth", 20)
    if not isinstance(depth, int) or depth < 1:
        raise bad("depth", "expect.depth must be a positive integer")
    notes = expect.get("why", {})
    if not isinstance(notes, dict):
        raise bad("why", "expect.why must be a table of property = reason")
    return Spec(name=str(doc.get("name", path.stem)), path=path,
                description=str(doc.get("description", "")), params=p,
                violated=lists["violated"], holds=lists["holds"], depth=depth,
                notes={str(k): str(v) for k, v in notes.items()})


def _section(doc: dict, name: str, allowed: list[str], bad: Any) -> dict[str, Any]:
    sec = doc.get(name, {})
    if not isinstance(sec, dict):
        raise bad(name, f"[{name}] must be a table")
    for key in sec:
        if key not in allowed:
            raise bad(key, f"unknown {name[:-1]} '{key}' in [{name}] (expected one of: {', '.join(allowed)})")
    return dict(sec)


def _literal_values(switch: str) -> tuple[Any, ...]:
    hint = get_type_hints(Switches)[switch]
    return get_args(hint)


def with_switches(spec: Spec, **changes: Any) -> Spec:
    """The same spec with some switches changed (used to isolate one window)."""
    sw = Switches(**{f.name: changes.get(f.name, getattr(spec.params.switches, f.name))
                     for f in fields(Switches)})
    return replace(spec, params=replace(spec.params, switches=sw))
