"""pcpu_alloc(): the allocating contexts' steps (its population of the
area: populate.py)."""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import Any

from percpu_mc.model.actions.common import Action, Choices, Events, Step
from percpu_mc.model.actions.populate import PcpuPopulate
from percpu_mc.model.control import MUTEX_FREE, AllocPc, Isolated, alloc_owner
from percpu_mc.model.geometry import (
    area_mask,
    count_occupied_pages,
    fit_offsets,
    max_run_fits,
    need_to_extend,
)
from percpu_mc.model.ops import Ops, Val, select, store
from percpu_mc.model.state import State, ite_state, upd
from percpu_mc.model.vocabulary import Kind, alloc_context


class PcpuAlloc(PcpuPopulate):
    """The steps of pcpu_alloc() and free_percpu(), for allocating context i."""

    def search(self, x: Ops, s: State, i: int, c: Val, atomic: bool) -> Step:
        """restart: the pcpu_lock section of pcpu_alloc() that scans for an
        area: the reserved chunk, or pcpu_slot[] from the request's slot up."""
        g, p = self.g, self.p
        size, align, memcg = s.req_size[i], s.req_align[i], s.req_memcg[i]
        slots = self.scan_keys(x, s)
        cands = {
            j: self.candidate(x, s, j, size, align, atomic, memcg) for j in self.normal_chunks()
        }
        found, valid = self.pick(x, cands, slots, c)
        ext = x.ite(atomic, 0, need_to_extend(x, g, s, c, False))
        if p.has_reserved:
            # the reserved path: only pcpu_reserved_chunk; the choice is unused
            r = p.reserved_index
            is_r = s.req_reserved[i]
            r_fit = x.not_(
                x.eq(fit_offsets(x, g, s.alloc_map[r], s.populated[r], size, align, False), 0)
            )
            valid = x.ite(is_r, x.eq(c, 0), valid)
            found = x.ite(is_r, r_fit, found)
            c = x.ite(is_r, r, c)
            ext = x.ite(is_r, 0, ext)  # its map extension is not modelled
        else:
            is_r = False
        # found, need to extend first: drop pcpu_lock and extend
        to_extend = upd(
            self.set_pc(x, s, i, int(AllocPc.EXTEND)),
            chunk=store(x, s.chunk, i, c),
            new_alloc=store(x, s.new_alloc, i, ext),
        )
        if atomic:
            # every chunk the scan reaches with size <= contig_hint gets
            # pcpu_need_to_extend(chunk, true), which queues its map extension,
            # whether the scan then skips it (the margin, the populated-only
            # fit) or allocates from it: the fitting chunks of lower slots,
            # and those of the chosen chunk's slot that it passes over (list
            # order is a choice: the non-candidates are taken to come first)
            slot_c = select(x, [slots.get(j, 0) for j in range(p.nr_chunks)], c)
            for j in self.normal_chunks():
                passed = x.and_(
                    self.listed(x, s, j, memcg),
                    max_run_fits(x, g, s.alloc_map[j], size),
                    x.not_(cands[j]),
                    x.le(slots[j], slot_c),
                )
                s = self.schedule_map_extend(x, s, j, x.and_(found, x.not_(is_r), passed))
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
        occ = count_occupied_pages(x, self.g, new_map, area, pop)
        s2 = upd(
            s,
            alloc_map=store(x, s.alloc_map, c, new_map),
            bound_map=store(x, s.bound_map, c, bound),
            chunk=store(x, s.chunk, i, c),
            off=store(x, s.off, i, off),
            occ=store(x, s.occ, i, occ),
        )
        if self.sw.occ_pages_subtracted != "after-population":
            # the pages it makes non-empty (with-area: the populated ones;
            # every-page: all, the population adds back the unpopulated)
            counted = x.not_(x.eq(c, self.reserved_or_none()))
            s2 = self.update_empty_pages(x, s2, c, -x.ite(counted, occ, 0))
        if self.sw.partial_depopulation:
            # f183324133ea: a sidelined chunk is scanned; pcpu_update_empty_pages()
            # leaves the counter alone for it, and pcpu_reintegrate_chunk() then
            # adds its chunk->nr_empty_pop_pages (after this area) back
            sidelined = x.eq(select(x, s.isolated, c), int(Isolated.SIDELINED))
            before = self.chunk_nr_empty_pop_pages(x, s, c)
            s2 = upd(
                s2,
                nr_empty_pop_pages=s2.nr_empty_pop_pages + x.ite(sidelined, before, 0),
                isolated=store(
                    x, s2.isolated, c, x.ite(sidelined, int(Isolated.NO), select(x, s.isolated, c))
                ),
            )
        if self.sw.low_check == "area-found":
            # 6.13: area_found: the LOW check, pcpu_lock still held
            s2 = self.low_check(x, s2, s.req_memcg[i])
        if atomic:
            s2 = self.schedule_map_extend(x, s2, c, x.not_(x.eq(c, self.reserved_or_none())))
            return self.set_pc(x, s2, i, int(AllocPc.COUNTER))
        if self.sw.alloc_mutex == "populate-only":
            return self.set_pc(x, s2, i, int(AllocPc.POP_MUTEX))
        return self.populate_or_unlock(x, s2, i)

    def no_area(self, x: Ops, s: State, i: int, atomic: bool, is_r: Any) -> State:
        """No area: an atomic caller fails; a non-atomic one goes to create a chunk."""
        if atomic:
            g = self.g
            size, memcg = s.req_size[i], s.req_memcg[i]
            for j in self.normal_chunks():
                visited = x.and_(
                    self.listed(x, s, j, memcg), max_run_fits(x, g, s.alloc_map[j], size)
                )
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
            s = upd(
                s, alloc_mutex=x.ite(x.eq(s.alloc_mutex, alloc_owner(i)), MUTEX_FREE, s.alloc_mutex)
            )
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
            s = upd(
                s,
                live_valid=store(x, s.live_valid, k, x.or_(s.live_valid[k], put)),
                live_chunk=store(x, s.live_chunk, k, x.ite(put, s.chunk[i], s.live_chunk[k])),
                live_off=store(x, s.live_off, k, x.ite(put, s.off[i], s.live_off[k])),
                live_size=store(x, s.live_size, k, x.ite(put, s.req_size[i], s.live_size[k])),
            )
        return self.set_pc(x, s, i, int(AllocPc.IDLE))

    def low_check(self, x: Ops, s: State, memcg: Any = False) -> State:
        """if (pcpu_nr_empty_pop_pages < PCPU_EMPTY_POP_PAGES_LOW) schedule
        (1a4d76076cda); from 0760fa3d8f7f the counter of the request's type."""
        if not self.sw.low_check_schedules:
            return s
        low = self.p.empty_pop_pages_low
        nr = self.type_nr_empty_pop_pages(x, s, memcg)
        below = x.lt(nr, low) if self.sw.low_check_test == "<" else x.le(nr, low)
        return self.schedule_balance(x, s, below)

    # --- the actions of context i: guard first, then effect ------------------

    def idle_with_room(self, i: int, x: Ops, s: State) -> Any:
        """Outside the allocator, with room to hold one more pointer."""
        lp = self.p.live_per_context
        room = [x.not_(s.live_valid[k]) for k in range(i * lp, (i + 1) * lp)]
        return x.and_(x.eq(s.pc[i], int(AllocPc.IDLE)), x.or_(*room))

    def idle_with_room_locked(self, i: int, x: Ops, s: State) -> Any:
        """6710e594f71c: a non-atomic call starts with mutex_lock()."""
        return x.and_(self.idle_with_room(i, x, s), x.eq(s.alloc_mutex, MUTEX_FREE))

    def alloc_enter(self, i: int, atomic: bool, x: Ops, s: State, ch: Choices) -> Step:
        # pcpu_alloc(): (whole-call: mutex_lock(&pcpu_alloc_mutex);) pcpu_lock: the scan
        s = upd(
            s,
            req_size=store(x, s.req_size, i, ch["size"]),
            req_align=store(x, s.req_align, i, ch["align"]),
            req_atomic=store(x, s.req_atomic, i, atomic),
            req_reserved=store(x, s.req_reserved, i, x.eq(ch["reserved"], 1)),
            req_memcg=store(x, s.req_memcg, i, x.eq(ch["memcg"], 1)),
        )
        if self.sw.alloc_mutex == "whole-call" and not atomic:
            s = self.take_mutex(s, alloc_owner(i))
        valid, post, evs = self.search(x, s, i, ch["chunk"], atomic)
        # a reserved request is served from pcpu_reserved_chunk: the model's are root
        return x.and_(valid, x.or_(x.eq(ch["reserved"], 0), x.eq(ch["memcg"], 0))), post, evs

    def alloc_extend(self, i: int, x: Ops, s: State, ch: Choices) -> Step:
        # pcpu_extend_area_map(): GFP_KERNEL map, then swap under pcpu_lock.
        # 1a4d76076cda holds no lock here: CVE-2016-4794, second half.
        ok = self.extend_area_map(
            x, self.set_pc(x, s, i, int(AllocPc.RESTART)), s.chunk[i], s.new_alloc[i], True
        )
        failed = self.fail(x, s, i, False, keep_mutex=not self.sw.extend_fail_unlocks_mutex)
        return True, ite_state(x, x.eq(ch["fail"], 1), failed, ok), Events(alloc_step=True)

    def alloc_restart(self, i: int, x: Ops, s: State, ch: Choices) -> Step:
        # pcpu_alloc(): spin_lock_irqsave(&pcpu_lock); goto restart
        return self.search(x, s, i, ch["chunk"], False)

    def alloc_create(self, i: int, x: Ops, s: State, ch: Choices) -> Step:
        # pcpu_alloc(): (populate-only: mutex_lock;) if (list_empty(&pcpu_slot[pcpu_nr_slots - 1]))
        # pcpu_create_chunk() (pcpu_alloc_mutex); pcpu_lock: relocate, (mutex_unlock,) goto restart
        sw = self.sw
        whole = sw.alloc_mutex == "whole-call"
        if not whole:
            s = self.take_mutex(s, alloc_owner(i))
        memcg = s.req_memcg[i]
        need = self.free_slot_empty(x, s, memcg)
        # the guard: the restart's scan must accept the chunk choice in the
        # state after the creation, so that state is built first
        ok, made = self.new_chunk(x, s, ch["fail"], relocate=sw.alloc_create_relocates, memcg=memcg)
        go = ite_state(x, need, made, s)
        if not whole:
            go = self.release_mutex(go)
        valid, searched, ev = self.search(x, go, i, ch["chunk"], False)
        went_on = x.or_(x.not_(need), ok)
        # a choice that changes nothing must be 0, so no run is counted twice
        guard = x.and_(
            x.ite(went_on, valid, x.eq(ch["chunk"], 0)), x.or_(need, x.eq(ch["fail"], 0))
        )
        # 1a4d76076cda: `goto fail` with pcpu_alloc_mutex held; 23cb8981ed92 unlocks
        failed = self.fail(x, s, i, False, keep_mutex=not sw.create_fail_unlocks_mutex)
        if not whole and sw.create_fail_unlocks_mutex:
            failed = self.release_mutex(failed)
        return (
            guard,
            ite_state(x, went_on, searched, failed),
            replace(ev, env_fail=x.and_(need, x.not_(ok))),
        )

    def alloc_counter_locked(self, i: int, x: Ops, s: State) -> State:
        """pcpu_lock: pcpu_nr_empty_pop_pages -= occ_pages (unless taken with
        the area already); then the LOW check."""
        if self.sw.low_check == "area-found":
            # 6.13: the check ran at area_found; the area is returned
            return self.finish(x, s, i)
        if self.sw.occ_pages_subtracted != "after-population":
            return self.finish(x, self.low_check(x, s, s.req_memcg[i]), i)
        counted = x.not_(x.eq(s.chunk[i], self.reserved_or_none()))
        s2 = upd(s, nr_empty_pop_pages=s.nr_empty_pop_pages - x.ite(counted, s.occ[i], 0))
        return self.finish(x, self.low_check(x, s2, s.req_memcg[i]), i)

    def alloc_counter_unlocked(self, i: int, x: Ops, s: State) -> State:
        """No lock (1a4d76076cda): load the counter; the reserved chunk skips
        the update and goes to the LOW check."""
        counted = x.not_(x.eq(s.chunk[i], self.reserved_or_none()))
        load = upd(
            self.set_pc(x, s, i, int(AllocPc.COUNTER_STORE)),
            counter_reg=store(x, s.counter_reg, i, s.nr_empty_pop_pages - s.occ[i]),
        )
        return ite_state(x, counted, load, self.finish(x, self.low_check(x, s, s.req_memcg[i]), i))

    def alloc_counter(self, i: int, x: Ops, s: State, ch: Choices) -> Step:
        # pcpu_alloc(): the pcpu_nr_empty_pop_pages update (pcpu_lock, or none: 1a4d76076cda)
        step = Events(alloc_step=True)
        if self.sw.counter_update == "locked":
            return True, self.alloc_counter_locked(i, x, s), step
        if self.sw.counter_update == "unlocked":
            return True, self.alloc_counter_unlocked(i, x, s), step
        # injected: the atomic path's update moved out of pcpu_lock again
        post = ite_state(
            x,
            s.req_atomic[i],
            self.alloc_counter_unlocked(i, x, s),
            self.alloc_counter_locked(i, x, s),
        )
        return True, post, step

    def alloc_counter_store(self, i: int, x: Ops, s: State, ch: Choices) -> Step:
        # pcpu_alloc(), no lock: store pcpu_nr_empty_pop_pages - occ_pages; the LOW check
        s2 = upd(s, nr_empty_pop_pages=s.counter_reg[i])
        return (
            True,
            self.finish(x, self.low_check(x, s2, s.req_memcg[i]), i),
            Events(alloc_step=True),
        )

    def alloc_actions(self, i: int) -> list[Action]:
        sw = self.sw
        ctx = alloc_context(i)
        whole = sw.alloc_mutex == "whole-call"
        kind = {True: "atomic", False: "non-atomic"}
        acts = [
            Action(
                name=f"pcpu_alloc ({kind[a]})",
                context=ctx,
                kernel="pcpu_alloc(): "
                + ("mutex_lock(&pcpu_alloc_mutex); " if whole and not a else "")
                + "pcpu_lock: scan pcpu_slot[], pcpu_alloc_area()"
                + (
                    ", occ_pages off the counter"
                    if sw.occ_pages_subtracted != "after-population"
                    else ""
                )
                + ("; area_found: the LOW check" if sw.low_check == "area-found" else ""),
                choices=("size", "align", "reserved", "memcg", "chunk"),
                at=partial(
                    self.idle_with_room_locked if whole and not a else self.idle_with_room, i
                ),
                fn=partial(self.alloc_enter, i, a),
                kind=Kind.ALLOC,
                atomic=a,
            )
            for a in (True, False)
        ]
        acts += [
            Action(
                name="pcpu_extend_area_map",
                context=ctx,
                kernel="pcpu_alloc() -> pcpu_extend_area_map(): "
                + ("pcpu_alloc_mutex held" if whole else "no lock held"),
                choices=("fail",),
                at=self.alloc_at(i, AllocPc.EXTEND),
                fn=partial(self.alloc_extend, i),
                kind=Kind.ALLOC_EXTEND,
            ),
            Action(
                name="pcpu_alloc: restart",
                context=ctx,
                kernel="pcpu_alloc(): pcpu_lock; goto restart: scan",
                choices=("chunk",),
                at=self.alloc_at(i, AllocPc.RESTART),
                fn=partial(self.alloc_restart, i),
                kind=Kind.ALLOC_RESTART,
            ),
        ]
        acts.append(
            Action(
                name="pcpu_create_chunk",
                context=ctx,
                kernel="pcpu_alloc() -> pcpu_create_chunk() "
                "(pcpu_alloc_mutex); pcpu_lock: relocate, goto restart"
                if whole
                else "pcpu_alloc(): mutex_lock(&pcpu_alloc_mutex), "
                "pcpu_create_chunk(); pcpu_lock: relocate, mutex_unlock, goto restart",
                choices=("fail", "chunk"),
                at=self.alloc_at(i, AllocPc.CREATE)
                if whole
                else self.alloc_at(i, AllocPc.CHUNK_MUTEX, mutex=True),
                fn=partial(self.alloc_create, i),
                kind=Kind.ALLOC_CREATE,
            )
        )
        acts += self.populate_actions(i)
        if sw.counter_update == "locked":
            acts.append(
                Action(
                    name="pcpu_alloc: counter",
                    context=ctx,
                    kernel="pcpu_alloc(): return the area (6.13: no lock, the LOW check ran "
                    "at area_found)"
                    if sw.low_check == "area-found"
                    else "pcpu_alloc(): pcpu_lock: "
                    + (
                        "the LOW check"
                        if sw.occ_pages_subtracted != "after-population"
                        else "pcpu_nr_empty_pop_pages -= occ_pages"
                    ),
                    choices=(),
                    at=self.alloc_at(i, AllocPc.COUNTER),
                    fn=partial(self.alloc_counter, i),
                    kind=Kind.ALLOC_COUNTER,
                )
            )
        else:
            how = (
                "no lock"
                if sw.counter_update == "unlocked"
                else "no lock if atomic, else pcpu_lock"
            )
            acts += [
                Action(
                    name="pcpu_alloc: counter load",
                    context=ctx,
                    kernel=f"pcpu_alloc(): {how}: load pcpu_nr_empty_pop_pages",
                    choices=(),
                    at=self.alloc_at(i, AllocPc.COUNTER),
                    fn=partial(self.alloc_counter, i),
                    kind=Kind.ALLOC_COUNTER_LOAD,
                ),
                Action(
                    name="pcpu_alloc: counter store",
                    context=ctx,
                    kernel="pcpu_alloc(): no lock: store pcpu_nr_empty_pop_pages - occ_pages",
                    choices=(),
                    at=self.alloc_at(i, AllocPc.COUNTER_STORE),
                    fn=partial(self.alloc_counter_store, i),
                    kind=Kind.ALLOC_COUNTER_STORE,
                ),
            ]
        return acts
