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
from typing import Any, Callable

import z3

from percpu_mc.checker.parametric.scope import (
    Design,
    PState,
    Scope,
    Step,
    Transition,
    Witness,
    area_free,
    area_populated,
    clear_area,
    fully_free,
    in_slots,
    occupied,
    page_empty,
    set_area,
    touched,
    upd,
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


# --- the transitions ------------------------------------------------------------


def _set_local(s: PState, i: Any, pc: Any, c: Any, off: Any, size: Any) -> PState:
    return upd(
        s,
        pc=z3.Store(s.pc, i, pc),
        chunk=z3.Store(s.chunk, i, c),
        off=z3.Store(s.off, i, off),
        size=z3.Store(s.size, i, size),
    )


def _release_if_mine(s: PState, i: Any) -> Any:
    return z3.If(s.mutex == i + 1, 0, s.mutex)


def _schedule_map_extend(s: PState, sched: Any) -> Any:
    """pcpu_need_to_extend(chunk, true) on chunks the scan reached: only
    chunks on pcpu_slot[] join the extension list."""
    c = z3.Int("c!sched")
    return z3.Lambda([c], z3.Or(s.mep[c], z3.And(sched[c], in_slots(s, c))))


def _create(S: Scope, s: PState, n: Any) -> tuple[Any, PState]:
    """pcpu_create_chunk() + pcpu_chunk_relocate(): a dead dynamic struct
    becomes a live, linked chunk with no cell in use and no page populated."""
    guard = z3.And(S.dynamic(n), z3.Not(s.live[n]))
    empty = z3.K(z3.IntSort(), z3.BoolVal(False))
    post = upd(
        s,
        live=z3.Store(s.live, n, True),
        linked=z3.Store(s.linked, n, True),
        amap=z3.Store(s.amap, n, empty),
        pop=z3.Store(s.pop, n, empty),
    )
    return guard, post


SEARCH_CHOICES = (("i", "int"), ("c", "int"), ("off", "int"), ("size", "int"), ("sched", "set"))


def _search(entry: str, outcome: str) -> Transition:
    """A pcpu_lock section that scans pcpu_slot[] (or the reserved chunk),
    entered from `entry` (atomic or non-atomic pcpu_alloc(), restart, chunk
    creation, or the creation skipped: the free slot has a chunk, or
    pcpu_create_chunk() failed), ending in `outcome`.  The scan's choice of chunk and area is
    free among the legal ones."""
    pre = {
        "atomic": AllocPc.IDLE,
        "nonatomic": AllocPc.IDLE,
        "restart": AllocPc.RESTART,
        "create": AllocPc.CREATE,
        "create-skip": AllocPc.CREATE,
    }[entry]
    extra = (("n", "int"),) if entry == "create" else ()

    def fn(S: Scope, s: PState, w: Witness) -> Step:
        i, c, off, size = w["i"], w["c"], w["off"], w["size"]
        guard = [S.context(i), s.pc[i] == int(pre)]
        if entry == "nonatomic":
            # 6710e594f71c: mutex_lock(&pcpu_alloc_mutex) for the whole call
            guard.append(s.mutex == 0)
            s = upd(s, mutex=i + 1)
        if entry == "create":
            ok, s = _create(S, s, w["n"])
            guard.append(ok)
        s = upd(s, mep=_schedule_map_extend(s, w["sched"]))
        allocatable = z3.And(S.chunk(c), z3.Or(in_slots(s, c), z3.And(S.R, c == 1)))
        if outcome == "extend":
            guard.append(z3.And(S.chunk(c), in_slots(s, c)))
            return z3.And(*guard), _set_local(s, i, int(AllocPc.EXTEND), c, off, size)
        if outcome in ("area", "area-populate", "area-done"):
            guard += [allocatable, area_free(S, s, c, off, size)]
            d: Design = w["design"]
            if outcome == "area-done" or (outcome == "area" and d.atomic_fit_pop_only):
                # an atomic request fits populated cells only (1a4d76076cda);
                # area-done: every page of the area is populated
                guard.append(area_populated(S, s, c, off, size))
            occ = occupied(S, s, c, off, size, d.counter == "with-area", d.occupied_tail_test)
            if d.counter == "with-area":
                # the fix: pcpu_alloc_area() takes off the populated pages it
                # makes non-empty, in the same pcpu_lock section (v4.14)
                s = upd(s, ctr=s.ctr - z3.If(S.normal(c), occ, 0))
            else:
                # v4.13: occ_pages = pcpu_alloc_area()'s count, every page
                s = upd(s, occ=z3.Store(s.occ, i, occ))
            s = upd(s, amap=z3.Store(s.amap, c, set_area(s.amap[c], off, size)))
            if outcome == "area-populate":
                return z3.And(*guard), _set_local(s, i, int(AllocPc.POPULATE), c, off, size)
            if outcome == "area-done":
                s = upd(s, mutex=0)  # every page populated: mutex_unlock()
            return z3.And(*guard), _set_local(s, i, int(AllocPc.COUNTER), c, off, size)
        if outcome == "create":
            return z3.And(*guard), _set_local(s, i, int(AllocPc.CREATE), c, off, size)
        # fail: return NULL, unlocking the mutex if this call holds it
        s = upd(s, mutex=_release_if_mine(s, i))
        return z3.And(*guard), _set_local(s, i, int(AllocPc.IDLE), c, off, size)

    outcomes = "pcpu_alloc_area() and on" if "area" in outcome else outcome

    def touches(S: Scope, s: PState, w: Witness) -> list[tuple[PState, Any]]:
        area = [(s, w["c"])] if "area" in outcome else []
        if entry != "create":
            return area
        # the chunk made, then the area in the state after it
        _, mid = _create(S, s, w["n"])
        return [(s, w["n"])] + [(mid, w["c"])] if area else [(s, w["n"])]

    return Transition(
        f"search[{entry}->{outcome}]",
        f"pcpu_alloc(): pcpu_lock: scan ({entry}), {outcomes}",
        SEARCH_CHOICES + extra,
        fn,
        touches,
    )


def _move(name: str, kernel: str, pre: AllocPc, post: AllocPc, mutex: str) -> Transition:
    """A context step that changes only its program counter and the mutex
    (`keep`, or `release-mine`)."""

    def fn(S: Scope, s: PState, w: Witness) -> Step:
        i = w["i"]
        m = {"keep": s.mutex, "release-mine": _release_if_mine(s, i)}
        return z3.And(S.context(i), s.pc[i] == int(pre)), upd(
            s, pc=z3.Store(s.pc, i, int(post)), mutex=m[mutex]
        )

    return Transition(name, kernel, (("i", "int"),), fn)


def _populate(done: bool) -> Callable[[Scope, PState, Witness], Step]:
    """pcpu_populate_chunk() of the next unpopulated region of the area
    (pcpu_alloc_mutex); pcpu_lock: pcpu_chunk_populated(), which with the
    area already counted adds nothing (v4.14), and in v4.13 adds the pages
    it populates; `done`: every page of the area is then populated,
    mutex_unlock(&pcpu_alloc_mutex)."""

    def fn(S: Scope, s: PState, w: Witness) -> Step:
        i, region = w["i"], w["region"]
        c, off, size = s.chunk[i], s.off[i], s.size[i]
        pg = z3.Int("pg!pop")
        grown = z3.Lambda([pg], z3.Or(s.pop[c][pg], z3.And(touched(S, pg, off, size), region[pg])))
        post = upd(s, pop=z3.Store(s.pop, c, grown))
        if w["design"].counter != "with-area":
            added = S.count_pages(
                lambda k: z3.And(touched(S, k, off, size), region[k], z3.Not(s.pop[c][k]))
            )
            post = upd(post, ctr=s.ctr + added)
        guard = [S.context(i), s.pc[i] == int(AllocPc.POPULATE)]
        if done:
            guard.append(area_populated(S, post, c, off, size))
            post = upd(post, pc=z3.Store(s.pc, i, int(AllocPc.COUNTER)), mutex=z3.IntVal(0))
        return z3.And(*guard), post

    return fn


def _populate_fail(S: Scope, s: PState, w: Witness) -> Step:
    # pcpu_populate_chunk() failed: pcpu_lock: pcpu_free_area(), giving back
    # what free_percpu() would (the populated pages it empties; v4.13:
    # nothing, the drift); mutex_unlock; fail
    i, d = w["i"], w["design"]
    c, off, size = s.chunk[i], s.off[i], s.size[i]
    back = occupied(S, s, c, off, size, True, d.occupied_tail_test)
    back = z3.If(z3.And(d.counter == "with-area", S.normal(c)), back, 0)
    post = upd(
        s,
        amap=z3.Store(s.amap, c, clear_area(s.amap[c], off, size)),
        ctr=s.ctr + back,
        mutex=0,
        pc=z3.Store(s.pc, i, int(AllocPc.IDLE)),
    )
    return z3.And(S.context(i), s.pc[i] == int(AllocPc.POPULATE)), post


def _finish(S: Scope, s: PState, w: Witness) -> Step:
    # return the percpu pointer: it goes to a free slot (`put`), or, with
    # none free, nowhere (the model's contexts always have room)
    i, h, put = w["i"], w["h"], w["put"]
    guard = z3.And(
        S.context(i),
        s.pc[i] == int(AllocPc.COUNTER),
        z3.Implies(put, z3.And(S.slot(h), z3.Not(s.lv[h]))),
    )
    held = upd(
        s,
        lv=z3.Store(s.lv, h, True),
        lc=z3.Store(s.lc, h, s.chunk[i]),
        lo=z3.Store(s.lo, h, s.off[i]),
        ls=z3.Store(s.ls, h, s.size[i]),
    )
    post = upd(
        s, **{f: z3.If(put, getattr(held, f), getattr(s, f)) for f in ("lv", "lc", "lo", "ls")}
    )
    if w["design"].counter != "with-area":
        # v4.13: pcpu_lock: pcpu_nr_empty_pop_pages -= occ_pages (not the reserved chunk's)
        post = upd(post, ctr=s.ctr - z3.If(S.normal(s.chunk[i]), s.occ[i], 0))
    return guard, upd(post, pc=z3.Store(s.pc, i, int(AllocPc.IDLE)))


def _free(S: Scope, s: PState, w: Witness) -> Step:
    # free_percpu(): pcpu_lock: pcpu_free_area() of a held allocation, and
    # pcpu_nr_empty_pop_pages += the pages it empties (not the reserved chunk's)
    i, h, d = w["i"], w["h"], w["design"]
    c = s.lc[h]
    guard = z3.And(S.context(i), s.pc[i] == int(AllocPc.IDLE), S.slot(h), s.lv[h])
    back = occupied(S, s, c, s.lo[h], s.ls[h], False, d.occupied_tail_test)
    back = z3.If(z3.And(d.free_counts_pages, S.normal(c)), back, 0)
    post = upd(
        s,
        amap=z3.Store(s.amap, c, clear_area(s.amap[c], s.lo[h], s.ls[h])),
        lv=z3.Store(s.lv, h, False),
        ctr=s.ctr + back,
    )
    return guard, post


def _bmove(name: str, kernel: str, pre: BalancePc, post: BalancePc) -> Transition:
    """A balance work step that changes only its program counter; to IDLE
    it ends the run: mutex_unlock(&pcpu_alloc_mutex) (the run holds it from
    the collect step on)."""

    def fn(S: Scope, s: PState, w: Witness) -> Step:
        out = upd(s, bpc=z3.IntVal(int(post)))
        if post == BalancePc.IDLE and pre != BalancePc.IDLE:
            out = upd(out, mutex=z3.IntVal(0))
        return s.bpc == int(pre), out

    return Transition(name, kernel, (), fn)


def _after_phase1(w: Witness) -> int:
    """Where the balance work goes once to_free is empty: the map extension
    list (4f996e234dad), or phase 2."""
    return int(BalancePc.EXT_PICK if w["balance_list"] else BalancePc.RETRY_POP)


def _collect(S: Scope, s: PState, w: Witness) -> Step:
    # mutex_lock(&pcpu_alloc_mutex); pcpu_lock: free chunks of the free slot to to_free
    mv, destroy = w["mv"], w["destroy"]
    c = z3.Int("c!mv")
    guard = z3.And(
        s.bpc == int(BalancePc.MUTEX),
        s.mutex == 0,
        S.chunks(
            lambda j: z3.Implies(mv[j], z3.And(S.normal(j), in_slots(s, j), fully_free(S, s, j)))
        ),
        z3.Or(destroy, S.chunks(lambda j: z3.Not(mv[j]))),
    )
    post = upd(
        s,
        mutex=S.balance_owner(),
        to_free=mv,
        linked=z3.Lambda([c], z3.And(s.linked[c], z3.Not(mv[c]))),
        bpc=z3.If(destroy, int(BalancePc.DESTROY), _after_phase1(w)),
    )
    if w["balance_list"]:
        # 4f996e234dad: list_del_init(&chunk->map_extend_list)
        post = upd(post, mep=z3.Lambda([c], z3.And(s.mep[c], z3.Not(mv[c]))))
    return guard, post


def _destroy(S: Scope, s: PState, w: Witness) -> Step:
    # phase 1: pcpu_depopulate_chunk(), pcpu_chunk_depopulated() (the
    # counter loses the chunk's populated pages), pcpu_destroy_chunk() of a
    # to_free chunk
    c, more = w["c"], w["more"]
    post = upd(
        s,
        live=z3.Store(s.live, c, False),
        to_free=z3.Store(s.to_free, c, False),
        pop=z3.Store(s.pop, c, z3.K(z3.IntSort(), z3.BoolVal(False))),
        ctr=s.ctr - S.count_pages(lambda pg: s.pop[c][pg]),
    )
    guard = z3.And(
        s.bpc == int(BalancePc.DESTROY),
        S.chunk(c),
        s.to_free[c],
        z3.Or(more, S.chunks(lambda j: z3.Not(post.to_free[j]))),
    )
    return guard, upd(post, bpc=z3.If(more, int(BalancePc.DESTROY), _after_phase1(w)))


def _ext_pick(S: Scope, s: PState, w: Witness) -> Step:
    # 4f996e234dad: pcpu_lock: take a chunk off pcpu_map_extend_chunks
    c, go = w["c"], w["go"]
    guard = z3.And(s.bpc == int(BalancePc.EXT_PICK), S.chunk(c), s.mep[c])
    post = upd(
        s,
        mep=z3.Store(s.mep, c, False),
        bchunk=c,
        bpc=z3.If(go, int(BalancePc.EXT), int(BalancePc.EXT_PICK)),
    )
    return guard, post


def _pick(S: Scope, s: PState, w: Witness) -> Step:
    # phase 2: pcpu_lock: a chunk of pcpu_slot[] with unpopulated pages
    c = w["c"]
    guard = z3.And(s.bpc == int(BalancePc.PICK), S.chunk(c), in_slots(s, c))
    return guard, upd(s, bchunk=c, bpc=z3.IntVal(int(BalancePc.POP)))


def _balance_create(S: Scope, s: PState, w: Witness) -> Step:
    # phase 2: pcpu_create_chunk(); pcpu_lock: relocate; goto retry_pop
    ok, post = _create(S, s, w["n"])
    return z3.And(s.bpc == int(BalancePc.CREATE), ok), upd(
        post, bpc=z3.IntVal(int(BalancePc.RETRY_POP))
    )


def _ext_start(S: Scope, s: PState, w: Witness) -> Step:
    # 1a4d76076cda: the workqueue runs chunk->map_extend_work: pcpu_lock,
    # pcpu_need_to_extend(); no reference on the chunk, no mutex
    c, run = w["c"], w["run"]
    guard = z3.And(S.chunk(c), s.mep[c], z3.Not(s.ext_running[c]))
    return guard, upd(s, mep=z3.Store(s.mep, c, False), ext_running=z3.Store(s.ext_running, c, run))


def _ext_done(S: Scope, s: PState, w: Witness) -> Step:
    # 1a4d76076cda: pcpu_extend_area_map(chunk, new_alloc), no mutex
    c = w["c"]
    return z3.And(S.chunk(c), s.ext_running[c]), upd(
        s, ext_running=z3.Store(s.ext_running, c, False)
    )


def _balance_populate(post_pc: BalancePc) -> Callable[[Scope, PState, Witness], Step]:
    """pcpu_populate_chunk() of the balance work's chunk (pcpu_alloc_mutex);
    pcpu_lock: pcpu_chunk_populated(), the counter gains the pages it
    populates; then more of the chunk, the next chunk, or the end of the run."""

    def fn(S: Scope, s: PState, w: Witness) -> Step:
        c, region = s.bchunk, w["region"]
        pg = z3.Int("pg!bpop")
        grown = z3.Lambda([pg], z3.Or(s.pop[c][pg], region[pg]))
        added = S.count_pages(lambda k: z3.And(region[k], z3.Not(s.pop[c][k])))
        out = upd(s, pop=z3.Store(s.pop, c, grown), ctr=s.ctr + added, bpc=z3.IntVal(int(post_pc)))
        if post_pc == BalancePc.IDLE:
            out = upd(out, mutex=z3.IntVal(0))
        return s.bpc == int(BalancePc.POP), out

    return fn


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
