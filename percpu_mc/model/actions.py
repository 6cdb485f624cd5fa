"""The actions: one per lock-delimited step of the kernel code.

Each action is `guard, effect` on a State, written once against `Ops`.  Its
choices (request size, which chunk of a pcpu_slot[] list, whether a
GFP_KERNEL allocation fails) are inputs the checker explores.

Abstractions, and why they are sound for the properties:
* the order of chunks inside one pcpu_slot[] list is not modelled: where the
  kernel takes the first suitable chunk of the lowest slot, the model takes
  any suitable chunk of the lowest slot (a `chunk` choice);
* contig_hint is replaced by the exact largest free run (the hint is only an
  upper bound, used to skip chunks early);
* consecutive empty slot scans of the balance work's phase 2 are one step,
  and a step that ends in `mutex_unlock` also releases the mutex: the
  interleavings lost commute with the merged step (nothing else touches what
  the merged step touches in between);
* an atomic pcpu_alloc() schedules map extension for the chunk it allocates
  from, or, when it fails, for every chunk large enough that it visited;
* the reserved chunk's own map extension is not modelled (it is never
  destroyed, so no property depends on it).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable

from percpu_mc.model.ops import Ops, Val, select, store
from percpu_mc.model.params import PCPU_ATOMIC_MAP_MARGIN_LOW, PCPU_DFL_MAP_ALLOC, Params
from percpu_mc.model.state import (AllocPc, BalancePc, Geometry, Isolated, MUTEX_FREE, State,
                         alloc_owner, area_mask, area_pages, balance_owner,
                         chunk_slot, empty_pages, first_n_bits, first_run, fit_offsets, full,
                         fully_free, ite_state, map_used, max_run_fits,
                         need_to_extend, nr_empty_pop, occupied_pages, upd)
from percpu_mc.model.vocabulary import (BALANCE_WORK, INIT, Context, Kind, Role, alloc_context,
                                        map_extend_work)


@dataclass(frozen=True)
class Events:
    """What a step did that the history variables observe."""
    alloc_step: bool = False      # a step of pcpu_alloc() (not free_percpu)
    atomic_fail: Any = False      # an atomic, non-reserved pcpu_alloc() failed
    env_fail: Any = False         # chunk creation or page population failed


Step = tuple[Any, State, Events]
Choices = dict[str, Val]


@dataclass(frozen=True)
class Action:
    """One step.  `at` is the first conjunct of its guard: where the code runs
    (a program counter) and the lock it waits for; `fn` returns the rest of
    the guard (which choices are the kernel's), the successor and its events."""
    name: str          # kernel function and step, for display
    context: Context   # who runs it
    kernel: str        # the code it models and the lock it holds
    choices: tuple[str, ...]
    at: Callable[[Ops, State], Any]
    fn: Callable[[Ops, State, Choices], Step]
    kind: Kind         # what step it is, and what it may print in a log
    atomic: bool = False  # Kind.ALLOC: a GFP_ATOMIC request

    @property
    def ctx(self) -> int | None:
        """The allocating context that runs it (None: not one)."""
        return self.context.index if self.context.role is Role.ALLOC else None


def at_pc(where: Callable[[State], Val], pc: int, mutex: bool) -> Callable[[Ops, State], Any]:
    """An action's `at`: the context is at `pc` (and, if `mutex`, the
    pcpu_alloc_mutex it is about to take is free)."""
    if mutex:
        return lambda x, s: x.and_(x.eq(where(s), int(pc)), x.eq(s.alloc_mutex, MUTEX_FREE))
    return lambda x, s: x.eq(where(s), int(pc))


class Kernel:
    """The actions of one spec: parameters and switches bound."""

    def __init__(self, p: Params):
        self.p = p
        self.g = Geometry(p)
        self.sw = p.switches
        self.bal = balance_owner(p)

    # --- helpers shared by actions -----------------------------------------

    def domains(self) -> dict[str, tuple[int, ...]]:
        p = self.p
        return {
            "size": p.sizes, "align": p.aligns,
            "reserved": (0, 1) if p.has_reserved else (0,),
            "chunk": tuple(range(p.nr_chunks)), "fail": (0, 1),
            "live": tuple(range(p.live_per_context)),
        }

    def normal_chunks(self) -> range | list[int]:
        """Chunk structs that may sit in pcpu_slot[] (all but the reserved)."""
        p = self.p
        return [c for c in range(p.nr_chunks) if not (p.has_reserved and c == p.reserved_index)]

    def schedule_balance(self, x: Ops, s: State, cond: Any) -> State:
        """pcpu_schedule_balance_work(): schedule_work() once async is enabled."""
        gate = s.pcpu_async_enabled if self.sw.async_gate else True
        return upd(s, balance_pending=x.or_(s.balance_pending, x.and_(cond, gate)))

    def schedule_map_extend(self, x: Ops, s: State, c: Val, cond: Any) -> State:
        """pcpu_need_to_extend(atomic): ask for the map to grow asynchronously."""
        g = self.g
        if self.sw.area_map == "bitmap":
            return s
        low = x.lt(select(x, s.map_alloc, c),
                   map_used(x, g, select(x, s.alloc_map, c), select(x, s.bound_map, c))
                   + PCPU_ATOMIC_MAP_MARGIN_LOW)
        want = x.and_(cond, low)
        old = select(x, s.map_extend_pending, c)
        if self.sw.map_extension == "work-item":
            # 1a4d76076cda: schedule_work(&chunk->map_extend_work), gated
            gate = s.pcpu_async_enabled if self.sw.async_gate else True
            return upd(s, map_extend_pending=store(
                x, s.map_extend_pending, c, x.or_(old, x.and_(want, gate))))
        # 4f996e234dad: list_add_tail(&chunk->map_extend_list) and schedule balance
        s = upd(s, map_extend_pending=store(x, s.map_extend_pending, c, x.or_(old, want)))
        return self.schedule_balance(x, s, x.and_(want, x.not_(old)))

    def candidate(self, x: Ops, s: State, c: int, size: Val, align: Val, atomic: bool) -> Any:
        """Chunk c is where pcpu_alloc()'s slot scan stops: it extends c's map
        (non-atomic) or allocates from it."""
        g = self.g
        amap, pop = s.alloc_map[c], s.populated[c]
        usable = x.and_(self.in_slots(x, s, c), max_run_fits(x, g, amap, size))
        pop_only = atomic and self.sw.atomic_fit_pop_only
        fits = x.not_(x.eq(fit_offsets(x, g, amap, pop, size, align, pop_only), 0))
        if atomic:
            return x.and_(usable, x.eq(need_to_extend(x, g, s, c, True), 0), fits)
        return x.and_(usable, x.or_(fits, x.not_(x.eq(need_to_extend(x, g, s, c, False), 0))))

    def pick(self, x: Ops, cands: dict[int, Any], slots: dict[int, Val], c: Val) -> tuple[Any, Any]:
        """(some candidate exists, c is a candidate in the lowest such slot);
        when none exists c must be 0, so the choice adds no duplicate runs."""
        any_c = x.or_(*cands.values())
        ok = x.or_(*[x.and_(x.eq(c, i), cand,
                            *[x.or_(x.not_(cands[j]), x.le(slots[i], slots[j])) for j in cands])
                     for i, cand in cands.items()])
        return any_c, x.ite(any_c, ok, x.eq(c, 0))

    def set_pc(self, x: Ops, s: State, i: int, pc: Val) -> State:
        return upd(s, pc=store(x, s.pc, i, pc))

    def take_mutex(self, s: State, owner: int) -> State:
        return upd(s, alloc_mutex=owner)

    def release_mutex(self, s: State) -> State:
        return upd(s, alloc_mutex=MUTEX_FREE)

    def new_chunk(self, x: Ops, s: State, fail: Val, relocate: bool = True) -> tuple[Any, State]:
        """pcpu_create_chunk() + pcpu_chunk_relocate(chunk, -1) (unless not
        `relocate`): (created, state); the lowest free struct is used.  A
        fresh chunk: empty map of PCPU_DFL_MAP_ALLOC entries, nothing
        populated.  With every struct in use it fails."""
        free_idx = list(range(self.p.first_dynamic, self.p.nr_chunks))
        idx: Val = 0
        for c in reversed(free_idx):
            idx = x.ite(x.not_(s.live[c]), c, idx)
        ok = x.and_(x.eq(fail, 0), x.or_(*[x.not_(s.live[c]) for c in free_idx]))
        made = s
        for c in free_idx:
            hit = x.and_(ok, x.eq(idx, c))
            made = upd(
                made,
                live=store(x, made.live, c, x.or_(made.live[c], hit)),
                linked=store(x, made.linked, c, x.or_(made.linked[c], hit) if relocate
                             else made.linked[c]),
                alloc_map=store(x, made.alloc_map, c, x.ite(hit, 0, made.alloc_map[c])),
                bound_map=store(x, made.bound_map, c, x.ite(hit, 0, made.bound_map[c])),
                populated=store(x, made.populated, c, x.ite(hit, 0, made.populated[c])),
                map_alloc=store(x, made.map_alloc, c,
                                x.ite(hit, PCPU_DFL_MAP_ALLOC, made.map_alloc[c])))
        return ok, made

    def occupied(self, x: Ops, amap_in_use: Val, area: Val, populated: Val | None = None) -> Val:
        """pcpu_count_occupied_pages(), as the variant counts it; `populated`
        (pcpu_alloc) is what was populated before the allocation (counted
        alone where the population for the allocation is not counted)."""
        g, sw = self.g, self.sw
        populated_only = sw.occ_pages_counts == "populated-before" or sw.occ_pages_subtracted == "with-area"
        if sw.occupied_tail_test == ">=" and (populated is None or not populated_only):
            return occupied_pages(x, g, amap_in_use, area)
        others = amap_in_use & x.bnot(area, g.cells)
        out: Val = 0
        for pg, m in enumerate(g.page_masks):
            hit = x.and_(x.not_(x.eq(area & m, 0)), x.eq(others & m, 0))
            if sw.occupied_tail_test == ">":
                # off by one: a tail page the area ends inside counts only if
                # the free run goes on past the page (the chunk's end never does)
                ends_inside = x.not_(x.bit(area, (pg + 1) * g.cpp - 1))
                past = (x.not_(x.bit(others, (pg + 1) * g.cpp)) if pg + 1 < g.pages else False)
                hit = x.and_(hit, x.or_(x.not_(ends_inside), past))
            if populated is not None and populated_only:
                hit = x.and_(hit, x.bit(populated, pg))
            out = out + x.ite(hit, 1, 0)
        return out

    def in_slots(self, x: Ops, s: State, c: int) -> Any:
        """On a pcpu_slot[] list pcpu_alloc() and the balance work scan (an
        isolated chunk sits on a list past pcpu_free_slot)."""
        return x.and_(s.live[c], s.linked[c], x.eq(s.isolated[c], int(Isolated.NO)))

    def free_slot_empty(self, x: Ops, s: State) -> Any:
        """list_empty(&pcpu_slot[pcpu_nr_slots - 1])."""
        return x.not_(x.or_(*[x.and_(self.in_slots(x, s, c), fully_free(x, s.alloc_map[c]))
                              for c in self.normal_chunks()]))

    # --- pcpu_alloc() -------------------------------------------------------

    def search(self, x: Ops, s: State, i: int, c: Val, atomic: bool) -> Step:
        """restart: the pcpu_lock section of pcpu_alloc() that scans for an
        area: the reserved chunk, or pcpu_slot[] from the request's slot up."""
        g, p = self.g, self.p
        size, align = s.req_size[i], s.req_align[i]
        slots = {j: chunk_slot(x, g, s.alloc_map[j]) for j in self.normal_chunks()}
        cands = {j: self.candidate(x, s, j, size, align, atomic) for j in self.normal_chunks()}
        found, valid = self.pick(x, cands, slots, c)
        ext = x.ite(atomic, 0, need_to_extend(x, g, s, c, False))
        if p.has_reserved:
            # the reserved path: only pcpu_reserved_chunk; the choice is unused
            r = p.reserved_index
            is_r = s.req_reserved[i]
            r_fit = x.not_(x.eq(fit_offsets(x, g, s.alloc_map[r], s.populated[r], size,
                                            align, False), 0))
            valid = x.ite(is_r, x.eq(c, 0), valid)
            found = x.ite(is_r, r_fit, found)
            c = x.ite(is_r, r, c)
            ext = x.ite(is_r, 0, ext)  # its map extension is not modelled
        else:
            is_r = False
        # found, need to extend first: drop pcpu_lock and extend
        to_extend = upd(self.set_pc(x, s, i, int(AllocPc.EXTEND)),
                        chunk=store(x, s.chunk, i, c), new_alloc=store(x, s.new_alloc, i, ext))
        area = self.alloc_area(x, s, i, c, atomic)
        none = self.no_area(x, s, i, atomic, is_r)
        post = ite_state(x, found, ite_state(x, x.not_(x.eq(ext, 0)), to_extend, area), none)
        evs = Events(alloc_step=True, atomic_fail=x.and_(atomic, x.not_(found), x.not_(is_r)))
        return valid, post, evs

    def alloc_area(self, x: Ops, s: State, i: int, c: Val, atomic: bool) -> State:
        """pcpu_alloc_area() on the first fit, then area_found: unlock."""
        g = self.g
        size, align = s.req_size[i], s.req_align[i]
        amap, pop = select(x, s.alloc_map, c), select(x, s.populated, c)
        pop_only = atomic and self.sw.atomic_fit_pop_only
        off = x.lowest_set(fit_offsets(x, g, amap, pop, size, align, pop_only), g.cells)
        area = area_mask(x, g, off, size)
        new_map = amap | area
        bound = select(x, s.bound_map, c) | x.from_bits([x.eq(off, k) for k in range(g.cells)])
        occ = self.occupied(x, new_map, area, pop)
        s2 = upd(s, alloc_map=store(x, s.alloc_map, c, new_map),
                 bound_map=store(x, s.bound_map, c, bound),
                 chunk=store(x, s.chunk, i, c), off=store(x, s.off, i, off),
                 occ=store(x, s.occ, i, occ))
        if self.sw.occ_pages_subtracted == "with-area":
            counted = x.not_(x.eq(c, self.reserved_or_none()))
            s2 = upd(s2, nr_empty_pop_pages=s2.nr_empty_pop_pages - x.ite(counted, occ, 0))
        if atomic:
            s2 = self.schedule_map_extend(x, s2, c, x.not_(x.eq(c, self.reserved_or_none())))
            return self.set_pc(x, s2, i, int(AllocPc.COUNTER))
        if self.sw.alloc_mutex == "populate-only":
            return self.set_pc(x, s2, i, int(AllocPc.POP_MUTEX))
        return self.populate_or_unlock(x, s2, i)

    def unpopulated(self, x: Ops, s: State, i: int) -> Val:
        """The first unpopulated region of context i's area (pcpu_for_each_unpop_region)."""
        g = self.g
        want = area_pages(x, g, s.off[i], s.req_size[i])
        return first_run(x, g, want & x.bnot(select(x, s.populated, s.chunk[i]), g.pages))

    def populate_or_unlock(self, x: Ops, s: State, i: int) -> State:
        """Holding the mutex: populate what is left, or mutex_unlock() when
        every page of the area is populated."""
        done = self.set_pc(x, self.release_mutex(s), i, int(AllocPc.COUNTER))
        return ite_state(x, x.eq(self.unpopulated(x, s, i), 0), done,
                         self.set_pc(x, s, i, int(AllocPc.POPULATE)))

    def populate_region(self, x: Ops, s: State, i: int, fail: Any) -> State:
        """pcpu_populate_chunk(chunk, rs, re) (pcpu_alloc_mutex), then pcpu_lock:
        pcpu_chunk_populated(); on failure pcpu_free_area(), mutex_unlock, fail."""
        g = self.g
        region = self.unpopulated(x, s, i)
        c = s.chunk[i]
        with_area = self.sw.occ_pages_subtracted == "with-area"
        # with the area: pcpu_chunk_populated(..., for_alloc) adds nothing (v4.14)
        added = x.popcount(region, g.pages) if self.sw.alloc_population_counted and not with_area else 0
        ok = upd(s, populated=store(x, s.populated, c, select(x, s.populated, c) | region),
                 nr_empty_pop_pages=s.nr_empty_pop_pages + added)
        area = area_mask(x, g, s.off[i], s.req_size[i])
        start = x.from_bits([x.eq(s.off[i], k) for k in range(g.cells)])
        amap = select(x, s.alloc_map, c)
        freed = upd(s, alloc_map=store(x, s.alloc_map, c, amap & x.bnot(area, g.cells)),
                    bound_map=store(x, s.bound_map, c, select(x, s.bound_map, c) & x.bnot(start, g.cells)))
        counted = x.not_(x.eq(c, self.reserved_or_none()))
        if with_area:
            # what free_percpu() would give back: the populated pages it empties
            back = self.occupied(x, amap, area, select(x, s.populated, c))
            freed = upd(freed, nr_empty_pop_pages=freed.nr_empty_pop_pages + x.ite(counted, back, 0))
        elif self.sw.populate_fail_counter == "as-free":
            delta = self.occupied(x, amap, area) - s.occ[i]
            freed = upd(freed, nr_empty_pop_pages=freed.nr_empty_pop_pages + x.ite(counted, delta, 0))
        return ite_state(x, fail, self.fail(x, self.release_mutex(freed), i, False),
                         self.populate_or_unlock(x, ok, i))

    def reserved_or_none(self) -> int:
        return self.p.reserved_index if self.p.has_reserved else -1

    def no_area(self, x: Ops, s: State, i: int, atomic: bool, is_r: Any) -> State:
        """No area: an atomic caller fails; a non-atomic one goes to create a chunk."""
        if atomic:
            g = self.g
            size = s.req_size[i]
            for j in self.normal_chunks():
                visited = x.and_(s.live[j], s.linked[j], max_run_fits(x, g, s.alloc_map[j], size))
                s = self.schedule_map_extend(x, s, j, x.and_(x.not_(is_r), visited))
            return self.fail(x, s, i, True)
        nxt = AllocPc.CHUNK_MUTEX if self.sw.alloc_mutex == "populate-only" else AllocPc.CREATE
        return ite_state(x, is_r, self.fail(x, s, i, False), self.set_pc(x, s, i, int(nxt)))

    def fail(self, x: Ops, s: State, i: int, atomic: Any, keep_mutex: bool = False) -> State:
        """fail: return NULL; an atomic failure sets pcpu_atomic_alloc_failed
        and schedules the balance work (1a4d76076cda)."""
        s = self.set_pc(x, s, i, int(AllocPc.IDLE))
        if self.sw.alloc_mutex == "whole-call" and not keep_mutex:
            # 6710e594f71c: every fail path of a non-atomic call unlocks
            s = upd(s, alloc_mutex=x.ite(x.eq(s.alloc_mutex, alloc_owner(i)),
                                             MUTEX_FREE, s.alloc_mutex))
        if self.sw.atomic_fail_schedules:
            if self.sw.atomic_fail_sets_flag:
                s = upd(s, pcpu_atomic_alloc_failed=x.or_(s.pcpu_atomic_alloc_failed, atomic))
            s = self.schedule_balance(x, s, atomic)
        return s

    def finish(self, x: Ops, s: State, i: int) -> State:
        """Return the percpu pointer: the context now holds the allocation."""
        lp = self.p.live_per_context
        slots = range(i * lp, (i + 1) * lp)
        taken: Any = False
        for k in slots:
            put = x.and_(x.not_(taken), x.not_(s.live_valid[k]))
            taken = x.or_(taken, put)
            s = upd(s,
                        live_valid=store(x, s.live_valid, k, x.or_(s.live_valid[k], put)),
                        live_chunk=store(x, s.live_chunk, k, x.ite(put, s.chunk[i], s.live_chunk[k])),
                        live_off=store(x, s.live_off, k, x.ite(put, s.off[i], s.live_off[k])),
                        live_size=store(x, s.live_size, k, x.ite(put, s.req_size[i], s.live_size[k])))
        return self.set_pc(x, s, i, int(AllocPc.IDLE))

    def maybe_isolate(self, x: Ops, s: State, c: Val, cond: Any) -> State:
        """f183324133ea, free_percpu(): else if (pcpu_should_reclaim_chunk(chunk))
        pcpu_isolate_chunk(chunk): its empty pages leave the counter, it moves
        to pcpu_to_depopulate_slot, and the balance work is scheduled."""
        g, p = self.g, self.p
        iso = select(x, s.isolated, c)
        empty = nr_empty_pop(x, g, select(x, s.alloc_map, c), select(x, s.populated, c))
        immutable = x.or_(x.eq(c, 0), x.eq(c, self.reserved_or_none()))
        reclaim = x.and_(cond, x.not_(immutable), x.or_(
            x.and_(x.not_(x.eq(iso, int(Isolated.NO))), x.lt(0, empty)),
            x.and_(x.lt(p.empty_pop_pages_high + empty, s.nr_empty_pop_pages),
                   x.le(p.unit_pages // 4, empty))))
        isolate = upd(s, isolated=store(x, s.isolated, c, int(Isolated.TO_DEPOPULATE)),
                      nr_empty_pop_pages=s.nr_empty_pop_pages
                      - x.ite(x.eq(iso, int(Isolated.NO)), empty, 0))
        return ite_state(x, reclaim, self.schedule_balance(x, isolate, True), s)

    def low_check(self, x: Ops, s: State) -> State:
        """if (pcpu_nr_empty_pop_pages < PCPU_EMPTY_POP_PAGES_LOW) schedule (1a4d76076cda)."""
        if not self.sw.low_check_schedules:
            return s
        low = self.p.empty_pop_pages_low
        below = (x.lt(s.nr_empty_pop_pages, low) if self.sw.low_check_test == "<"
                 else x.le(s.nr_empty_pop_pages, low))
        return self.schedule_balance(x, s, below)

    def alloc_actions(self, i: int) -> list[Action]:
        p, sw, g = self.p, self.sw, self.g
        ctx = alloc_context(i)
        me = alloc_owner(i)
        whole = sw.alloc_mutex == "whole-call"
        mine = range(i * p.live_per_context, (i + 1) * p.live_per_context)
        step = Events(alloc_step=True)

        def at(pc: AllocPc, mutex: bool = False) -> Callable[[Ops, State], Any]:
            return at_pc(lambda s: s.pc[i], pc, mutex)

        def idle_with_room(x: Ops, s: State) -> Any:
            # outside the allocator, with room to hold one more pointer
            return x.and_(x.eq(s.pc[i], int(AllocPc.IDLE)),
                          x.or_(*[x.not_(s.live_valid[k]) for k in mine]))

        def idle_with_room_locked(x: Ops, s: State) -> Any:
            # 6710e594f71c: a non-atomic call starts with mutex_lock()
            return x.and_(idle_with_room(x, s), x.eq(s.alloc_mutex, MUTEX_FREE))

        def enter(atomic: bool) -> Callable[[Ops, State, Choices], Step]:
            def fn(x: Ops, s: State, ch: Choices) -> Step:
                # pcpu_alloc(): (whole-call: mutex_lock;) pcpu_lock: the scan
                s = upd(s, req_size=store(x, s.req_size, i, ch["size"]),
                        req_align=store(x, s.req_align, i, ch["align"]),
                        req_atomic=store(x, s.req_atomic, i, atomic),
                        req_reserved=store(x, s.req_reserved, i, x.eq(ch["reserved"], 1)))
                if whole and not atomic:
                    s = self.take_mutex(s, me)
                return self.search(x, s, i, ch["chunk"], atomic)
            return fn

        def extend(x: Ops, s: State, ch: Choices) -> Step:
            # pcpu_extend_area_map(): GFP_KERNEL map, then swap under pcpu_lock.
            # 1a4d76076cda holds no lock here: CVE-2016-4794, second half.
            c, new = s.chunk[i], s.new_alloc[i]
            old = select(x, s.map_alloc, c)
            ok = upd(self.set_pc(x, s, i, int(AllocPc.RESTART)),
                     map_alloc=store(x, s.map_alloc, c, x.ite(x.lt(old, new), new, old)))
            failed = self.fail(x, s, i, False, keep_mutex=not sw.extend_fail_unlocks_mutex)
            return True, ite_state(x, x.eq(ch["fail"], 1), failed, ok), step

        def restart(x: Ops, s: State, ch: Choices) -> Step:
            # spin_lock_irqsave(&pcpu_lock); goto restart
            return self.search(x, s, i, ch["chunk"], False)

        def create(x: Ops, s: State, ch: Choices) -> Step:
            # (populate-only: mutex_lock;) if (list_empty(&pcpu_slot[pcpu_nr_slots - 1]))
            # pcpu_create_chunk(); pcpu_lock: relocate, (mutex_unlock,) goto restart
            if not whole:
                s = self.take_mutex(s, me)
            need = self.free_slot_empty(x, s)
            ok, made = self.new_chunk(x, s, ch["fail"], relocate=sw.alloc_create_relocates)
            go = ite_state(x, need, made, s)
            if not whole:
                go = self.release_mutex(go)
            valid, searched, ev = self.search(x, go, i, ch["chunk"], False)
            # 1a4d76076cda: `goto fail` with pcpu_alloc_mutex held; 23cb8981ed92 unlocks
            failed = self.fail(x, s, i, False, keep_mutex=not sw.create_fail_unlocks_mutex)
            if not whole and sw.create_fail_unlocks_mutex:
                failed = self.release_mutex(failed)
            went_on = x.or_(x.not_(need), ok)
            # a choice that changes nothing must be 0, so no run is counted twice
            guard = x.and_(x.ite(went_on, valid, x.eq(ch["chunk"], 0)), x.or_(need, x.eq(ch["fail"], 0)))
            return guard, ite_state(x, went_on, searched, failed), \
                replace(ev, env_fail=x.and_(need, x.not_(ok)))

        def pop_mutex(x: Ops, s: State, ch: Choices) -> Step:
            # area_found: mutex_lock(&pcpu_alloc_mutex), then the first region
            s = self.take_mutex(s, me)
            region = self.unpopulated(x, s, i)
            fail = x.and_(x.not_(x.eq(region, 0)), x.eq(ch["fail"], 1))
            post = ite_state(x, x.eq(region, 0), self.populate_or_unlock(x, s, i),
                             self.populate_region(x, s, i, fail))
            return x.or_(x.not_(x.eq(region, 0)), x.eq(ch["fail"], 0)), post, \
                Events(alloc_step=True, env_fail=fail)

        def populate(x: Ops, s: State, ch: Choices) -> Step:
            # the next unpopulated region of the area
            fail = x.eq(ch["fail"], 1)
            return True, self.populate_region(x, s, i, fail), Events(alloc_step=True, env_fail=fail)

        def counter(x: Ops, s: State, ch: Choices) -> Step:
            counted = x.not_(x.eq(s.chunk[i], self.reserved_or_none()))

            def locked() -> State:
                # pcpu_lock: pcpu_nr_empty_pop_pages -= occ_pages (unless taken
                # with the area already); then the LOW check
                if sw.occ_pages_subtracted == "with-area":
                    return self.finish(x, self.low_check(x, s), i)
                s2 = upd(s, nr_empty_pop_pages=s.nr_empty_pop_pages - x.ite(counted, s.occ[i], 0))
                return self.finish(x, self.low_check(x, s2), i)

            def unlocked() -> State:
                # no lock (1a4d76076cda): load the counter; the reserved chunk skips
                # the update and goes to the LOW check
                load = upd(self.set_pc(x, s, i, int(AllocPc.COUNTER_STORE)),
                           counter_reg=store(x, s.counter_reg, i, s.nr_empty_pop_pages - s.occ[i]))
                return ite_state(x, counted, load, self.finish(x, self.low_check(x, s), i))
            if sw.counter_update == "locked":
                return True, locked(), step
            if sw.counter_update == "unlocked":
                return True, unlocked(), step
            # injected: the atomic path's update moved out of pcpu_lock again
            return True, ite_state(x, s.req_atomic[i], unlocked(), locked()), step

        def counter_store(x: Ops, s: State, ch: Choices) -> Step:
            # no lock: store pcpu_nr_empty_pop_pages - occ_pages; the LOW check
            s2 = upd(s, nr_empty_pop_pages=s.counter_reg[i])
            return True, self.finish(x, self.low_check(x, s2), i), step

        def free(x: Ops, s: State, ch: Choices) -> Step:
            # free_percpu(): pcpu_lock: pcpu_free_area(), the counter, and the
            # balance work when a second chunk becomes fully free
            k = ch["live"]
            valid = select(x, [s.live_valid[j] for j in mine], k)
            c = select(x, [s.live_chunk[j] for j in mine], k)
            off = select(x, [s.live_off[j] for j in mine], k)
            area = area_mask(x, g, off, select(x, [s.live_size[j] for j in mine], k))
            amap = select(x, s.alloc_map, c)
            occ = self.occupied(x, amap, area)
            new_map = amap & x.bnot(area, g.cells)
            start = x.from_bits([x.eq(off, b) for b in range(g.cells)])
            # pcpu_update_empty_pages(): neither the reserved nor an isolated chunk counts
            counted = x.and_(x.not_(x.eq(c, self.reserved_or_none())),
                             x.eq(select(x, s.isolated, c), int(Isolated.NO)))
            s2 = upd(s, alloc_map=store(x, s.alloc_map, c, new_map),
                     bound_map=store(x, s.bound_map, c, select(x, s.bound_map, c) & x.bnot(start, g.cells)),
                     nr_empty_pop_pages=s.nr_empty_pop_pages + (
                         x.ite(counted, occ, 0) if sw.free_counts_pages else 0),
                     live_valid=store(x, s.live_valid, mine[0] + k, False) if isinstance(k, int)
                     else tuple(x.ite(x.eq(k, j - mine[0]), False, v) if j in mine else v
                                for j, v in enumerate(s.live_valid)))
            other_free = x.or_(*[x.and_(x.not_(x.eq(c, j)), self.in_slots(x, s2, j),
                                        fully_free(x, s2.alloc_map[j])) for j in self.normal_chunks()])
            freed_chunk = x.and_(counted, fully_free(x, new_map))
            if sw.free_schedules_balance:
                s2 = self.schedule_balance(x, s2, x.and_(freed_chunk, other_free))
            if sw.partial_depopulation:
                s2 = self.maybe_isolate(x, s2, c, x.not_(freed_chunk))
            return valid, s2, Events()

        kind = {True: "atomic", False: "non-atomic"}
        acts = [Action(f"pcpu_alloc ({kind[a]})", ctx,
                       "pcpu_alloc(): " + ("mutex_lock(&pcpu_alloc_mutex); " if whole and not a else "")
                       + "pcpu_lock: scan pcpu_slot[], pcpu_alloc_area()"
                       + (", occ_pages off the counter" if sw.occ_pages_subtracted == "with-area" else ""),
                       ("size", "align", "reserved", "chunk"),
                       idle_with_room_locked if whole and not a else idle_with_room, enter(a),
                       Kind.ALLOC, a)
                for a in (True, False)]
        acts += [
            Action("pcpu_extend_area_map", ctx, "pcpu_alloc() -> pcpu_extend_area_map(): " +
                   ("pcpu_alloc_mutex held" if whole else "no lock held"),
                   ("fail",), at(AllocPc.EXTEND), extend, Kind.ALLOC_EXTEND),
            Action("pcpu_alloc: restart", ctx, "pcpu_alloc(): pcpu_lock; goto restart: scan",
                   ("chunk",), at(AllocPc.RESTART), restart, Kind.ALLOC_RESTART)]
        if whole:
            acts += [
                Action("pcpu_create_chunk", ctx, "pcpu_alloc() -> pcpu_create_chunk() "
                       "(pcpu_alloc_mutex); pcpu_lock: relocate, goto restart",
                       ("fail", "chunk"), at(AllocPc.CREATE), create, Kind.ALLOC_CREATE),
                Action("pcpu_populate_chunk", ctx, "pcpu_alloc() -> pcpu_populate_chunk() "
                       "(pcpu_alloc_mutex); pcpu_lock: pcpu_chunk_populated()",
                       ("fail",), at(AllocPc.POPULATE), populate, Kind.ALLOC_POPULATE)]
        else:
            acts += [
                Action("pcpu_create_chunk", ctx, "pcpu_alloc(): mutex_lock(&pcpu_alloc_mutex), "
                       "pcpu_create_chunk(); pcpu_lock: relocate, mutex_unlock, goto restart",
                       ("fail", "chunk"), at(AllocPc.CHUNK_MUTEX, mutex=True), create,
                       Kind.ALLOC_CREATE),
                Action("pcpu_populate_chunk", ctx, "pcpu_alloc(): area_found, mutex_lock(&pcpu_alloc_mutex),"
                       " pcpu_populate_chunk(); pcpu_lock: pcpu_chunk_populated()",
                       ("fail",), at(AllocPc.POP_MUTEX, mutex=True), pop_mutex,
                       Kind.ALLOC_POP_MUTEX),
                Action("pcpu_populate_chunk", ctx, "pcpu_alloc() -> pcpu_populate_chunk() "
                       "(pcpu_alloc_mutex); pcpu_lock: pcpu_chunk_populated()",
                       ("fail",), at(AllocPc.POPULATE), populate, Kind.ALLOC_POPULATE)]
        if sw.counter_update == "locked":
            acts.append(Action("pcpu_alloc: counter", ctx,
                               "pcpu_alloc(): pcpu_lock: " + (
                                   "the LOW check" if sw.occ_pages_subtracted == "with-area"
                                   else "pcpu_nr_empty_pop_pages -= occ_pages"),
                               (), at(AllocPc.COUNTER), counter, Kind.ALLOC_COUNTER))
        else:
            how = "no lock" if sw.counter_update == "unlocked" else "no lock if atomic, else pcpu_lock"
            acts += [
                Action("pcpu_alloc: counter load", ctx, f"pcpu_alloc(): {how}: load pcpu_nr_empty_pop_pages",
                       (), at(AllocPc.COUNTER), counter, Kind.ALLOC_COUNTER_LOAD),
                Action("pcpu_alloc: counter store", ctx,
                       "pcpu_alloc(): no lock: store pcpu_nr_empty_pop_pages - occ_pages",
                       (), at(AllocPc.COUNTER_STORE), counter_store, Kind.ALLOC_COUNTER_STORE)]
        acts.append(Action("free_percpu", ctx, "free_percpu(): pcpu_lock: pcpu_free_area(), counter += occ_pages",
                           ("live",), at(AllocPc.IDLE), free, Kind.FREE))
        return acts

    # --- pcpu_balance_workfn() --------------------------------------------------

    def balance_done(self, x: Ops, s: State) -> State:
        """mutex_unlock(&pcpu_alloc_mutex); the work function returns."""
        return upd(self.release_mutex(s), balance_pc=int(BalancePc.IDLE))

    def end_of_run(self, x: Ops, s: State) -> State:
        """After phase 2: f183324133ea adds pcpu_balance_free(true)."""
        if self.sw.partial_depopulation:
            return upd(s, balance_pc=int(BalancePc.FINAL_COLLECT))
        return self.balance_done(x, s)

    def after_phase1(self, x: Ops, s: State) -> State:
        """Where the balance work goes once to_free is empty."""
        if self.sw.map_extension == "balance-list":
            return upd(s, balance_pc=int(BalancePc.EXT_PICK))
        return self.phase2(x, s)

    def phase2(self, x: Ops, s: State) -> State:
        if self.sw.partial_depopulation:
            return upd(s, balance_pc=int(BalancePc.RECLAIM))
        return self.populate_phase(x, s)

    def populate_phase(self, x: Ops, s: State) -> State:
        if self.sw.balance_work == "free-and-populate":
            return upd(s, balance_pc=int(BalancePc.RETRY_POP))
        return self.balance_done(x, s)

    def balance_actions(self) -> list[Action]:
        p, g, sw = self.p, self.g, self.sw
        ctx = BALANCE_WORK
        normal = self.normal_chunks()
        none: Events = Events()

        def at(pc: BalancePc, mutex: bool = False) -> Callable[[Ops, State], Any]:
            return at_pc(lambda s: s.balance_pc, pc, mutex)

        def pending(x: Ops, s: State) -> Any:
            return x.and_(s.balance_pending, x.eq(s.balance_pc, int(BalancePc.IDLE)))

        def start(x: Ops, s: State, ch: Choices) -> Step:
            # the system workqueue runs pcpu_balance_work
            return True, upd(s, balance_pending=False, balance_pc=int(BalancePc.MUTEX)), none

        def collect(x: Ops, s: State, ch: Choices) -> Step:
            # mutex_lock(&pcpu_alloc_mutex); pcpu_lock: every chunk of the free
            # slot but the list head (the `chunk` choice) goes to to_free
            free = {c: x.and_(self.in_slots(x, s, c), fully_free(x, s.alloc_map[c])) for c in normal}
            spare = ch["chunk"]
            any_free = x.or_(*free.values())
            valid = x.ite(any_free, x.or_(*[x.and_(x.eq(spare, c), f) for c, f in free.items()]),
                          x.eq(spare, 0))
            s2 = self.take_mutex(s, self.bal)
            moved = {c: x.and_(f, x.not_(x.eq(spare, c))) for c, f in free.items()}
            if sw.balance_spares_free == 0:
                valid, moved = x.eq(spare, 0), free
            for c, mv in moved.items():
                s2 = upd(s2, to_free=store(x, s2.to_free, c, mv),
                         linked=store(x, s2.linked, c, x.and_(s2.linked[c], x.not_(mv))))
                if sw.map_extension == "balance-list":
                    # 4f996e234dad: list_del_init(&chunk->map_extend_list)
                    s2 = upd(s2, map_extend_pending=store(
                        x, s2.map_extend_pending, c, x.and_(s2.map_extend_pending[c], x.not_(mv))))
            post = ite_state(x, x.or_(*moved.values()),
                             upd(s2, balance_pc=int(BalancePc.DESTROY)), self.after_phase1(x, s2))
            return valid, post, none

        def destroy_one(x: Ops, s: State, ch: Choices, then: State) -> Step:
            # pcpu_depopulate_chunk() per populated region, pcpu_lock:
            # pcpu_chunk_depopulated(); then pcpu_destroy_chunk() (pcpu_alloc_mutex)
            c = ch["chunk"]
            pop = select(x, s.populated, c)
            s2 = upd(s, nr_empty_pop_pages=s.nr_empty_pop_pages - x.popcount(pop, g.pages),
                     populated=store(x, s.populated, c, 0), live=store(x, s.live, c, False),
                     to_free=store(x, s.to_free, c, False))
            more = x.or_(*[s2.to_free[j] for j in normal])
            return select(x, s.to_free, c), ite_state(x, more, s2, then(x, s2)), none

        def destroy(x: Ops, s: State, ch: Choices) -> Step:
            return destroy_one(x, s, ch, self.after_phase1)

        def final_collect(x: Ops, s: State, ch: Choices) -> Step:
            # f183324133ea, pcpu_balance_free(true): every chunk of the free slot
            # but the list head (the `chunk` choice) that has no populated page
            free = {c: x.and_(self.in_slots(x, s, c), fully_free(x, s.alloc_map[c])) for c in normal}
            spare = ch["chunk"]
            valid = x.ite(x.or_(*free.values()),
                          x.or_(*[x.and_(x.eq(spare, c), f) for c, f in free.items()]),
                          x.eq(spare, 0))
            moved = {c: x.and_(f, x.not_(x.eq(spare, c)), x.eq(s.populated[c], 0))
                     for c, f in free.items()}
            s2 = s
            for c, mv in moved.items():
                s2 = upd(s2, to_free=store(x, s2.to_free, c, mv),
                         linked=store(x, s2.linked, c, x.and_(s2.linked[c], x.not_(mv))))
            post = ite_state(x, x.or_(*moved.values()),
                             upd(s2, balance_pc=int(BalancePc.FINAL_DESTROY)),
                             self.balance_done(x, s2))
            return valid, post, none

        def final_destroy(x: Ops, s: State, ch: Choices) -> Step:
            return destroy_one(x, s, ch, self.balance_done)

        def ext_pick(x: Ops, s: State, ch: Choices) -> Step:
            # 4f996e234dad: pcpu_lock: take a chunk off pcpu_map_extend_chunks,
            # new_alloc = pcpu_need_to_extend(chunk, false); list empty: go on
            c = ch["chunk"]
            listed = x.or_(*[s.map_extend_pending[j] for j in normal])
            valid = x.ite(listed, select(x, s.map_extend_pending, c), x.eq(c, 0))
            new = need_to_extend(x, g, s, c, False)
            taken = upd(s, map_extend_pending=store(x, s.map_extend_pending, c, False),
                        balance_chunk=c, balance_new_alloc=new,
                        balance_pc=x.ite(x.eq(new, 0), int(BalancePc.EXT_PICK), int(BalancePc.EXT)))
            return valid, ite_state(x, listed, taken, self.phase2(x, s)), none

        def ext(x: Ops, s: State, ch: Choices) -> Step:
            # 4f996e234dad: pcpu_extend_area_map(chunk, new_alloc) (pcpu_alloc_mutex)
            c, new = s.balance_chunk, s.balance_new_alloc
            old = select(x, s.map_alloc, c)
            grown = x.and_(x.eq(ch["fail"], 0), x.lt(old, new))
            return True, upd(s, map_alloc=store(x, s.map_alloc, c, x.ite(grown, new, old)),
                             balance_pc=int(BalancePc.EXT_PICK)), none

        def retry_pop(x: Ops, s: State, ch: Choices) -> Step:
            # retry_pop: nr_to_pop = HIGH after an atomic failure (flag cleared,
            # "best effort"), else clamp(HIGH - pcpu_nr_empty_pop_pages, 0, HIGH); no lock
            high = p.empty_pop_pages_high
            want = high - s.nr_empty_pop_pages
            clamped = x.ite(x.lt(want, 0), 0, x.ite(x.lt(high, want), high, want))
            nr = x.ite(s.pcpu_atomic_alloc_failed, high, clamped)
            s2 = upd(s, nr_to_pop=nr, pcpu_atomic_alloc_failed=False,
                     balance_slot=g.page_slot + sw.populate_slot_offset,
                     balance_pc=int(BalancePc.PICK))
            return True, ite_state(x, x.eq(nr, 0), self.end_of_run(x, s2), s2), none

        def pick(x: Ops, s: State, ch: Choices) -> Step:
            # for (slot = pcpu_size_to_slot(PAGE_SIZE); ...): pcpu_lock: the first
            # chunk of the slot with unpopulated pages; none left: create one
            c = ch["chunk"]
            slots = {j: chunk_slot(x, g, s.alloc_map[j]) for j in normal}
            cands = {j: x.and_(self.in_slots(x, s, j), x.not_(x.eq(s.populated[j], full(g.pages))),
                               x.le(s.balance_slot, slots[j])) for j in normal}
            found, valid = self.pick(x, cands, slots, c)
            chosen = upd(s, balance_chunk=c, balance_pc=int(BalancePc.POP),
                         balance_slot=select(x, [slots.get(j, 0) for j in range(p.nr_chunks)], c) + 1)
            return valid, ite_state(x, found, chosen, upd(s, balance_pc=int(BalancePc.CREATE))), none

        def populate(x: Ops, s: State, ch: Choices) -> Step:
            # pcpu_populate_chunk(chunk, rs, rs + min(re - rs, nr_to_pop)); pcpu_lock:
            # pcpu_chunk_populated().  Failure: nr_to_pop = 0
            c = s.balance_chunk
            pop = select(x, s.populated, c)
            bits = first_n_bits(x, g, first_run(x, g, x.bnot(pop, g.pages)), s.nr_to_pop)
            nr = x.popcount(bits, g.pages)
            fail = x.eq(ch["fail"], 1)
            ok = upd(s, populated=store(x, s.populated, c, pop | bits),
                     nr_empty_pop_pages=s.nr_empty_pop_pages + nr, nr_to_pop=s.nr_to_pop - nr)
            s2 = ite_state(x, fail, upd(s, nr_to_pop=0), ok)
            more = x.not_(x.eq(select(x, s2.populated, c), full(g.pages)))
            post = ite_state(x, x.eq(s2.nr_to_pop, 0), self.end_of_run(x, s2),
                             ite_state(x, more, s2, upd(s2, balance_pc=int(BalancePc.PICK))))
            return True, post, Events(env_fail=fail)

        def reclaim(x: Ops, s: State, ch: Choices) -> Step:
            # f183324133ea, pcpu_reclaim_populated(), for the next chunk on
            # pcpu_to_depopulate_slot: below HIGH, reintegrate it at once;
            # else depopulate its empty populated pages (pcpu_depopulate_chunk,
            # pcpu_chunk_depopulated: not counted, it is isolated), then
            # reintegrate it if fully free, else sideline it.  None left: phase 2
            c = ch["chunk"]
            listed = x.or_(*[x.eq(s.isolated[j], int(Isolated.TO_DEPOPULATE)) for j in normal])
            valid = x.ite(listed, x.eq(select(x, s.isolated, c), int(Isolated.TO_DEPOPULATE)),
                          x.eq(c, 0))
            amap, pop = select(x, s.alloc_map, c), select(x, s.populated, c)
            low = x.lt(s.nr_empty_pop_pages, p.empty_pop_pages_high)
            depop = x.ite(low, 0, empty_pages(x, g, amap) & pop)
            pop2 = pop & x.bnot(depop, g.pages)
            back = x.or_(low, fully_free(x, amap))
            done = upd(s, populated=store(x, s.populated, c, pop2),
                       isolated=store(x, s.isolated, c,
                                      x.ite(back, int(Isolated.NO), int(Isolated.SIDELINED))),
                       nr_empty_pop_pages=s.nr_empty_pop_pages
                       + x.ite(back, nr_empty_pop(x, g, amap, pop2), 0))
            return valid, ite_state(x, listed, done, self.populate_phase(x, s)), none

        def create(x: Ops, s: State, ch: Choices) -> Step:
            # ran out of chunks to populate: pcpu_create_chunk(); pcpu_lock:
            # relocate; goto retry_pop.  Failure: mutex_unlock and return
            ok, made = self.new_chunk(x, s, ch["fail"])
            post = ite_state(x, ok, upd(made, balance_pc=int(BalancePc.RETRY_POP)),
                             self.end_of_run(x, s))
            return True, post, Events(env_fail=x.not_(ok))

        acts = [
            Action("pcpu_balance_workfn", ctx, "workqueue: pcpu_balance_work starts", (), pending, start,
                   Kind.BALANCE_START),
            Action("pcpu_balance_workfn: collect", ctx,
                   "mutex_lock(&pcpu_alloc_mutex); pcpu_lock: free chunks but the first to to_free",
                   ("chunk",), at(BalancePc.MUTEX, mutex=True), collect, Kind.BALANCE_COLLECT),
            Action("pcpu_destroy_chunk", ctx,
                   "phase 1: pcpu_depopulate_chunk(), pcpu_chunk_depopulated(), pcpu_destroy_chunk()",
                   ("chunk",), at(BalancePc.DESTROY), destroy, Kind.BALANCE_DESTROY)]
        if sw.map_extension == "balance-list":
            acts += [
                Action("pcpu_balance_workfn: map extend pick", ctx,
                       "pcpu_lock: list_del_init() off pcpu_map_extend_chunks, pcpu_need_to_extend()",
                       ("chunk",), at(BalancePc.EXT_PICK), ext_pick, Kind.BALANCE_MAP_EXTEND_PICK),
                Action("pcpu_extend_area_map", ctx,
                       "pcpu_balance_workfn() -> pcpu_extend_area_map() (pcpu_alloc_mutex)",
                       ("fail",), at(BalancePc.EXT), ext, Kind.BALANCE_MAP_EXTEND)]
        if sw.partial_depopulation:
            acts += [
                Action("pcpu_balance_free(true): collect", ctx,
                       "f183324133ea: pcpu_lock: free chunks with no populated page, but the "
                       "first, to to_free", ("chunk",), at(BalancePc.FINAL_COLLECT), final_collect,
                       Kind.BALANCE_FREE_EMPTY),
                Action("pcpu_destroy_chunk", ctx, "pcpu_balance_free(true): pcpu_destroy_chunk()",
                       ("chunk",), at(BalancePc.FINAL_DESTROY), final_destroy,
                       Kind.BALANCE_FREE_EMPTY_DESTROY)]
            acts.append(Action("pcpu_reclaim_populated", ctx,
                               "f183324133ea: pcpu_lock: the next chunk on pcpu_to_depopulate_slot: "
                               "pcpu_depopulate_chunk() its empty pages, reintegrate or sideline",
                               ("chunk",), at(BalancePc.RECLAIM), reclaim, Kind.BALANCE_RECLAIM))
        if sw.balance_work == "free-and-populate":
            acts += [
                Action("pcpu_balance_workfn: retry_pop", ctx,
                       "retry_pop: nr_to_pop from pcpu_atomic_alloc_failed or the counter (no lock)",
                       (), at(BalancePc.RETRY_POP), retry_pop, Kind.BALANCE_RETRY_POP),
                Action("pcpu_balance_workfn: pick chunk", ctx,
                       "pcpu_lock: first chunk with unpopulated pages from the PAGE_SIZE slot up",
                       ("chunk",), at(BalancePc.PICK), pick, Kind.BALANCE_PICK),
                Action("pcpu_populate_chunk", ctx, "phase 2: pcpu_populate_chunk() (pcpu_alloc_mutex); "
                       "pcpu_lock: pcpu_chunk_populated()", ("fail",), at(BalancePc.POP), populate,
                       Kind.BALANCE_POPULATE),
                Action("pcpu_create_chunk", ctx,
                       "phase 2: pcpu_create_chunk(); pcpu_lock: pcpu_chunk_relocate()",
                       ("fail",), at(BalancePc.CREATE), create, Kind.BALANCE_CREATE)]
        return acts

    # --- pcpu_map_extend_workfn() (1a4d76076cda) --------------------------------

    def map_extend_actions(self) -> list[Action]:
        g = self.g
        acts = []
        for c in self.normal_chunks():
            ctx = map_extend_work(c)

            def queued(x: Ops, s: State, c: int = c) -> Any:
                return x.and_(s.map_extend_pending[c], x.not_(s.ext_running[c]))

            def start(x: Ops, s: State, ch: Choices, c: int = c) -> Step:
                # the workqueue runs chunk->map_extend_work; pcpu_lock:
                # new_alloc = pcpu_need_to_extend(chunk, false).  No reference
                # on the chunk, no pcpu_alloc_mutex: CVE-2016-4794, first half.
                new = need_to_extend(x, g, s, c, False)
                return True, upd(s, map_extend_pending=store(x, s.map_extend_pending, c, False),
                                 ext_running=store(x, s.ext_running, c, x.not_(x.eq(new, 0))),
                                 ext_new_alloc=store(x, s.ext_new_alloc, c, new)), Events()

            def running(x: Ops, s: State, c: int = c) -> Any:
                return s.ext_running[c]

            def extend(x: Ops, s: State, ch: Choices, c: int = c) -> Step:
                # pcpu_extend_area_map(chunk, new_alloc): no lock, then pcpu_lock
                old, new = s.map_alloc[c], s.ext_new_alloc[c]
                grown = x.and_(x.eq(ch["fail"], 0), x.lt(old, new))
                return True, upd(s, map_alloc=store(x, s.map_alloc, c, x.ite(grown, new, old)),
                                 ext_running=store(x, s.ext_running, c, False)), Events()

            acts += [
                Action("pcpu_map_extend_workfn", ctx,
                       "pcpu_map_extend_workfn(): pcpu_lock: pcpu_need_to_extend()", (), queued, start,
                       Kind.MAP_EXTEND_START),
                Action("pcpu_extend_area_map", ctx,
                       "pcpu_map_extend_workfn() -> pcpu_extend_area_map(): no mutex",
                       ("fail",), running, extend, Kind.MAP_EXTEND)]
        return acts

    def init_actions(self) -> list[Action]:
        def disabled(x: Ops, s: State) -> Any:
            return x.not_(s.pcpu_async_enabled)

        def enable(x: Ops, s: State, ch: Choices) -> Step:
            # subsys_initcall(percpu_enable_async)
            return True, upd(s, pcpu_async_enabled=True), Events()
        if not self.sw.async_gate:
            return []
        return [Action("percpu_enable_async", INIT, "percpu_enable_async(): subsys_initcall",
                       (), disabled, enable, Kind.ENABLE_ASYNC)]

    def actions(self) -> list[Action]:
        acts = self.init_actions()
        for i in range(self.p.nr_contexts):
            acts += self.alloc_actions(i)
        acts += self.balance_actions()
        if self.sw.map_extension == "work-item":
            acts += self.map_extend_actions()
        return acts
