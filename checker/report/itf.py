"""Counterexamples in the Informal Trace Format (ITF, Apalache ADR-015), the
JSON that Apalache and Quint write and their trace viewers and test
generators read: `{"#meta", "vars", "states": [{"#meta": {"index": i},
var: value, ...}]}`, every state of the run from the initial one.

The variables are the fields of model/state.py's `State`; a per-chunk,
per-context or per-allocation tuple is an ITF list, an integer
`{"#bigint": "n"}`, a flag a JSON boolean.  Each state after the first names
in its `#meta` the action that led to it (context, action, kernel function,
choices), as Quint's `mbt::actionTaken` does, but outside the variables."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Any

from percpu_mc.checker.report.counterexample import context_label
from percpu_mc.checker.report.html import write_atomic
from percpu_mc.checker.result import Violated
from percpu_mc.model.machine import Model
from percpu_mc.model.properties import PROPERTIES
from percpu_mc.model.state import State

FORMAT_DESCRIPTION = "https://apalache-mc.org/docs/adr/015adr-trace.html"
VARS = [f.name for f in fields(State)]


def value(v: Any) -> Any:
    """An ITF expression of a state field's value."""
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        return {"#bigint": str(int(v))}
    if isinstance(v, tuple):
        return [value(e) for e in v]
    raise TypeError(f"no ITF form for {v!r}")


def document(spec: str, model: Model, result: Violated) -> dict[str, Any]:
    trace = result.trace
    states = [{"#meta": {"index": 0}, **state_vars(trace.init)}]
    pre = trace.init
    for i, step in enumerate(trace.steps, 1):
        action = model.actions[step.action]
        meta = {
            "index": i,
            "context": context_label(model, step.action, step.state, pre),
            "action": action.name,
            "kernel": action.kernel,
            "choices": dict(step.choices),
        }
        states.append({"#meta": meta, **state_vars(step.state)})
        pre = step.state
    return {
        "#meta": {
            "format": "ITF",
            "format-description": FORMAT_DESCRIPTION,
            "source": spec,
            "description": f"check-model: {result.prop} violated after step {result.depth}: "
            f"{PROPERTIES[result.prop].promise}",
            "property": result.prop,
        },
        "vars": VARS,
        "states": states,
    }


def state_vars(s: State) -> dict[str, Any]:
    return {name: value(getattr(s, name)) for name in VARS}


def paths(path: str, props: list[str]) -> dict[str, Path]:
    """Where each counterexample goes: `path` itself for one; for several,
    one file each, the property's name put before the suffix (`.itf.json`
    counted as one): cex.itf.json -> cex.no-deadlock.itf.json."""
    target = Path(path)
    if len(props) == 1:
        return {props[0]: target}
    name = target.name
    suffix = ".itf.json" if name.endswith(".itf.json") and name != ".itf.json" else target.suffix
    stem = name[: len(name) - len(suffix)] if suffix else name
    return {p: target.with_name(f"{stem}.{p}{suffix}") for p in props}


def write(path: str, spec: str, model: Model, results: list[Violated]) -> list[Path]:
    """Write every counterexample; each file whole or not at all."""
    out = []
    for prop, target in paths(path, [r.prop for r in results]).items():
        result = next(r for r in results if r.prop == prop)
        write_atomic(target, json.dumps(document(spec, model, result), indent=1) + "\n")
        out.append(target)
    return out
