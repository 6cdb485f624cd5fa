"""The allocation side's steps of the parameterized relation (relation.py):
pcpu_alloc's search, its moves, chunk population and creation, the finish,
and free_percpu.
"""

from __future__ import annotations

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
    in_slots,
    occupied,
    set_area,
    touched,
    upd,
)
from percpu_mc.model.control import AllocPc


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
