"""The saturated counter (docs/model.md, "The saturated counter";
checker/engines/layout.py, Saturation): the abstraction that keeps v4.13's
drifting pcpu_nr_empty_pop_pages finite.  Its soundness rests on one fact
about the model, checked here on reachable states: below 0, no guard,
property or field but the counter itself tells counter values apart, and a
step moves the counter by a fixed amount of at most `span` (or sets it
independently of it).  Then the abstract search is compared with the exact
one where both finish, with the floor raised so that it is reached."""

from __future__ import annotations

import dataclasses

import pytest

from percpu_mc.checker import specs
from percpu_mc.checker.engines import layout as layout_module
from percpu_mc.checker.engines.compiled import SPURIOUS, CompiledEngine
from percpu_mc.model.machine import Model
from percpu_mc.model.ops import Concrete
from percpu_mc.model.properties import PROPERTIES
from percpu_mc.model.state import State, upd

SPAN_OF = lambda m: m.p.nr_chunks * m.p.unit_pages  # noqa: E731 (Saturation.span)


def reachable(model: Model, depth: int) -> list[State]:
    seen, frontier = {model.init()}, [model.init()]
    for _ in range(depth):
        frontier = list(
            dict.fromkeys(t for s in frontier for _, _, t in model.successors(s) if t not in seen)
        )
        seen.update(frontier)
    return list(seen)


@pytest.mark.parametrize("spec", ["v4.13", "v4.13-popfail-fix"])
def test_below_zero_only_the_counter_tells_values_apart(spec: str) -> None:
    """For reachable states with the counter set to -1 and further below:
    the same steps are enabled with the same choices, their successors agree
    on every field but the counter, and the counter moves by the same amount
    (at most the span) or is set to the same value; every property holds or
    fails alike."""
    model = Model(specs.load(spec).params)
    span, x = SPAN_OF(model), Concrete()
    for s in reachable(model, 4)[::5]:
        base = upd(s, nr_empty_pop_pages=-1)
        steps = [(ai, tuple(ch.items()), t) for ai, ch, t in model.successors(base)]
        for low in (-2, -1 - span, -100):
            other = upd(s, nr_empty_pop_pages=low)
            got = [(ai, tuple(ch.items()), t) for ai, ch, t in model.successors(other)]
            assert [g[:2] for g in got] == [b[:2] for b in steps]
            for (_, _, t), (_, _, u) in zip(steps, got):
                assert upd(u, nr_empty_pop_pages=0) == upd(t, nr_empty_pop_pages=0)
                moved = (t.nr_empty_pop_pages + 1, u.nr_empty_pop_pages - low)
                assert moved[0] == moved[1] or t.nr_empty_pop_pages == u.nr_empty_pop_pages
                assert abs(moved[0]) <= span or t.nr_empty_pop_pages == u.nr_empty_pop_pages
            for p in PROPERTIES.values():
                assert p.holds(x, model.kernel, base) == p.holds(x, model.kernel, other)


def test_the_abstraction_agrees_with_the_exact_search(monkeypatch: pytest.MonkeyPatch) -> None:
    """v4.13 to 17 steps with the floor raised to -1 (sound: every constant
    the counter is compared with is at least 0), so that the drift reaches
    it: what the abstraction says holds holds in the exact search (the
    compiled one with its own floor, which 17 steps cannot reach); what it
    reports violated is violated there at the same length, with a concrete
    run; a spurious run is reported unknown, never violated."""
    real = layout_module.domains

    def raised(p, depth):  # type: ignore[no-untyped-def]
        out = dict(real(p, depth))
        out["nr_empty_pop_pages"] = dataclasses.replace(out["nr_empty_pop_pages"], lo=-1)
        return out

    model = Model(specs.load("v4.13").params)
    props = list(PROPERTIES.values())
    depth = 17
    exact, exact_stats = CompiledEngine(model, props).run(depth)
    assert exact_stats.saturated == 0, "the exact search stays above its floor"
    monkeypatch.setattr(layout_module, "domains", raised)
    abstract, stats = CompiledEngine(model, props).run(depth)
    assert stats.saturated > 0, "the floor is reached"
    for a, e in zip(abstract, exact):
        if a.verdict == "holds":
            assert e.verdict == "holds", a.prop
        elif a.verdict == "violated":
            assert (e.verdict, e.depth) == ("violated", a.depth), a.prop
            last = a.trace.steps[-1].state  # type: ignore[union-attr]
            assert not PROPERTIES[a.prop].holds(Concrete(), model.kernel, last)
        else:
            assert a.reason == SPURIOUS  # type: ignore[union-attr]
