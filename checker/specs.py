"""Reading spec files (specs/*.toml): parameters, switches, expected verdicts."""

from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any, get_args, get_type_hints

from percpu_mc.checker.engines import coverage
from percpu_mc.checker.errors import Failure
from percpu_mc.model.machine import Model
from percpu_mc.model.params import Params, Switches, param_names, switch_names
from percpu_mc.model.properties import PROPERTIES

# The shipped specs are package data (specs), found wherever the package is installed.
SPEC_DIR = Path(str(resources.files("percpu_mc").joinpath("specs")))


class SpecError(Failure):
    """A spec that cannot be used, with its file and, where known, line."""


@dataclass(frozen=True)
class Spec:
    name: str
    path: Path
    description: str
    params: Params
    violated: tuple[str, ...]  # properties the spec must violate ...
    holds: tuple[str, ...]  # ... and must hold, up to `depth`
    depth: int  # the depth at which the expectations are checked
    notes: dict[str, str]  # why, per property
    # actions and paths (checker/engines/coverage.py's names) the geometry
    # leaves unreached within `depth`, each with why
    unreached: dict[str, str] = field(default_factory=dict)


def available() -> list[str]:
    return sorted(p.stem for p in SPEC_DIR.glob("*.toml"))


def resolve(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.is_dir():
        raise SpecError(
            "a directory, not a spec: give a spec's name or its .toml file", name_or_path
        )
    if path.suffix == ".toml" or "/" in name_or_path:
        if not path.is_file():
            raise SpecError("no such spec file", name_or_path)
        return path
    path = SPEC_DIR / f"{name_or_path}.toml"
    if not path.is_file():
        close = difflib.get_close_matches(name_or_path, available(), n=1, cutoff=0.6)
        raise SpecError(
            f"unknown spec '{name_or_path}'"
            + (
                f": did you mean {close[0]}?"
                if close
                else f" (expected one of: {', '.join(available())}, or a path to a .toml file)"
            )
        )
    return path


# A line of TOML that opens a table ([a.b] or [[a.b]]) or sets a key (a.b = ...).
_NAME = r"""(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')"""
_DOTTED = rf"{_NAME}(?:\s*\.\s*{_NAME})*"
_HEADER = re.compile(rf"\s*\[\[?\s*({_DOTTED})\s*\]\]?")
_KEY = re.compile(rf"\s*({_DOTTED})\s*=")


def _names(dotted: str) -> tuple[str, ...]:
    return tuple(n.strip("\"'") for n in re.findall(_NAME, dotted))


def _line_of(text: str, key: tuple[str, ...]) -> int | None:
    """The line that defines `key` (its path from the top of the document):
    the header of the table it is, its `name =` inside the table it is in,
    or the line of the inline table that holds it.  The document parsed, so
    a scan that follows the table headers and skips multi-line strings is
    exact for what a spec holds."""
    table: tuple[str, ...] = ()
    in_string = False
    for n, line in enumerate(text.splitlines(), 1):
        quotes = line.count('"""') + line.count("'''")
        if in_string:
            in_string = quotes % 2 == 0
            continue
        if m := _HEADER.match(line):
            table = _names(m[1])
            if table[: len(key)] == key:
                return n
        elif m := _KEY.match(line):
            at = table + _names(m[1])
            # the key itself, or the inline table the key is in
            if at[: len(key)] == key or key[: len(at)] == at:
                return n
        in_string = quotes % 2 == 1
    return None


def load(name_or_path: str) -> Spec:
    path = resolve(name_or_path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise SpecError(f"cannot read: {e}", str(path)) from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        at = re.search(r"\(at line (\d+), column \d+\)", str(e))
        raise SpecError(f"malformed TOML: {e}", str(path), int(at[1]) if at else None) from None

    def bad(msg: str, *key: str) -> SpecError:
        return SpecError(msg, str(path), _line_of(text, key))

    known = {"name", "description", "params", "switches", "expect"}
    for key in doc:
        if key not in known:
            raise bad(f"unknown key '{key}' (expected one of: {', '.join(sorted(known))})", key)
    params = _section(doc, "params", param_names(), bad)
    switches = _section(doc, "switches", switch_names(), bad)
    for k in ("sizes", "aligns"):
        if k in params:
            if not isinstance(params[k], list) or not all(
                isinstance(v, int) and not isinstance(v, bool) for v in params[k]
            ):
                raise bad(f"'{k}' must be a list of integers", "params", k)
            params[k] = tuple(params[k])
    for k, v in params.items():
        if k not in ("sizes", "aligns") and (not isinstance(v, int) or isinstance(v, bool)):
            raise bad(f"'{k}' must be an integer", "params", k)
    defaults = Switches()
    for k, v in switches.items():
        want = type(getattr(defaults, k))
        allowed = _literal_values(k)
        if not isinstance(v, want) or (allowed and v not in allowed):
            expect = " or ".join(f'"{a}"' for a in allowed) if allowed else want.__name__
            raise bad(f"switch '{k}' must be {expect}, not {v!r}", "switches", k)
    try:
        p = Params(switches=Switches(**switches), **params)
    except TypeError as e:
        raise SpecError(str(e), str(path)) from None
    if errors := p.validate():
        field = errors[0][0]
        table = "switches" if field in switches else "params"
        raise SpecError(
            f"invalid parameters: {'; '.join(why for _, why in errors)}",
            str(path),
            _line_of(text, (table, field)) or _line_of(text, (table,)),
        )

    expect = doc.get("expect", {})
    if not isinstance(expect, dict):
        raise bad("[expect] must be a table", "expect")
    for key in expect:
        if key not in ("depth", "violated", "holds", "why", "unreached"):
            raise bad(
                f"unknown key '{key}' in [expect] (expected one of: depth, violated, holds, "
                "why, unreached)",
                "expect",
                key,
            )
    lists: dict[str, tuple[str, ...]] = {}
    for k in ("violated", "holds"):
        names = expect.get(k, [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise bad(f"expect.{k} must be a list of property names", "expect", k)
        for n in names:
            if n not in PROPERTIES:
                raise bad(
                    f"unknown property '{n}' (expected one of: {', '.join(PROPERTIES)})",
                    "expect",
                    k,
                )
        lists[k] = tuple(names)
    both = set(lists["violated"]) & set(lists["holds"])
    if both:
        raise bad(
            f"properties both violated and held: {', '.join(sorted(both))}", "expect", "holds"
        )
    depth = expect.get("depth", 20)
    if not isinstance(depth, int) or depth < 1:
        raise bad("expect.depth must be a positive integer", "expect", "depth")
    notes = expect.get("why", {})
    if not isinstance(notes, dict):
        raise bad("expect.why must be a table of property = reason", "expect", "why")
    unreached = expect.get("unreached", {})
    if not isinstance(unreached, dict) or not all(isinstance(v, str) for v in unreached.values()):
        raise bad(
            "expect.unreached must be a table of action = why it stays unreached",
            "expect",
            "unreached",
        )
    if unreached:
        known = coverage.names(Model(p))
        for n in unreached:
            if n not in known:
                raise bad(
                    f"unknown action '{n}' in expect.unreached (expected one of: "
                    f"{', '.join(sorted(known))})",
                    "expect",
                    "unreached",
                )
    return Spec(
        name=str(doc.get("name", path.stem)),
        path=path,
        description=str(doc.get("description", "")),
        params=p,
        violated=lists["violated"],
        holds=lists["holds"],
        depth=depth,
        notes={str(k): str(v) for k, v in notes.items()},
        unreached=dict(unreached),
    )


def _section(doc: dict, name: str, allowed: list[str], bad: Any) -> dict[str, Any]:
    sec = doc.get(name, {})
    if not isinstance(sec, dict):
        raise bad(f"[{name}] must be a table", name)
    for key in sec:
        if key not in allowed:
            noun = {"params": "parameter", "switches": "switch"}[name]
            raise bad(
                f"unknown {noun} '{key}' in [{name}] (expected one of: {', '.join(allowed)})",
                name,
                key,
            )
    return dict(sec)


def _literal_values(switch: str) -> tuple[Any, ...]:
    hint = get_type_hints(Switches)[switch]
    return get_args(hint)


def with_switches(spec: Spec, **changes: Any) -> Spec:
    """The same spec with some switches changed (used to isolate one window)."""
    sw = Switches(
        **{
            f.name: changes.get(f.name, getattr(spec.params.switches, f.name))
            for f in fields(Switches)
        }
    )
    return replace(spec, params=replace(spec.params, switches=sw))
