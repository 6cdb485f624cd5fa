"""Geometries and schedules that more than one test module uses."""

from __future__ import annotations

from dataclasses import replace

from percpu_mc.checker import specs
from percpu_mc.model.machine import Model
from percpu_mc.model.ops import Concrete
from percpu_mc.model.params import Params
from percpu_mc.model.properties import PROPERTIES
from percpu_mc.model.state import State, upd

# The pinned geometry of tests/test_cli_model.py: no-deadlock breaks after 3
# steps, counter-exact after 6.
PINNED = """\
name = "seed-pinned"

[params]
unit_pages = 2
cells_per_page = 2
nr_chunks = 3
first_chunk_static_cells = 2
nr_contexts = 2
live_per_context = 1
sizes = [1, 2]

[switches]
counter_update = "unlocked"
create_fail_unlocks_mutex = false
map_extension = "work-item"
alloc_mutex = "populate-only"
"""


PRE_ASYNC_STARVES = replace(
    specs.load("pre-async").params, first_chunk_static_cells=3, live_per_context=2, sizes=(1, 4)
)


def pre_async_starvation_plan() -> list[tuple[int | None, str, dict[str, int]]]:
    """The 24 steps of test_pre_async_atomic_starves: (context, action, choices)."""
    alloc, extend, restart = (
        "pcpu_alloc (non-atomic)",
        "pcpu_extend_area_map",
        "pcpu_alloc: restart",
    )
    populate, create = "pcpu_populate_chunk", "pcpu_create_chunk"
    counter = [("pcpu_alloc: counter load", {}), ("pcpu_alloc: counter store", {})]
    return [
        # alloc#1 takes the first chunk's one free cell (its static map needs no extension)
        *[(0, a, ch) for a, ch in [(alloc, {"size": 1}), (populate, {"fail": 0}), *counter]],
        # alloc#2 creates chunk 1 and takes all of it, populated
        *[
            (1, a, ch)
            for a, ch in [
                (alloc, {"size": 4}),
                (create, {"fail": 0, "chunk": 1}),
                (extend, {"fail": 0}),
                (restart, {"chunk": 1}),
                (populate, {"fail": 0}),
                *counter,
            ]
        ],
        # alloc#1 creates chunk 2, whose population fails: fully free, unpopulated
        *[
            (0, a, ch)
            for a, ch in [
                (alloc, {"size": 4}),
                (create, {"fail": 0, "chunk": 2}),
                (extend, {"fail": 0}),
                (restart, {"chunk": 2}),
                (populate, {"fail": 1}),
            ]
        ],
        # alloc#2 frees chunk 1: two fully free chunks, the balance work is queued
        (1, "free_percpu", {"live": 0}),
        # alloc#2 takes chunk 1 (the head of the free slot) again
        *[
            (1, a, ch)
            for a, ch in [(alloc, {"size": 4, "chunk": 1}), (populate, {"fail": 0}), *counter]
        ],
        # the atomic request fails: the first chunk and chunk 1 full, chunk 2 unpopulated
        (0, "pcpu_alloc (atomic)", {"size": 1}),
        (None, "pcpu_balance_workfn", {}),
        (None, "pcpu_balance_workfn: collect", {"chunk": 2}),
    ]


# -- v5.14 states built by hand, stepped by action name --------------------------

X = Concrete()


def two_page_v5_14() -> Params:
    """v5.14's switches at the two-page geometry these hand-built states assume."""
    return replace(
        specs.load("v5.14").params,
        unit_pages=2,
        cells_per_page=2,
        nr_chunks=4,
        first_chunk_static_cells=1,
        sizes=(1, 4),
    )


def chunk_2_in_use(m: Model, cells: int, live: tuple[int | None, ...]) -> State:
    """At two_page_v5_14's geometry, after percpu_enable_async(): chunk 2
    holds one-cell areas at the set bits of `cells`, both its pages
    populated; chunk 3 is fully free and populated; the counter is 3 (the
    first chunk's free page and chunk 3's two).  live[i]: the offset in
    chunk 2 of context i's allocation (None: it holds none)."""
    s = m.init()
    held = tuple(o is not None for o in live)
    return upd(
        s,
        pcpu_async_enabled=True,
        live=(True, True, True, True),
        linked=(True, False, True, True),
        alloc_map=s.alloc_map[:2] + (cells, 0),
        bound_map=s.bound_map[:2] + (cells, 0),
        populated=s.populated[:2] + (0b11, 0b11),
        nr_empty_pop_pages=3,
        live_valid=held,
        live_chunk=tuple(2 if h else 0 for h in held),
        live_off=tuple(o or 0 for o in live),
        live_size=tuple(1 if h else 0 for h in held),
    )


def step(m: Model, s: State, name: str, ctx: int | None = None, **choices: int) -> State:
    """`s` after the one action `name` of context `ctx` enabled there, its
    choices 0 unless given."""
    (a,) = [a for a in m.actions if a.name == name and a.ctx == ctx and a.at(X, s)]
    ch = {c: choices.get(c, 0) for c in a.choices}
    enabled, t = m.step(X, s, a, ch)
    assert enabled, name
    return t


def enabled(m: Model, s: State, name: str, ctx: int | None = None) -> bool:
    return any(a.name == name and a.ctx == ctx and a.at(X, s) for a in m.actions)


def holds(m: Model, s: State, prop: str) -> bool:
    return PROPERTIES[prop].holds(X, m.kernel, s)
