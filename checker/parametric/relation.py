"""The parameterized interpretation of v4.13-counter-fix: every geometry at once.

model/ops.py unrolls the geometry in Python (a tuple per chunk, context and
live allocation, a bit-vector per chunk's cells), so a proof over it holds
for one geometry.  Here the same state is Z3 arrays indexed by integers and
the geometry is symbolic: `Scope` holds the number of contexts, live
allocation slots, chunk structs, cells of a unit, the first chunk's static
cells and whether a reserved chunk exists, either as free constants (the
parametric proof) or as the numbers of one spec (the conformance check,
checker/parametric/conformance.py, which shows that every step of the
finite model is a step of this relation there).

Only what the proofs read is kept: chunk liveness, the pcpu_slot[] and
to_free lists, the map-extension list, the cells in use, the populated
pages, pcpu_nr_empty_pop_pages (and v4.13's occ_pages), the program
counters, pcpu_alloc_mutex, and who holds which area.  Everything else (map
sizes, async, the request's alignment, the balance work's scheduling and
nr_to_pop) is left out, so the steps that only change those are stutters
here, and the choices the kernel makes by rule (which chunk of a slot, the
first fit, the slot a live pointer goes to, which free chunks the balance
work collects, which unpopulated pages a population takes) are free choices
constrained only by what makes them legal: a looser relation, sound for
safety.  A counter move is a `cnt` over the pages of the chunk the step
changes (Scope.count_pages), as the kernel counts them.

Written for the switches of v4.13-counter-fix (whole-call pcpu_alloc_mutex,
the balance-list map extension, free-and-populate balance work, no
partial depopulation, the counter moved with the area map); two other
switches are interpreted for the negative controls: `map_extension =
"work-item"` (1a4d76076cda's per chunk map_extend_work, CVE-2016-4794's
first half) and v4.13's counter (`counter = "after-population"`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import z3

from percpu_mc.checker.parametric.alloc_steps import (
    _finish,
    _free,
    _move,
    _populate,
    _populate_fail,
    _search,
)
from percpu_mc.checker.parametric.balance_steps import (
    _balance_create,
    _balance_populate,
    _bmove,
    _collect,
    _destroy,
    _ext_done,
    _ext_pick,
    _ext_start,
    _pick,
)
from percpu_mc.checker.parametric.scope import (
    Design,
    PState,
    Scope,
    Step,
    Transition,
    Witness,
    page_empty,
)
from percpu_mc.model.control import AllocPc, BalancePc

# --- the initial state --------------------------------------------------------


def initial(S: Scope, s: PState) -> Any:
    """After pcpu_setup_first_chunk(): the first chunk (and the reserved one)
    live and fully populated, the first chunk linked with its static cells
    in use and the rest free, the counter its empty pages; no context
    inside the allocator, no live allocation, the mutex free, the balance
    work idle.  What it leaves free (the reserved chunk's map, dead
    chunks' maps, dead locals) no proof reads."""
    idle = int(AllocPc.IDLE)
    return z3.And(
        S.chunks(
            lambda c: z3.And(
                s.live[c] == z3.Or(c == 0, z3.And(S.R, c == 1)),
                s.linked[c] == (c == 0),
                z3.Not(s.to_free[c]),
                z3.Not(s.mep[c]),
                z3.Not(s.ext_running[c]),
                S.pages(lambda pg: s.pop[c][pg] == s.live[c]),
            )
        ),
        S.cells_in(0, S.STATIC, lambda k: s.amap[0][k]),
        S.cells_in(S.STATIC, S.C, lambda k: z3.Not(s.amap[0][k])),
        s.ctr == S.count_pages(lambda pg: page_empty(S, s.amap[0], pg)),
        S.contexts(lambda i: s.pc[i] == idle),
        S.slots(lambda h: z3.Not(s.lv[h])),
        s.mutex == 0,
        s.bpc == int(BalancePc.IDLE),
    )


# --- the transitions (their steps: alloc_steps.py, balance_steps.py) ---------


def _context_chunk(S: Scope, s: PState, w: Witness) -> list[tuple[PState, Any]]:
    return [(s, s.chunk[w["i"]])]


def _stutter(S: Scope, s: PState, w: Witness) -> Step:
    return z3.BoolVal(True), s


def transitions(design: Design = Design()) -> list[Transition]:
    """The relation of v4.13-counter-fix, or of the negative controls'
    designs (Design): map_extension = "work-item" (its 1a4d76076cda
    mutant), counter = "after-population" (v4.13's counter, moved by
    occ_pages after the population, which the population counts, and not
    at all by a failed population), the injected counter bugs."""
    balance_list = design.map_extension == "balance-list"
    flags = {"balance_list": balance_list, "design": design}

    def with_flags(t: Transition) -> Transition:
        fn = t.fn
        return replace(t, fn=lambda S, s, w: fn(S, s, {**w, **flags}))

    A, B = AllocPc, BalancePc
    out = [Transition("stutter", "a step that changes nothing proved here", (), _stutter)]
    out += [_search("atomic", o) for o in ("area", "fail")]
    for entry in ("nonatomic", "restart", "create", "create-skip"):
        out += [
            _search(entry, o) for o in ("extend", "area-populate", "area-done", "create", "fail")
        ]
    out += [
        _move("extend", "pcpu_extend_area_map(): done, goto restart", A.EXTEND, A.RESTART, "keep"),
        _move(
            "extend-fail", "pcpu_extend_area_map() failed: fail", A.EXTEND, A.IDLE, "release-mine"
        ),
        Transition(
            "populate",
            "pcpu_populate_chunk(): next region",
            (("i", "int"), ("region", "set")),
            _populate(False),
            _context_chunk,
        ),
        Transition(
            "populate-done",
            "pcpu_populate_chunk(): the last region, mutex_unlock",
            (("i", "int"), ("region", "set")),
            _populate(True),
            _context_chunk,
        ),
        Transition(
            "populate-fail",
            "pcpu_populate_chunk() failed: pcpu_free_area()",
            (("i", "int"),),
            _populate_fail,
            _context_chunk,
        ),
        Transition(
            "finish",
            "pcpu_alloc(): pcpu_lock: LOW check; return the pointer",
            (("i", "int"), ("h", "int"), ("put", "bool")),
            _finish,
        ),
        Transition(
            "free",
            "free_percpu(): pcpu_lock: pcpu_free_area()",
            (("i", "int"), ("h", "int")),
            _free,
            lambda S, s, w: [(s, s.lc[w["h"]])],
        ),
        _bmove("balance-start", "workqueue: pcpu_balance_work starts", B.IDLE, B.MUTEX),
        (
            Transition(
                "balance-collect",
                "pcpu_balance_workfn(): mutex_lock; free chunks to to_free",
                (("mv", "set"), ("destroy", "bool")),
                _collect,
            )
        ),
        (
            Transition(
                "balance-destroy",
                "pcpu_balance_workfn(): pcpu_destroy_chunk()",
                (("c", "int"), ("more", "bool")),
                _destroy,
                lambda S, s, w: [(s, w["c"])],
            )
        ),
    ]
    if balance_list:
        out += [
            Transition(
                "balance-ext-pick",
                "pcpu_balance_workfn(): take a chunk off pcpu_map_extend_chunks",
                (("c", "int"), ("go", "bool")),
                _ext_pick,
            ),
            _bmove("balance-ext-none", "pcpu_map_extend_chunks empty", B.EXT_PICK, B.RETRY_POP),
            _bmove("balance-ext", "pcpu_extend_area_map()", B.EXT, B.EXT_PICK),
        ]
    else:
        out += [
            Transition(
                "map-extend-start",
                "pcpu_map_extend_workfn(): pcpu_need_to_extend()",
                (("c", "int"), ("run", "bool")),
                _ext_start,
            ),
            Transition(
                "map-extend", "pcpu_map_extend_workfn(): extend", (("c", "int"),), _ext_done
            ),
        ]
    out += [
        _bmove("balance-retry-pop", "retry_pop: nr_to_pop", B.RETRY_POP, B.PICK),
        _bmove("balance-retry-pop-end", "retry_pop: nothing to populate", B.RETRY_POP, B.IDLE),
        Transition(
            "balance-pick", "pcpu_balance_workfn(): a chunk to populate", (("c", "int"),), _pick
        ),
        _bmove("balance-pick-none", "no chunk to populate: create", B.PICK, B.CREATE),
    ]
    out += [
        Transition(
            name,
            f"pcpu_populate_chunk(): {then}",
            (("region", "set"),),
            _balance_populate(pc),
            lambda S, s, w: [(s, s.bchunk)],
        )
        for name, then, pc in (
            ("balance-populate", "more", B.POP),
            ("balance-populate-next", "next chunk", B.PICK),
            ("balance-populate-end", "done", B.IDLE),
        )
    ]
    out += [
        Transition(
            "balance-create",
            "pcpu_balance_workfn(): pcpu_create_chunk()",
            (("n", "int"),),
            _balance_create,
            lambda S, s, w: [(s, w["n"])],
        ),
        _bmove("balance-create-fail", "pcpu_create_chunk() failed", B.CREATE, B.IDLE),
    ]
    return [with_flags(t) for t in out]
