"""The vocabulary declared on the model (model/vocabulary.py) agrees with
what the observer derives from the states: every line a step prints is one
its kind says it may print, and every action's context is the one its kind
belongs to."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from percpu_mc.checker import specs
from percpu_mc.checker.logs.emit_log import random_run
from percpu_mc.model.machine import Model
from percpu_mc.model.vocabulary import Kind, Role
from percpu_mc.traces.observe import FUNC, PROBE, PROBES, Observer

# the spec of every variant, and one with each map-extension variant
SPECS = ["pre-async", "seed", "v3.18", "v4.7", "v4.13", "v5.14"]

FAMILY = {
    "ALLOC": Role.ALLOC,
    "FREE": Role.ALLOC,
    "BALANCE": Role.BALANCE,
    "MAP_EXTEND": Role.MAP_EXTEND,
    "ENABLE_ASYNC": Role.INIT,
}


@settings(max_examples=12, deadline=None)
@given(spec=st.sampled_from(SPECS), seed=st.integers(0, 10_000))
def test_a_step_prints_only_what_its_kind_declares(spec: str, seed: int) -> None:
    model = Model(specs.load(spec).params)
    observer = Observer(model.kernel)
    trace = random_run(model, 80, seed)
    pre = trace.init
    for step in trace.steps:
        a = model.actions[step.action]
        log = a.kind.log
        for o in observer.lines(a, pre, step.state):
            if o.kind in (FUNC, PROBE):
                assert o.marker_key in log.markers, (a.name, o)
            else:
                assert o.kind in log.tracepoints, (a.name, o)
        pre = step.state


def test_every_probe_has_a_site_and_every_action_its_kinds_context() -> None:
    assert {m for kind in Kind for m, parent in kind.log.markers if not parent} <= set(PROBES)
    for name in SPECS:
        for a in Model(specs.load(name).params).actions:
            family = next(r for prefix, r in FAMILY.items() if a.kind.name.startswith(prefix))
            assert a.context.role is family, a.name
            assert a.atomic == (a.kind is Kind.ALLOC and "non-atomic" not in a.name), a.name
