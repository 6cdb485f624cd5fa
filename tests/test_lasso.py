"""Starvation lassos (checker/engines/lasso.py): found where the balance work never
refills (PCPU_EMPTY_POP_PAGES_HIGH = 0), with the loop really closing and
really starving the request; and the CLI shows the loop."""

from __future__ import annotations

import dataclasses
import json

from percpu_mc.checker import specs
from percpu_mc.checker.cli.check_model import main
from percpu_mc.checker.engines.lasso import LassoEngine, explore, fair_lasso
from percpu_mc.model.control import AllocPc, BalancePc
from percpu_mc.model.machine import Model
from percpu_mc.model.reduction import canonical
from percpu_mc.traces.events import ParseError
from percpu_mc.traces.input import open_log
from percpu_mc.traces.parser import LogParser

# v4.13's code on a geometry of its own: a first chunk with three free cells
# (one static), requests of one cell or the whole unit
NO_REFILL = dataclasses.replace(
    specs.load("v4.13").params,
    empty_pop_pages_high=0,
    empty_pop_pages_low=0,
    first_chunk_static_cells=1,
    sizes=(1, 4),
)


def test_lasso_when_the_balance_work_populates_nothing() -> None:
    """Atomic requests of a whole unit (the first chunk, with its static
    area, can never serve them) starve when the balance work, asked to
    populate PCPU_EMPTY_POP_PAGES_HIGH = 0 pages, runs without populating:
    the shortest lasso is enable + a loop of fail, start, collect, map
    extension pick, retry_pop."""
    model = Model(NO_REFILL)
    lasso, _ = LassoEngine(model, 4).run(6)
    assert lasso is not None
    steps = lasso.trace.steps
    assert (lasso.loop_start, len(steps)) == (1, 6)
    states = [lasso.trace.init] + [st.state for st in steps]
    # the loop closes on the kernel state
    assert canonical(states[lasso.loop_start]) == canonical(states[-1])
    loop = list(range(lasso.loop_start, len(steps)))
    names = [model.actions[steps[j].action].name for j in loop]
    # an atomic request of the size fails in it (and none succeeds) ...
    tries = [j for j in loop if names[j - lasso.loop_start] == "pcpu_alloc (atomic)"]
    assert tries and all(
        steps[j].choices["size"] == 4
        and steps[j].state.pc[model.actions[steps[j].action].ctx] == AllocPc.IDLE
        for j in tries
    )
    # ... and a balance run completes
    assert any(
        states[j].balance_pc != BalancePc.IDLE and states[j + 1].balance_pc == BalancePc.IDLE
        for j in loop
    )


def test_no_lasso_below_its_length() -> None:
    assert LassoEngine(Model(NO_REFILL), 4).run(5)[0] is None


def test_cli_starvation_json(tmp_path, capsys) -> None:
    """--starvation --json: the lasso's steps, each marked in the loop or not."""
    text = (
        specs.resolve("v4.13")
        .read_text()
        .replace("empty_pop_pages_low = 1", "empty_pop_pages_low = 0")
        .replace("empty_pop_pages_high = 2", "empty_pop_pages_high = 0")
    )
    spec = tmp_path / "no-refill.toml"
    spec.write_text(text)
    assert main(["--spec", str(spec), "--starvation", "4", "--depth", "6", "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert (doc["verdict"], doc["prefix"], doc["loop"], doc["size_pages"]) == ("lasso", 1, 5, 2)
    assert [s["in_loop"] for s in doc["steps"]] == [False] + [True] * 5
    assert "fairness" in doc
    assert main(["--spec", str(spec), "--starvation", "4", "--depth", "6"]) == 1
    out = capsys.readouterr().out
    assert "---- loop: steps 2..6 repeat forever ----" in out


def test_cli_starvation_emit_log(tmp_path, capsys) -> None:
    """--starvation --emit-log: the lasso as a log our parser reads; its
    header names the loop, and the loop's lines are the 5 steps' lines."""
    text = (
        specs.resolve("v4.13")
        .read_text()
        .replace("empty_pop_pages_low = 1", "empty_pop_pages_low = 0")
        .replace("empty_pop_pages_high = 2", "empty_pop_pages_high = 0")
    )
    spec = tmp_path / "no-refill.toml"
    spec.write_text(text)
    assert (
        main(
            [
                "--spec",
                str(spec),
                "--starvation",
                "4",
                "--depth",
                "6",
                "--json",
                "--emit-log",
                str(tmp_path / "logs"),
            ]
        )
        == 1
    )
    doc = json.loads(capsys.readouterr().out)
    path = tmp_path / "logs" / "v4.13-starvation-4.trace"  # the spec's own name
    assert doc["log"]["path"] == str(path)
    assert "steps 2..6 repeat forever" in path.read_text()
    first, last = doc["log"]["loop_lines"]
    with open_log(str(path)) as lines:
        records = list(LogParser().records(lines))
    assert not [r for r in records if isinstance(r, ParseError)]
    in_loop = [r for r in records if first <= r.line <= last]
    assert in_loop and in_loop[0].line == first and in_loop[-1].line == last


# One context holding at most one allocation, pages of one cell, one
# dynamic chunk: every reachable state is explored in a few seconds.
TINY = dataclasses.replace(
    specs.load("v4.13").params,
    cells_per_page=1,
    sizes=(1, 2),
    nr_chunks=2,
    nr_contexts=1,
    live_per_context=1,
    first_chunk_static_cells=1,
)


def test_explicit_none_and_lasso_on_a_tiny_geometry() -> None:
    """`none` from the explicit search covers loops of any length: here no
    request of one page (1 cell) or of the whole unit (2 pages) starves
    while the balance work refills (PCPU_EMPTY_POP_PAGES_HIGH = 2); with
    HIGH = 0 the same search finds the whole unit's lasso, and still none
    for one page (the first chunk's empty populated page serves it)."""
    refill = Model(TINY)
    g = explore(refill, 100_000)
    assert g is not None
    assert fair_lasso(refill, g, 1) is None and fair_lasso(refill, g, 2) is None
    starve = Model(dataclasses.replace(TINY, empty_pop_pages_high=0, empty_pop_pages_low=0))
    g = explore(starve, 100_000)
    assert g is not None and fair_lasso(starve, g, 1) is None
    lasso = fair_lasso(starve, g, 2)
    assert lasso is not None
    states = [lasso.trace.init] + [st.state for st in lasso.trace.steps]
    assert states[lasso.loop_start] == states[-1]
    loop = lasso.trace.steps[lasso.loop_start :]
    atomic = [
        st
        for st in loop
        if starve.actions[st.action].name == "pcpu_alloc (atomic)" and st.choices["size"] == 2
    ]
    assert atomic and all(st.state.pc[0] == AllocPc.IDLE for st in atomic)
