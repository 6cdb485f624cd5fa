"""check-model --emit-log DIR and --simulate STEPS: model runs written as logs.

--emit-log writes every counterexample found as DIR/<spec>-<property>.trace;
with --simulate, no property is checked: a random walk over the enabled
steps of the concrete interpretation (seeded by --seed) that never enters a
state violating a property is written as DIR/<spec>-simulate-<seed>.trace,
a correct run of the spec for tests and benchmarks.
"""

from __future__ import annotations

import random
from pathlib import Path

from percpu_mc.checker.engines.build import CompilerMissing
from percpu_mc.checker.engines.native import Native
from percpu_mc.checker.result import Result, Violated
from percpu_mc.model.machine import Model, Trace, TraceStep
from percpu_mc.model.ops import Concrete
from percpu_mc.model.properties import PROPERTIES
from percpu_mc.model.state import State
from percpu_mc.traces.writer import write_trace


def violates(model: Model, s: State) -> bool:
    x = Concrete()
    return any(not prop.holds(x, model.kernel, s) for prop in PROPERTIES.values())


def random_run(model: Model, steps: int, seed: int, native: Native | None = None) -> Trace:
    """A random walk of at most `steps` steps through states that violate no
    property; it stops early where every enabled step would violate one.
    With `native` (the compiled model) each state's successors and property
    values are computed natively: the same steps in the same order, so the
    same seed gives the same run."""
    rng = random.Random(seed)
    s = model.init()
    out: list[TraceStep] = []
    for _ in range(steps):
        if native is None:
            options = [(ai, ch, t) for ai, ch, t in model.successors(s) if not violates(model, t)]
        else:
            options = [
                (op.action, op.choices, t) for op, t in native.successors(s) if all(native.holds(t))
            ]
        if not options:
            break
        ai, ch, s = rng.choice(options)
        out.append(TraceStep(ai, ch, s))
    return Trace(model.init(), tuple(out))


def emit_counterexamples(
    out_dir: Path, spec_name: str, model: Model, results: list[Result]
) -> list[Path]:
    written = []
    for r in results:
        if isinstance(r, Violated):
            path = out_dir / f"{spec_name}-{r.prop}.trace"
            write_trace(path, model, r.trace, f"spec {spec_name}, counterexample of {r.prop}")
            written.append(path)
    return written


def emit_simulation(out_dir: Path, spec_name: str, model: Model, steps: int, seed: int) -> Path:
    try:
        native: Native | None = Native.load(model, list(PROPERTIES.values()), steps)
    except CompilerMissing:
        native = None  # the concrete interpretation walks the same run, more slowly
    trace = random_run(model, steps, seed, native)
    path = out_dir / f"{spec_name}-simulate-{seed}.trace"
    write_trace(
        path, model, trace, f"spec {spec_name}, random run of {len(trace.steps)} steps, seed {seed}"
    )
    return path
